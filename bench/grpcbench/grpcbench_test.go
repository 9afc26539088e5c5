package grpcbench

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// fakeAuth is an Authorization server whose answer a test chooses.
type fakeAuth struct {
	authv3.UnimplementedAuthorizationServer
	check func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
}

func (f fakeAuth) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return f.check(r)
}

func serve(t *testing.T, impl authv3.AuthorizationServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, impl)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func TestBaselineCheck(t *testing.T) {
	b := NewBaseline()
	resp, err := b.Check(context.Background(), CheckRequest("tok", 1))
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != int32(codes.OK) || ok == nil || len(ok.GetHeaders()) != 1 {
		t.Errorf("with a token: %v", resp)
	}
	bare := CheckRequest("tok", 1)
	delete(bare.Attributes.Request.Http.Headers, "authorization")
	resp, err = b.Check(context.Background(), bare)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() == int32(codes.OK) || resp.GetDeniedResponse() == nil {
		t.Errorf("without a token: %v", resp)
	}
}

func TestCheckRequestIsEnvoyShaped(t *testing.T) {
	r := CheckRequest("abc", 7)
	h := r.GetAttributes().GetRequest().GetHttp()
	if h.GetHeaders()["authorization"] != "Bearer abc" || h.GetHeaders()[":path"] != h.GetPath() || h.GetHost() != h.GetHeaders()[":authority"] {
		t.Errorf("headers %v disagree with path %q, host %q", h.GetHeaders(), h.GetPath(), h.GetHost())
	}
	for k := range h.GetHeaders() {
		if k != strings.ToLower(k) {
			t.Errorf("header key %q is not lower case, as Envoy sends them", k)
		}
	}
	if r.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress() != "127.0.0.1" {
		t.Error("no source address")
	}
}

func TestLoadAgainstBaseline(t *testing.T) {
	addr := serve(t, NewBaseline())
	run, err := Load(context.Background(), LoadOptions{
		Target: addr, Tokens: []string{"a", "b", "c"}, Duration: 300 * time.Millisecond, Concurrency: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.Requests < 10 || run.Failures != 0 {
		t.Errorf("run = %+v, want many requests and no failures", run)
	}
	if run.Latency.P50 <= 0 || run.Latency.P99 < run.Latency.P50 || run.Latency.Max < run.Latency.P99 {
		t.Errorf("latency = %+v", run.Latency)
	}
	if run.Elapsed < 300*time.Millisecond {
		t.Errorf("elapsed %v < duration", run.Elapsed)
	}
}

func TestLoadCountsDenials(t *testing.T) {
	b := NewBaseline()
	addr := serve(t, fakeAuth{check: func(r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
		if r.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"] == "Bearer bad" {
			return b.denied, nil
		}
		return b.ok, nil
	}})
	// The first token must be good: Load proves the server answers with it first.
	run, err := Load(context.Background(), LoadOptions{
		Target: addr, Tokens: []string{"good", "bad"}, Duration: 200 * time.Millisecond, Concurrency: 2, Conns: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("err = %v, want the denials reported", err)
	}
	// Caller w sends tokens w, w+2, ...: caller 1 only sends "bad".
	if run.Failures == 0 || run.Failures >= run.Requests {
		t.Errorf("run = %+v: want some, not all, calls failed", run)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(context.Background(), LoadOptions{Target: "127.0.0.1:1", Tokens: []string{"a"}}); err == nil {
		t.Error("no duration: no error")
	}
	if _, err := Load(context.Background(), LoadOptions{Target: "127.0.0.1:1", Duration: time.Second}); err == nil {
		t.Error("no tokens: no error")
	}
	if _, err := Load(context.Background(), LoadOptions{Target: "127.0.0.1:1", Tokens: []string{"a"}, Duration: time.Second, Timeout: 200 * time.Millisecond}); err == nil {
		t.Error("nothing listening: no error")
	}
}
