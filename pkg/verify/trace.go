package verify

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/tracing"
)

// The spans of a decision that leaves the local cache (a cached decision makes
// none: it stays allocation-free with a TracerProvider installed).
const (
	SpanDecide       = "verifier.decide"     // the decision, from the cache miss (or stale entry) on
	SpanRedisLookup  = "redis.lookup"        // MGET access_token:{h} revoked:{h}
	SpanSignature    = "verifier.signature"  // the JWT's signature and claims check
	SpanSessionState = "store.session_state" // the session's state in the store
)

// tracerName is the instrumentation scope of the verifier's spans.
const tracerName = "github.com/vexen/vexen-auth/pkg/verify"

// startDecide starts the decision's span in *sp (once per decision), as a child
// of the proxy's traceparent when it sent one; it returns ctx carrying it. It
// does nothing without a tracer.
func (v *Verifier) startDecide(ctx context.Context, r *Request, sp *trace.Span) context.Context {
	if v.tracer == nil || sp == nil || *sp != nil {
		return ctx
	}
	ctx = tracing.Remote(ctx, r.TraceParent, r.TraceState)
	ctx, *sp = v.tracer.Start(ctx, SpanDecide, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
	return ctx
}

// endDecide ends the decision's span with its outcome. No host, path, token or
// identity goes into a span: only the reason, the status, the rule's label.
func endDecide(span trace.Span, d Decision, err error) {
	span.SetAttributes(
		attribute.String("vexen.reason", d.Reason.String()),
		attribute.Int("http.response.status_code", d.Status),
		attribute.Bool("vexen.allow", d.Allow),
		attribute.String("vexen.rule", d.Rule),
	)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// child starts a span below the decision's (none without a tracer or outside a
// traced decision).
func (v *Verifier) child(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if v.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return v.tracer.Start(ctx, name, trace.WithSpanKind(kind))
}

// endChild ends a child span (nil: none) with its result, and an error status
// for a backend failure.
func endChild(span trace.Span, result string, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("vexen.result", result))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// lookupResult names a Redis answer for the redis.lookup span.
func lookupResult(revoked, claims bool, err error) string {
	switch {
	case err != nil:
		return "error"
	case revoked:
		return "revoked"
	case claims:
		return "hit"
	}
	return "miss"
}

// lookup is Shared.Lookup in a redis.lookup span.
func (v *Verifier) lookup(ctx context.Context, hx string) (rediscache.Lookup, error) {
	sctx, span := v.child(ctx, SpanRedisLookup, trace.SpanKindClient)
	l, err := v.shared.Lookup(sctx, hx)
	if span != nil {
		span.SetAttributes(attribute.String("db.system.name", "redis"))
		endChild(span, lookupResult(l.Revoked, l.Claims != nil, err), err)
	}
	return l, err
}

// checkSignature is verifyToken in a verifier.signature span.
func (v *Verifier) checkSignature(ctx context.Context, tok string, now time.Time) (verified, Reason, error) {
	sctx, span := v.child(ctx, SpanSignature, trace.SpanKindInternal)
	ver, reason, err := v.verifyToken(sctx, tok, now)
	if span != nil {
		endChild(span, reason.String(), err)
	}
	return ver, reason, err
}

// endSession ends a store.session_state span: live, ended (revoked, expired or
// user disabled), not_found, or error.
func endSession(span trace.Span, st store.SessionState, err error, now time.Time) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		endChild(span, "not_found", nil)
	case err != nil:
		endChild(span, "error", err)
	case !st.Live(now):
		endChild(span, "ended", nil)
	default:
		endChild(span, "live", nil)
	}
}
