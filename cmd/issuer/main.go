// Command issuer is vexen-auth's login service: email + password login, refresh-token
// rotation, logout, logout-everywhere and the JWKS, plus the admin subcommands.
//
//	issuer [serve] [flags]            run the service (the default)
//	issuer migrate                    apply the schema migrations and exit
//	issuer user add --email E [--role R]... --password-stdin
//	issuer user disable --email E
//	issuer sessions list --email E
//	issuer sessions revoke --email E
//	issuer keys rotate
//	issuer --version                  print version, commit and Go version
//	issuer healthcheck [--cacert F] [--cert F --key F] [URL]   exit 0 when URL (default http://127.0.0.1:8080/readyz) answers 2xx
//
// Every flag can also come from the environment variable its --help line names.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vexen/vexen-auth/internal/cli"
	"github.com/vexen/vexen-auth/internal/safetext"
	"github.com/vexen/vexen-auth/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it with their own arguments and streams.
// The error line is escaped (safetext): it may quote an email or other stored text.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version.Requested(args) {
		fmt.Fprintln(stdout, version.String("issuer"))
		return 0
	}
	var err error
	if len(args) > 0 && args[0] == "healthcheck" {
		err = cli.Probe(ctx, args[1:], "http://127.0.0.1:8080/readyz", stdout)
	} else {
		err = dispatch(ctx, args, getenv, stdin, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "issuer:", safetext.Escape(err.Error()))
	}
	return cli.ExitCode(err)
}
