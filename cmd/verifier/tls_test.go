package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestTLSListeners runs the verifier with --tls-cert/--tls-key/--tls-client-ca:
// the HTTP decision endpoint and the gRPC ext_authz server answer only clients
// with a certificate from the client CA; the metrics listener serves the same
// certificate without asking for one.
func TestTLSListeners(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "vexen")
	proxies := testenv.NewCA(t, dir, "proxies")
	other := testenv.NewCA(t, dir, "other")
	srv := ca.Server(t, dir, "verifier")
	proxy := proxies.Client(t, dir, "nginx", "nginx")
	stranger := other.Client(t, dir, "stranger", "nginx")

	v := s.verifier("--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile, "--tls-client-ca", proxies.File,
		"--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	p := s.login("alice@example.com", "alice's password")

	httpsAuth := func(certs []tls.Certificate) (*http.Response, error) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}}}
		req, _ := http.NewRequest("GET", "https://"+v.Addr()+"/auth", nil)
		req.Header.Set("Authorization", "Bearer "+p.AccessToken)
		return hc.Do(req)
	}
	grpcCheck := func(certs []tls.Certificate) (codes.Code, error) {
		cc, err := grpc.NewClient(v.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(
			&tls.Config{RootCAs: ca.Pool(), Certificates: certs})))
		testenv.Must(t, err, "grpc client")
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := authv3.NewAuthorizationClient(cc).Check(ctx, &authv3.CheckRequest{
			Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
				Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Host: "app.example.com", Path: "/",
					Headers: map[string]string{"authorization": "Bearer " + p.AccessToken}},
			}},
		})
		return codes.Code(resp.GetStatus().GetCode()), err
	}

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"proxy certificate", []tls.Certificate{proxy.TLS}, true},
		{"no client certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{stranger.TLS}, false},
		{"the server's own certificate (another CA)", []tls.Certificate{srv.TLS}, false},
	} {
		t.Run("http/"+tc.name, func(t *testing.T) {
			resp, err := httpsAuth(tc.certs)
			if !tc.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered %d, want the handshake refused", resp.StatusCode)
				}
				return
			}
			testenv.Must(t, err, "GET /auth")
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Auth-Email") != "alice@example.com" {
				t.Fatalf("status %d, identity %q", resp.StatusCode, resp.Header.Get("X-Auth-Email"))
			}
		})
		t.Run("grpc/"+tc.name, func(t *testing.T) {
			code, err := grpcCheck(tc.certs)
			if !tc.ok {
				if err == nil {
					t.Fatalf("Check answered %v, want the connection refused", code)
				}
				return
			}
			if err != nil || code != codes.OK {
				t.Fatalf("Check: %v, %v; want OK", code, err)
			}
		})
	}

	t.Run("plain HTTP refused", func(t *testing.T) {
		resp, err := http.Get("http://" + v.Addr() + "/auth")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest { // net/http's answer to plain HTTP on a TLS port
				t.Fatalf("plain HTTP: %d", resp.StatusCode)
			}
		}
	})

	t.Run("metrics over TLS without a client certificate", func(t *testing.T) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		resp, err := hc.Get("https://" + v.MetricsAddr() + "/metrics")
		testenv.Must(t, err, "GET /metrics")
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "vexen_verifier_decisions_total") {
			t.Fatalf("metrics: %d", resp.StatusCode)
		}
	})
}

// TestTLSWithoutClientCA: --tls-cert alone serves TLS to any client, on HTTP and gRPC.
func TestTLSWithoutClientCA(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "vexen")
	srv := ca.Server(t, dir, "verifier")
	v := s.verifier("--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile, "--grpc-listen", "127.0.0.1:0")
	p := s.login("alice@example.com", "alice's password")

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	req, _ := http.NewRequest("GET", "https://"+v.Addr()+"/auth", nil)
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	resp, err := hc.Do(req)
	testenv.Must(t, err, "GET /auth")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/auth over TLS: %d", resp.StatusCode)
	}

	cc, err := grpc.NewClient(v.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool()})))
	testenv.Must(t, err, "grpc client")
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := authv3.NewAuthorizationClient(cc).Check(ctx, &authv3.CheckRequest{
		Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Host: "app.example.com", Path: "/",
				Headers: map[string]string{"authorization": "Bearer " + p.AccessToken}},
		}},
	})
	if err != nil || codes.Code(out.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("gRPC Check over TLS: %v, %v", out.GetStatus(), err)
	}
}

// TestTLSBadFilesExitTwo: a pair or client CA that does not load stops the
// verifier with one line and exit 2, before any port is opened.
func TestTLSBadFilesExitTwo(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "vexen")
	srv := ca.Server(t, dir, "verifier")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing certificate", []string{"--tls-cert", dir + "/nope.crt", "--tls-key", srv.KeyFile}, "TLS_CERT"},
		{"key of another pair", []string{"--tls-cert", srv.CertFile, "--tls-key", ca.File}, "TLS_CERT/TLS_KEY"},
		{"client CA not PEM", []string{"--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile, "--tls-client-ca", srv.KeyFile}, "TLS_CLIENT_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": testenv.SQLiteURL(t), "JWT_SECRET_KEY": strings.Repeat("k", 32)}
			var out, errb strings.Builder
			code := run(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, tc.args...), func(k string) string { return env[k] }, &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line naming %s", code, errb.String(), tc.want)
			}
		})
	}
}
