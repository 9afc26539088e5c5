package extauthz_test

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// FuzzCheck feeds arbitrary CheckRequests (as wire bytes) to Check. Whatever
// arrives, Check answers without a gRPC error, its answer passes Envoy's own
// validation rules, it allows only what the decider allowed, and a token it passes
// to the decider came from the request.
func FuzzCheck(f *testing.F) {
	seeds := []*authv3.CheckRequest{
		envoyRequest("GET", "/", map[string]string{"authorization": "Bearer a.b.c"}),
		envoyRequest("GET", "/x?y=1", map[string]string{"cookie": "a=1; vexen_access=a.b.c"}),
		navigate("GET", "/reports", nil),
		{},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, wire []byte, allowDecision bool) {
		req := &authv3.CheckRequest{}
		if err := proto.Unmarshal(wire, req); err != nil {
			return
		}
		d := &fakeDecider{decide: func(_ context.Context, r *verify.Request) (verify.Decision, error) {
			if allowDecision {
				return verify.Decision{Allow: true, Status: 200, Identity: aliceIdentity()}, nil
			}
			return verify.Decision{Status: 401, Reason: verify.ReasonMalformed}, nil
		}}
		s := extauthz.New(d, extauthz.Options{
			Logger:               discard(),
			LoginURL:             "https://auth.example.com/login",
			AllowedRedirectHosts: []string{"app.example.com", "*.example.com"},
		})
		resp, err := s.Check(context.Background(), req)
		if err != nil {
			t.Fatalf("Check returned a gRPC error: %v", err)
		}
		if err := resp.ValidateAll(); err != nil {
			t.Fatalf("response fails Envoy's validation: %v\n%v", err, resp)
		}
		ok := codes.Code(resp.GetStatus().GetCode()) == codes.OK
		if ok != (resp.GetOkResponse() != nil) {
			t.Fatalf("status %v with ok_response %v", resp.GetStatus(), resp.GetOkResponse())
		}
		if ok && !allowDecision {
			t.Fatal("allowed a request the decider denied")
		}
		for _, r := range d.requests() {
			if r.Token != "" && !containsToken(req, r.Token) {
				t.Fatalf("token %q is not in the request", r.Token)
			}
		}
	})
}

func containsToken(req *authv3.CheckRequest, tok string) bool {
	h := req.GetAttributes().GetRequest().GetHttp()
	for _, v := range h.GetHeaders() {
		if contains(v, tok) {
			return true
		}
	}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if contains(hv.GetValue(), tok) || contains(string(hv.GetRawValue()), tok) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
