package issue

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/tracing"
)

// SpanPrefix starts the name of the issuer's server spans: one per request,
// SpanPrefix + the endpoint's metric label (issuer.login, issuer.refresh,
// issuer.jwks, issuer.not_found…).
const SpanPrefix = "issuer."

// startSpan starts the request's server span, child of the caller's W3C
// traceparent when it sent one. Its attributes are the method, the route (a
// fixed path, never the request's own for an unknown one) and the endpoint: no
// query, body, cookie, token, email or client address.
func (s *Service) startSpan(r *http.Request, ep string, found bool) (context.Context, trace.Span) {
	ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "_OTHER" // bounded, as the HTTP semantic conventions ask
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("vexen.endpoint", ep),
	}
	if found {
		attrs = append(attrs, attribute.String("http.route", r.URL.Path)) // a route's fixed path
	}
	return s.tracer.Start(ctx, SpanPrefix+ep, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// endSpan ends a request's span with its status code; a 5xx is an error (a 4xx
// is the client's, as the HTTP semantic conventions say for server spans).
func endSpan(span trace.Span, code int) {
	span.SetAttributes(attribute.Int("http.response.status_code", code))
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}
