package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf" // the default, as the OpenTelemetry specification says
)

// Config is what the OTEL_* environment says. The zero Config is "tracing off".
type Config struct {
	// Endpoint is the URL spans are sent to: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as
	// given, or OTEL_EXPORTER_OTLP_ENDPOINT (with /v1/traces appended for
	// http/protobuf). "" = tracing off.
	Endpoint string
	// Protocol is ProtocolGRPC or ProtocolHTTP (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
	// else OTEL_EXPORTER_OTLP_PROTOCOL; default http/protobuf).
	Protocol string
	// ServiceName is OTEL_SERVICE_NAME; "" = the program's default.
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER (default parentbased_always_on) with its
	// OTEL_TRACES_SAMPLER_ARG; SamplerName keeps its name for logs.
	Sampler     sdktrace.Sampler
	SamplerName string
}

// Enabled reports whether spans are exported.
func (c Config) Enabled() bool { return c.Endpoint != "" }

// FromEnv reads the standard variables through getenv (os.Getenv in production).
// Tracing is off unless an endpoint is set, and off with OTEL_SDK_DISABLED=true
// or OTEL_TRACES_EXPORTER=none. A value it cannot use is an error naming the
// variable; the variables it does not read (OTEL_EXPORTER_OTLP_HEADERS,
// _CERTIFICATE, _TIMEOUT, OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES) are read by the
// OpenTelemetry SDK itself from the process environment.
func FromEnv(getenv func(string) string) (Config, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var c Config
	switch v := strings.ToLower(env("OTEL_SDK_DISABLED")); v {
	case "", "false":
	case "true":
		return Config{}, nil
	default:
		return Config{}, invalid("OTEL_SDK_DISABLED", "%q (want true or false)", v)
	}
	switch v := env("OTEL_TRACES_EXPORTER"); v {
	case "", "otlp":
	case "none":
		return Config{}, nil
	default:
		return Config{}, invalid("OTEL_TRACES_EXPORTER", "%q (want otlp or none)", v)
	}
	protoVar := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	c.Protocol = env(protoVar)
	if c.Protocol == "" {
		protoVar = "OTEL_EXPORTER_OTLP_PROTOCOL"
		c.Protocol = env(protoVar)
	}
	switch c.Protocol {
	case "":
		c.Protocol = ProtocolHTTP
	case ProtocolGRPC, ProtocolHTTP:
	default:
		return Config{}, invalid(protoVar, "%q (want grpc or http/protobuf)", c.Protocol)
	}
	endpointVar := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	raw := env(endpointVar)
	signal := false // the endpoint is the traces URL as given
	if raw == "" {
		endpointVar = "OTEL_EXPORTER_OTLP_ENDPOINT"
		raw = env(endpointVar)
		signal = c.Protocol == ProtocolHTTP
	}
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return Config{}, invalid(endpointVar, "%q is not an http:// or https:// URL", redact(raw))
		}
		if signal {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		}
		c.Endpoint = u.String()
	}
	c.ServiceName = env("OTEL_SERVICE_NAME")
	var err error
	if c.Sampler, c.SamplerName, err = sampler(env("OTEL_TRACES_SAMPLER"), env("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return Config{}, err
	}
	return c, nil
}

// redact hides a password in a URL that could not be parsed as one we accept.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.IndexByte(raw, '@'); i >= 0 {
		return "…" + raw[i:]
	}
	return raw
}

func sampler(name, arg string) (sdktrace.Sampler, string, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, invalid("OTEL_TRACES_SAMPLER_ARG", "%q (want a ratio between 0 and 1)", arg)
		}
		return f, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on", nil
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "traceidratio", "parentbased_traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, "", err
		}
		s := sdktrace.TraceIDRatioBased(f)
		if name == "parentbased_traceidratio" {
			s = sdktrace.ParentBased(s)
		}
		return s, name, nil
	default:
		return nil, "", invalid("OTEL_TRACES_SAMPLER", "%q (want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)", name)
	}
}

func invalid(setting, format string, args ...any) error {
	return fmt.Errorf("invalid %s: %s", setting, fmt.Sprintf(format, args...))
}

// Provider exports the spans of one program. A nil *Provider is tracing off: its
// TracerProvider is nil and Shutdown does nothing.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New builds the exporter and a batching TracerProvider for cfg; with tracing off
// it returns nil and no error. service names the program when OTEL_SERVICE_NAME
// is unset; version becomes service.version. Nothing is sent before the first
// span, and a collector that is down only costs the spans (the SDK reports the
// failed exports to otel's error handler).
func New(ctx context.Context, cfg Config, service, version string) (*Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch cfg.Protocol {
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
	case ProtocolHTTP, "":
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	default:
		err = invalid("OTEL_EXPORTER_OTLP_PROTOCOL", "%q", cfg.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = service
	}
	// resource.Default() holds the SDK's attributes and OTEL_RESOURCE_ATTRIBUTES;
	// the service name and version given here win over it.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", name), attribute.String("service.version", version)))
	if err != nil {
		res = resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.version", version))
	}
	s := cfg.Sampler
	if s == nil {
		s = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s),
	)
	return &Provider{tp: tp}, nil
}

// TracerProvider is the provider to hand to the verifier and the issuer; nil when
// tracing is off (they then create no span at all).
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.tp
}

// Shutdown sends the spans still queued and stops the exporter; ctx bounds it.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("tracing: flush at shutdown: %w", err)
	}
	return nil
}

// Propagator reads and writes W3C trace context (traceparent, tracestate).
var Propagator = propagation.TraceContext{}

// Remote returns ctx carrying the remote span context of a W3C traceparent (and
// tracestate) header value, as a parent for the spans started from it; ctx
// unchanged when traceparent is empty or invalid.
func Remote(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Propagator.Extract(ctx, carrier{traceparent, tracestate})
}

// carrier is a two-header propagation.TextMapCarrier.
type carrier struct{ parent, state string }

func (c carrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.parent
	case "tracestate":
		return c.state
	}
	return ""
}

func (c carrier) Set(string, string) {}

func (c carrier) Keys() []string { return []string{"traceparent", "tracestate"} }
