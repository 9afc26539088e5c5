// Command dashboard-gen writes vexen-auth's Grafana dashboard (package dashboard).
//
//	go run ./cmd/dashboard-gen [-o grafana/vexen-auth.json]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vexen/vexen-auth/deploy/dashboard"
)

func main() {
	out := flag.String("o", "grafana/vexen-auth.json", "file to write")
	flag.Parse()
	b, err := dashboard.JSON()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard-gen:", err)
		os.Exit(1)
	}
}
