// Command vexen-image writes vexen-auth's container image as an OCI image layout,
// without a Docker daemon (package image). `make image` runs it after `make release`.
//
//	go run ./cmd/vexen-image --dist ../dist --version v1.2.3 --commit abc… --out ../dist/image
//
// Load or push the layout with any OCI tool, e.g. `crane push dist/image REF`,
// `skopeo copy oci:dist/image docker://REF`, `podman load -i …` (after archiving).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/deploy/image"
)

func main() {
	var o image.Options
	var out, arches string
	flag.StringVar(&o.Dist, "dist", "../dist", "directory with the release binaries (PROGRAM-linux-ARCH)")
	flag.StringVar(&out, "out", "../dist/image", "OCI layout directory to write (replaced)")
	flag.StringVar(&arches, "arch", "amd64,arm64", "comma-separated GOARCH list")
	flag.StringVar(&o.CACerts, "ca-certs", image.CACerts, "CA bundle to put in the image")
	flag.StringVar(&o.Version, "version", "dev", "version label")
	flag.StringVar(&o.Commit, "commit", "unknown", "revision label")
	flag.Parse()
	o.Arches = strings.Split(arches, ",")
	// SOURCE_DATE_EPOCH (reproducible-builds.org) sets the creation time; default: the epoch.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vexen-image: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		o.Created = time.Unix(sec, 0)
	}
	digest, err := image.Write(out, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vexen-image:", err)
		os.Exit(1)
	}
	fmt.Printf("vexen-image: %s written to %s\n", digest, out)
}
