package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// bins holds the issuer and verifier binaries TestMain built for this run.
var bins struct {
	issuer, verifier string
}

// TestMain builds cmd/issuer and cmd/verifier once (real programs, started as
// processes by every test) and puts the tools cache (VEXEN_TOOLS, where
// scripts/build-caddy.sh and scripts/build-traefik.sh install) first on PATH.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test here is an integration test and skips
	}
	os.Setenv("PATH", toolsBin()+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir, err := os.MkdirTemp("", "vexen-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := 1
	if err := buildPrograms(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// toolsBin is where scripts/build-caddy.sh and scripts/build-traefik.sh put their
// binaries.
func toolsBin() string {
	tools := os.Getenv("VEXEN_TOOLS")
	if tools == "" {
		tools = "/var/cache/vexen-auth/tools"
	}
	return filepath.Join(tools, "bin")
}

func buildPrograms(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-o", dir+string(os.PathSeparator),
		"github.com/vexen/vexen-auth/cmd/issuer", "github.com/vexen/vexen-auth/cmd/verifier")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build cmd/issuer cmd/verifier: %v", err)
	}
	bins.issuer = filepath.Join(dir, "issuer")
	bins.verifier = filepath.Join(dir, "verifier")
	fmt.Fprintf(os.Stderr, "e2e: built issuer and verifier in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}
