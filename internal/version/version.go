// Package version holds the build's version and commit, stamped at link time by
// `make release` (and `make build`) from `git describe --tags --always --dirty`:
//
//	go build -ldflags "-X github.com/vexen/vexen-auth/internal/version.Version=v1.2.3 \
//	                   -X github.com/vexen/vexen-auth/internal/version.Commit=abc1234" ./cmd/...
//
// A binary built without the flags (go run, go test) reports "dev" and "unknown".
// Both binaries answer `--version` with String.
package version

import (
	"fmt"
	"runtime"
	"strings"
)

// Set by the linker; see the package comment.
var (
	// Version is the release, e.g. v1.2.3 or v1.2.3-4-gabc1234-dirty; "dev" when unstamped.
	Version = "dev"
	// Commit is the full git commit the binary was built from; "unknown" when unstamped.
	Commit = "unknown"
)

// String is the line `PROGRAM --version` prints: program, version, commit, Go version
// and platform, e.g. "issuer v1.2.3 (commit abc1234…, go1.26.8 linux/amd64)".
func String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s %s/%s)", program, Version, Commit,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Requested reports whether args ask for the version: a --version (or -version)
// before any "--" terminator, wherever it stands among the subcommand words and
// flags. It does not parse flag values, so `--email --version` is read as asking
// for the version too, which only ever prints a line.
func Requested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch strings.TrimLeft(a, "-") {
		case "version", "version=true":
			if strings.HasPrefix(a, "-") {
				return true
			}
		}
	}
	return false
}
