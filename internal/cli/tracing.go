package cli

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/vexen/vexen-auth/internal/version"
	"github.com/vexen/vexen-auth/pkg/tracing"
)

// TracingConfig reads the OTEL_* environment (environment only: they are not
// flags); a value it cannot use is a UsageError (one line, exit 2).
func TracingConfig(getenv func(string) string) (tracing.Config, error) {
	if getenv == nil {
		return tracing.Config{}, nil
	}
	c, err := tracing.FromEnv(getenv)
	return c, Usage(err)
}

// StartTracing builds the span exporter of cfg (nil when tracing is off) and
// sends the SDK's export failures to log at Warn, never to a plain stderr line.
func StartTracing(ctx context.Context, cfg tracing.Config, service string, log *slog.Logger) (*tracing.Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	p, err := tracing.New(ctx, cfg, service, version.Version)
	if err != nil {
		return nil, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: span export failed", "err", err)
	}))
	log.Info("tracing on", "endpoint", cfg.Endpoint, "protocol", cfg.Protocol, "sampler", cfg.SamplerName)
	return p, nil
}

// tracingFlushTimeout bounds the flush of the queued spans at shutdown.
const tracingFlushTimeout = 5 * time.Second

// StopTracing flushes the spans still queued (at most 5 s) and stops p; nil is
// tracing off.
func StopTracing(p *tracing.Provider) error {
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	return p.Shutdown(ctx)
}
