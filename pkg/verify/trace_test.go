package verify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

const (
	testTraceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParentSpan = "00f067aa0ba902b7"
	testParent     = "00-" + testTraceID + "-" + testParentSpan + "-01"
)

func recordingProvider(t testing.TB) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// TestTracedMiss: a decision that leaves the cache makes verifier.decide, child
// of the proxy's traceparent, with redis.lookup, verifier.signature and
// store.session_state below it; the cached decision after it makes no span; no
// span holds the token, the host or the path.
func TestTracedMiss(t *testing.T) {
	tp, exp := recordingProvider(t)
	f := newFixture(t, withRedis(), withTracer(tp))
	tok := f.token("s1", "u1", "dev")
	req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/secret-path?q=1", Token: tok,
		Source: SourceHeader, TraceParent: testParent, TraceState: "vendor=x"}
	if d, err := f.v.Decide(context.Background(), req); err != nil || !d.Allow {
		t.Fatalf("decision %+v, %v", d, err)
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	decide, ok := byName[SpanDecide]
	if !ok || len(spans) != 4 {
		t.Fatalf("spans %v, want %s and its three children", names(spans), SpanDecide)
	}
	if decide.SpanContext.TraceID().String() != testTraceID || decide.Parent.SpanID().String() != testParentSpan || !decide.Parent.IsRemote() {
		t.Fatalf("%s: trace %s parent %s, want the traceparent's", SpanDecide, decide.SpanContext.TraceID(), decide.Parent.SpanID())
	}
	if decide.SpanContext.TraceState().Get("vendor") != "x" {
		t.Fatalf("tracestate lost: %v", decide.SpanContext.TraceState())
	}
	for _, name := range []string{SpanRedisLookup, SpanSignature, SpanSessionState} {
		c, ok := byName[name]
		if !ok {
			t.Fatalf("no %s span: %v", name, names(spans))
		}
		if c.Parent.SpanID() != decide.SpanContext.SpanID() {
			t.Fatalf("%s: parent %s, want %s", name, c.Parent.SpanID(), decide.SpanContext.SpanID())
		}
	}
	want := map[string]string{"vexen.reason": "ok", "http.response.status_code": "200", "vexen.allow": "true", "vexen.rule": "none"}
	for k, v := range want {
		if got := attr(decide, k); got != v {
			t.Errorf("%s %s = %q, want %q", SpanDecide, k, got, v)
		}
	}
	if got := attr(byName[SpanRedisLookup], "vexen.result"); got != "miss" {
		t.Errorf("redis.lookup result %q, want miss", got)
	}
	if got := attr(byName[SpanSessionState], "vexen.result"); got != "live" {
		t.Errorf("store.session_state result %q, want live", got)
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			v := kv.Value.Emit()
			if strings.Contains(v, tok[:20]) || strings.Contains(v, "secret-path") || strings.Contains(v, "app.example.com") {
				t.Fatalf("span %s attribute %s = %q: leaks the request", s.Name, kv.Key, v)
			}
		}
	}
	exp.Reset()
	if d, err := f.v.Decide(context.Background(), req); err != nil || !d.Allow {
		t.Fatalf("cached decision %+v, %v", d, err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("the cached decision made %d spans, want 0", n)
	}
}

// TestTracedRevokedAndUnavailable: a revoked session and a store that cannot
// answer show in the spans: the reason, and an error status on the 503.
func TestTracedRevokedAndUnavailable(t *testing.T) {
	tp, exp := recordingProvider(t)
	f := newFixture(t, withTracer(tp))
	tok := f.mint.Mint(t, verifytest.Claims{Subject: "u1", SessionID: "unknown"}) // no such session
	f.mustDeny(tok, ReasonRevoked)
	var decide tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == SpanDecide {
			decide = s
		}
		if s.Name == SpanSessionState && attr(s, "vexen.result") != "not_found" {
			t.Errorf("session state result %q, want not_found", attr(s, "vexen.result"))
		}
	}
	if attr(decide, "vexen.reason") != "revoked" || attr(decide, "http.response.status_code") != "401" {
		t.Fatalf("decide span %v", decide.Attributes)
	}

	exp.Reset()
	tok2 := f.token("s2", "u1")
	f.sessions.SetErr(errors.New("store down"))
	if _, err := f.decide(tok2); err == nil {
		t.Fatal("no error with the store down")
	}
	for _, s := range exp.GetSpans() {
		if (s.Name == SpanDecide || s.Name == SpanSessionState) && s.Status.Code.String() != "Error" {
			t.Errorf("%s status %v, want Error", s.Name, s.Status)
		}
	}
}

// TestCachedDecideAllocates0Traced: with a TracerProvider installed (and a
// traceparent sent), the cached decision still allocates nothing.
func TestCachedDecideAllocates0Traced(t *testing.T) {
	tp, exp := recordingProvider(t)
	f := newFixture(t, withRedis(), withTracer(tp))
	tok := f.token("s1", "u1", "dev")
	req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/", Token: tok, Source: SourceHeader, TraceParent: testParent}
	ctx := context.Background()
	if d, err := f.v.Decide(ctx, req); err != nil || !d.Allow {
		t.Fatalf("decision %+v, %v", d, err)
	}
	exp.Reset()
	allocs := testing.AllocsPerRun(1000, func() {
		if d, err := f.v.Decide(ctx, req); err != nil || !d.Allow {
			t.Fatalf("decision %+v, %v", d, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cached Decide with tracing: %v allocations per run, want 0", allocs)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans from cached decisions", n)
	}
}

// BenchmarkDecideMissTracing: the cost of tracing a non-cached decision (ES256
// check, in-memory Redis and store): off, and on with the SDK's batcher and an
// exporter that drops the spans (the SDK's cost without the network).
func BenchmarkDecideMissTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		var opts []fixtureOption
		if on {
			name = "on"
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			opts = append(opts, withTracer(tp))
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, append(opts, withRedis())...)
			toks := mintMany(b, f, 5000)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i == len(toks) {
					b.StopTimer()
					f.v.cache = newLocalCache(DefaultCacheEntries)
					f.shared.Flush()
					i = 0
					b.StartTimer()
				}
				if d, err := f.v.Decide(ctx, &Request{Token: toks[i], TraceParent: testParent}); !d.Allow {
					b.Fatalf("denied: %v %v", d.Reason, err)
				}
				i++
			}
		})
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// BenchmarkDecideCachedTracing: the cached decision without and with a
// TracerProvider installed (and a traceparent sent): 0 allocations either way.
func BenchmarkDecideCachedTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		var opts []fixtureOption
		if on {
			name = "on"
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			opts = append(opts, withTracer(tp))
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, opts...)
			tok := f.token("s1", "u1", "dev")
			f.mustAllow(tok)
			req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/", Token: tok, Source: SourceHeader, TraceParent: testParent}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if d, _ := f.v.Decide(ctx, req); !d.Allow {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkTracingSpans: what tracing adds to a non-cached decision on its own,
// without the decision's noise: the traceparent parsed, verifier.decide and
// its three children started and ended, batched to an exporter that drops them.
func BenchmarkTracingSpans(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	v := &Verifier{tracer: tp.Tracer(tracerName)}
	r := &Request{Method: http.MethodGet, TraceParent: testParent}
	d := Decision{Allow: true, Status: http.StatusOK, Rule: "none"}
	b.ReportAllocs()
	for b.Loop() {
		var span trace.Span
		ctx := v.startDecide(context.Background(), r, &span)
		for _, name := range [...]string{SpanRedisLookup, SpanSignature, SpanSessionState} {
			_, c := v.child(ctx, name, trace.SpanKindClient)
			endChild(c, "ok", nil)
		}
		endDecide(span, d, nil)
	}
}
