package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/verify"
)

const (
	testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParent  = "00f067aa0ba902b7"
)

// authTraced asks the verifier's /auth about token with a W3C traceparent.
func authTraced(t *testing.T, m *Main, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+m.Addr()+"/auth", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Traceparent", "00-"+testTraceID+"-"+testParent+"-01")
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err, "GET /auth")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// checkDecisionSpans: exactly one verifier.decide (the cached decisions made
// none), child of the proxy's traceparent, with its children below it; no
// attribute holds the token.
func checkDecisionSpans(t *testing.T, spans []testenv.Span, token string, children ...string) {
	t.Helper()
	var decide *testenv.Span
	for i, s := range spans {
		if s.Name == verify.SpanDecide {
			if decide != nil {
				t.Fatalf("two %s spans (a cached decision was traced): %+v", verify.SpanDecide, spans)
			}
			decide = &spans[i]
		}
		for k, v := range s.Attrs {
			if strings.Contains(v, token[:24]) {
				t.Fatalf("span %s attribute %s holds the token", s.Name, k)
			}
		}
	}
	if decide == nil {
		t.Fatalf("no %s span: %+v", verify.SpanDecide, spans)
	}
	if decide.TraceID != testTraceID || decide.ParentSpanID != testParent || decide.Service != "vexen-verifier" || decide.Kind != "server" {
		t.Fatalf("%s: %+v; want trace %s, parent %s, service vexen-verifier", verify.SpanDecide, decide, testTraceID, testParent)
	}
	if decide.Attrs["vexen.reason"] != "ok" || decide.Attrs["http.response.status_code"] != "200" {
		t.Fatalf("%s attributes %v", verify.SpanDecide, decide.Attrs)
	}
	for _, name := range children {
		found := false
		for _, s := range spans {
			if s.Name == name && s.ParentSpanID == decide.SpanID && s.TraceID == testTraceID {
				found = true
			}
		}
		if !found {
			t.Fatalf("no %s span below %s: %+v", name, verify.SpanDecide, spans)
		}
	}
}

// TestTracingHTTP: the real verifier with OTEL_* set (OTLP over gRPC) and Redis
// sends the spans of a non-cached /auth decision, parent from the proxy's traceparent
// header, to an OTLP receiver; Close flushes it (the batcher would wait 5 s).
func TestTracingHTTP(t *testing.T) {
	rcv := testenv.StartOTLP(t)
	rd := testenv.SharedRedis(t)
	s := newStack(t, testenv.SQLiteURL(t), rd.URL, rd.Prefix)
	s.env = map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
	// The session check asked for: first sight from the window would skip Redis.
	v := s.verifier("--first-sight-session-check")
	p := s.login("alice@example.com", "alice's password")
	for range 3 { // the first leaves the cache, the others are cached
		if code := authTraced(t, v, p.AccessToken); code != 200 {
			t.Fatalf("/auth: %d", code)
		}
	}
	testenv.Must(t, v.Close(), "close")
	// The issuer wrote the token's claims to Redis: the lookup answers, no
	// signature check or store query is needed.
	spans := rcv.Spans()
	checkDecisionSpans(t, spans, p.AccessToken, verify.SpanRedisLookup)
	for _, sp := range spans {
		if sp.Name == verify.SpanRedisLookup && sp.Attrs["vexen.result"] != "hit" {
			t.Fatalf("redis.lookup result %q, want hit", sp.Attrs["vexen.result"])
		}
	}
}

// TestTracingGRPC: ext_authz over gRPC with the traceparent in the call's
// metadata (as Envoy sends it), no Redis (so the signature is checked and the
// store asked: --first-sight-session-check), spans sent over OTLP/HTTP.
func TestTracingGRPC(t *testing.T) {
	rcv := testenv.StartOTLP(t)
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	s.env = map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rcv.HTTPEndpoint() + "/v1/traces", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
	v := s.verifier("--grpc-listen", "127.0.0.1:0", "--first-sight-session-check")
	p := s.login("alice@example.com", "alice's password")
	for range 2 {
		if code := grpcCheck(t, v, p.AccessToken, "traceparent", "00-"+testTraceID+"-"+testParent+"-01"); code != codes.OK {
			t.Fatalf("Check: %v", code)
		}
	}
	testenv.Must(t, v.Close(), "close")
	checkDecisionSpans(t, rcv.Spans(), p.AccessToken, verify.SpanSignature, verify.SpanSessionState)
}

// TestTracingOff: without an endpoint, with OTEL_SDK_DISABLED=true and with
// OTEL_TRACES_EXPORTER=none nothing reaches the receiver.
func TestTracingOff(t *testing.T) {
	rcv := testenv.StartOTLP(t)
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	p := s.login("alice@example.com", "alice's password")
	for _, env := range []map[string]string{
		{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.HTTPEndpoint(), "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_EXPORTER": "none"},
	} {
		s.env = env
		v := s.verifier()
		if code := authTraced(t, v, p.AccessToken); code != 200 {
			t.Fatalf("/auth: %d", code)
		}
		testenv.Must(t, v.Close(), "close")
	}
	if n := rcv.Requests(); n != 0 {
		t.Fatalf("tracing off: %d export requests reached the receiver: %+v", n, rcv.Spans())
	}
}

// TestTracingBadConfig: a bad OTEL_* value is one line and exit 2, before any
// port opens.
func TestTracingBadConfig(t *testing.T) {
	for _, tc := range []struct{ k, v string }{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
		{"OTEL_TRACES_SAMPLER", "sometimes"},
		{"OTEL_TRACES_SAMPLER_ARG", "1.5"},
		{"OTEL_SDK_DISABLED", "maybe"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
	} {
		env := map[string]string{"JWT_SECRET_KEY": strings.Repeat("k", 32), "DATABASE_URL": testenv.SQLiteURL(t),
			"VERIFIER_LISTEN": "127.0.0.1:0", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "traceidratio", tc.k: tc.v}
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := run(ctx, nil, func(k string) string { return env[k] }, &out, &errb)
		cancel()
		msg := strings.TrimSpace(errb.String())
		if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.k) {
			t.Errorf("%s=%s: exit %d, stderr %q; want exit 2 and one line naming %s", tc.k, tc.v, code, msg, tc.k)
		}
	}
}
