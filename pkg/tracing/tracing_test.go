package tracing

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/internal/testenv"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		endpoint string // "" = off
		protocol string
		sampler  string
		err      string // substring of the error; "" = none
	}{
		{name: "nothing set: off"},
		{name: "only a service name: off", env: []string{"OTEL_SERVICE_NAME", "x"}},
		{name: "http base endpoint gets /v1/traces", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"},
			endpoint: "http://collector:4318/v1/traces", protocol: ProtocolHTTP, sampler: "parentbased_always_on"},
		{name: "http base with a path", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c.example/otlp/"},
			endpoint: "https://c.example/otlp/v1/traces", protocol: ProtocolHTTP, sampler: "parentbased_always_on"},
		{name: "traces endpoint as given", env: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:1"},
			endpoint: "http://c:4318/custom", protocol: ProtocolHTTP, sampler: "parentbased_always_on"},
		{name: "grpc base endpoint as given", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
			endpoint: "http://c:4317", protocol: ProtocolGRPC, sampler: "parentbased_always_on"},
		{name: "traces protocol wins", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"},
			endpoint: "http://c:4317", protocol: ProtocolGRPC, sampler: "parentbased_always_on"},
		{name: "ratio sampler", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0.25"},
			endpoint: "http://c:4318/v1/traces", protocol: ProtocolHTTP, sampler: "parentbased_traceidratio"},
		{name: "disabled", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "TRUE"}},
		{name: "exporter none", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_EXPORTER", "none"}},
		{name: "bad endpoint", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}, err: "invalid OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "endpoint with a password", env: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://u:secret@c:4318"}, err: "invalid OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{name: "bad protocol", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}, err: "invalid OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "bad sampler", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_SAMPLER", "sometimes"}, err: "invalid OTEL_TRACES_SAMPLER"},
		{name: "bad sampler arg", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}, err: "invalid OTEL_TRACES_SAMPLER_ARG"},
		{name: "bad disabled", env: []string{"OTEL_SDK_DISABLED", "yes"}, err: "invalid OTEL_SDK_DISABLED"},
		{name: "bad exporter", env: []string{"OTEL_TRACES_EXPORTER", "jaeger"}, err: "invalid OTEL_TRACES_EXPORTER"},
		{name: "bad protocol while off is still an error", env: []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "udp"}, err: "invalid OTEL_EXPORTER_OTLP_PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(envOf(tc.env...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q: a secret or more than one line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint != tc.endpoint || c.Enabled() != (tc.endpoint != "") {
				t.Fatalf("endpoint %q (enabled %v), want %q", c.Endpoint, c.Enabled(), tc.endpoint)
			}
			if tc.endpoint != "" && (c.Protocol != tc.protocol || c.SamplerName != tc.sampler || c.Sampler == nil) {
				t.Fatalf("protocol %q sampler %q, want %q %q", c.Protocol, c.SamplerName, tc.protocol, tc.sampler)
			}
		})
	}
}

func TestOffIsNil(t *testing.T) {
	p, err := New(context.Background(), Config{}, "svc", "v")
	if err != nil || p != nil || p.TracerProvider() != nil || p.Shutdown(context.Background()) != nil {
		t.Fatalf("off: %v %v", p, err)
	}
}

// TestExportBothProtocols: spans reach a real OTLP receiver over gRPC and over
// HTTP, with the remote parent of a traceparent, and Shutdown flushes them (the
// batcher's own delay is 5 s, longer than the test waits).
func TestExportBothProtocols(t *testing.T) {
	rcv := testenv.StartOTLP(t)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		t.Run(proto, func(t *testing.T) {
			ep := rcv.HTTPEndpoint()
			if proto == ProtocolGRPC {
				ep = rcv.GRPCEndpoint()
			}
			cfg, err := FromEnv(envOf("OTEL_EXPORTER_OTLP_ENDPOINT", ep, "OTEL_EXPORTER_OTLP_PROTOCOL", proto, "OTEL_SERVICE_NAME", "svc-"+proto))
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(context.Background(), cfg, "default", "1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			ctx := Remote(context.Background(), parent, "vendor=x")
			_, span := p.TracerProvider().Tracer("test").Start(ctx, "op-"+proto, trace.WithSpanKind(trace.SpanKindServer))
			span.End()
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := p.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			var got *testenv.Span
			for _, s := range rcv.Spans() { // no waiting: Shutdown returned after the export
				if s.Name == "op-"+proto {
					got = &s
				}
			}
			if got == nil {
				t.Fatalf("span not received after Shutdown: %+v", rcv.Spans())
			}
			if got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || got.ParentSpanID != "00f067aa0ba902b7" || got.Service != "svc-"+proto || got.Kind != "server" {
				t.Fatalf("span %+v: want the traceparent's trace and parent, service svc-%s", got, proto)
			}
		})
	}
}

func TestRemoteIgnoresBadTraceparent(t *testing.T) {
	for _, tp := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if sc := trace.SpanContextFromContext(Remote(context.Background(), tp, "")); sc.IsValid() {
			t.Errorf("%q: valid span context %v", tp, sc)
		}
	}
}
