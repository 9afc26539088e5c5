package extauthz_test

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// BenchmarkCheck measures the adapter alone (Check called directly, a decider that
// answers at once): request building, token extraction and the response.
func BenchmarkCheck(b *testing.B) {
	id := aliceIdentity()
	for _, bc := range []struct {
		name   string
		req    *authv3.CheckRequest
		decide func(context.Context, *verify.Request) (verify.Decision, error)
	}{
		{"allow/bearer", envoyRequest("GET", "/api/items", map[string]string{"authorization": "Bearer a.b.c"}), allow(id)},
		{"allow/cookie", envoyRequest("GET", "/", map[string]string{"cookie": "theme=dark; lang=en; vexen_access=a.b.c"}), allow(id)},
		{"deny/401", envoyRequest("GET", "/", nil), deny(401, verify.ReasonNoToken)},
		{"deny/302", navigate("GET", "/reports?q=1", nil), deny(401, verify.ReasonNoToken)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := extauthz.New(decideFunc(bc.decide), extauthz.Options{
				Logger: discard(), LoginURL: "https://auth.example.com/login", AllowedRedirectHosts: []string{"app.example.com"},
			})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Check(ctx, bc.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckGRPC is one Check round trip over a loopback gRPC connection, the
// cost Envoy sees per request on top of the decision itself.
func BenchmarkCheckGRPC(b *testing.B) {
	s := extauthz.New(decideFunc(allow(aliceIdentity())), extauthz.Options{Logger: discard()})
	client := authv3.NewAuthorizationClient(startServer(b, s))
	req := envoyRequest("GET", "/api/items", map[string]string{"authorization": "Bearer a.b.c"})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Check(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// decideFunc is a stateless verify.Decider (the recording fakeDecider would grow
// without bound in a benchmark).
type decideFunc func(context.Context, *verify.Request) (verify.Decision, error)

func (f decideFunc) Decide(ctx context.Context, r *verify.Request) (verify.Decision, error) {
	return f(ctx, r)
}
