package extauthz_test

import (
	"context"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/metadata"

	"github.com/vexen/vexen-auth/pkg/extauthz"
)

// TestCheckTraceContext: the W3C trace context reaches the Decider from the gRPC
// call's metadata (Envoy's own tracing) first, else from the original request's
// headers in the CheckRequest.
func TestCheckTraceContext(t *testing.T) {
	const (
		fromMeta    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		fromHeaders = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	)
	for _, tc := range []struct {
		name              string
		md                metadata.MD
		headers           map[string]string
		wantParent, wantS string
	}{
		{name: "none"},
		{name: "headers", headers: map[string]string{"traceparent": fromHeaders, "tracestate": "a=1"}, wantParent: fromHeaders, wantS: "a=1"},
		{name: "metadata wins", md: metadata.Pairs("traceparent", fromMeta, "tracestate", "m=2"),
			headers: map[string]string{"traceparent": fromHeaders}, wantParent: fromMeta, wantS: "m=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDecider{decide: allow(aliceIdentity())}
			cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.md != nil {
				ctx = metadata.NewOutgoingContext(ctx, tc.md)
			}
			if _, err := authv3.NewAuthorizationClient(cc).Check(ctx, envoyRequest("GET", "/", tc.headers)); err != nil {
				t.Fatal(err)
			}
			r := f.requests()[0]
			if r.TraceParent != tc.wantParent || r.TraceState != tc.wantS {
				t.Fatalf("trace context %q %q, want %q %q", r.TraceParent, r.TraceState, tc.wantParent, tc.wantS)
			}
		})
	}
}
