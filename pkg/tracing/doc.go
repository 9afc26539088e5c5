// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables: an OTLP exporter (gRPC or HTTP/protobuf) behind a
// batching TracerProvider, the sampler of OTEL_TRACES_SAMPLER, and W3C trace
// context (traceparent, tracestate) for the parents proxies send.
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and off with OTEL_SDK_DISABLED=true
// or OTEL_TRACES_EXPORTER=none. Off, New returns a nil *Provider whose
// TracerProvider is nil: the verifier and the issuer then create no span and pay
// nothing. A value it cannot use is an error naming the variable (the programs
// print it on one line and exit 2).
//
// The verifier traces only decisions that leave its cache (verifier.decide, with
// redis.lookup, verifier.signature and store.session_state below it); the issuer
// one server span per endpoint. Shutdown flushes what is queued.
package tracing
