package tracing_test

import (
	"context"
	"fmt"
	"os"

	"github.com/vexen/vexen-auth/pkg/tracing"
)

func Example() {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.1",
	}
	cfg, err := tracing.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // one line; the programs exit 2
		return
	}
	fmt.Println(cfg.Enabled(), cfg.Protocol, cfg.Endpoint, cfg.SamplerName)
	p, err := tracing.New(context.Background(), cfg, "vexen-verifier", "dev")
	if err != nil {
		return
	}
	defer p.Shutdown(context.Background()) // flushes the queued spans
	_ = p.TracerProvider()                 // nil when tracing is off
	// Output: true http/protobuf http://collector:4318/v1/traces parentbased_traceidratio
}
