// Command verifier is vexen-auth's decision service: reverse proxies (nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth, Envoy ext_authz over HTTP
// and gRPC) ask it, on every request, whether the request may pass.
//
//	verifier [flags]
//	verifier policy check FILE
//	verifier policy explain --policy FILE --method M --host H --path P [--roles a,b] [--mfa] [--client IP]
//	verifier --version      print version, commit and Go version
//	verifier healthcheck [--cacert F] [--cert F --key F] [URL]   exit 0 when URL (default http://127.0.0.1:8081/readyz) answers 2xx
//
// Every flag can also come from the environment variable its --help line names.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vexen/vexen-auth/internal/cli"
	"github.com/vexen/vexen-auth/internal/version"
	"github.com/vexen/vexen-auth/pkg/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if version.Requested(args) {
		fmt.Fprintln(stdout, version.String("verifier"))
		return 0
	}
	err := runErr(ctx, args, getenv, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "verifier:", err)
	}
	return cli.ExitCode(err)
}

func runErr(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "policy" {
		return runPolicy(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return cli.Probe(ctx, args[1:], "http://127.0.0.1:8081/readyz", stdout)
	}
	m := NewMain()
	m.Stderr = stderr
	if err := m.ParseFlags(args, getenv); err != nil {
		if errors.Is(err, config.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: verifier [flags]\n       verifier --version    print version, commit and Go version\n       verifier healthcheck [--cacert F] [--cert F --key F] [URL]   exit 0 when URL (default http://127.0.0.1:8081/readyz) answers 2xx\n       verifier policy check FILE | explain … (verifier policy --help)\n\nverifier COMMAND --help shows a command's own usage and flags.\n\nFlags (each also read from the environment variable shown, or from --config FILE; precedence flag > environment > file > default):")
			m.flags(getenv).PrintDefaults(stdout)
			fmt.Fprintln(stdout, "  JWT_SECRET_KEY or JWT_SECRET_KEY_FILE (environment only)\n    \tshared secret of HS256 deployments; then no JWKS is fetched")
			fmt.Fprintln(stdout, "  OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL (grpc|http/protobuf),\n"+
				"  OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER (environment only)\n"+
				"    \tOpenTelemetry tracing of the decisions that leave the cache; off unless an endpoint is set")
			return nil
		}
		return err
	}
	if err := m.Run(ctx); err != nil {
		return errors.Join(err, m.Close())
	}
	err := m.Wait(ctx)
	if err == nil {
		m.Drain(context.Background())
	}
	m.Logger.Info("verifier shutting down")
	return errors.Join(err, m.Close())
}
