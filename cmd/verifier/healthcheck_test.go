package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestHealthcheckClientCertificate: `verifier healthcheck` against the real
// verifier's HTTPS listener that requires client certificates (--tls-client-ca):
// ready with --cacert/--cert/--key; refused (exit 1) without a client
// certificate, with one from another CA, or without the server's CA; bad flags
// exit 2.
func TestHealthcheckClientCertificate(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "vexen")
	proxies := testenv.NewCA(t, dir, "proxies")
	other := testenv.NewCA(t, dir, "other")
	srv := ca.Server(t, dir, "verifier")
	probe := proxies.Client(t, dir, "probe", "healthcheck")
	stranger := other.Client(t, dir, "stranger", "healthcheck")
	v := s.verifier("--tls-cert", srv.CertFile, "--tls-key", srv.KeyFile, "--tls-client-ca", proxies.File)
	ready := "https://" + v.Addr() + "/readyz"

	hc := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		code := run(ctx, append([]string{"healthcheck"}, args...), func(string) string { return "" }, &out, &errb)
		return code, out.String() + errb.String()
	}
	var code int
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if code, out = hc("--cacert", ca.File, "--cert", probe.CertFile, "--key", probe.KeyFile, ready); code == 0 {
			break
		}
	}
	if code != 0 || !strings.Contains(out, ": 200") {
		t.Fatalf("with the client certificate: exit %d, %q; want 0", code, out)
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"no client certificate", []string{"--cacert", ca.File, ready}, 1},
		{"client certificate of another CA", []string{"--cacert", ca.File, "--cert", stranger.CertFile, "--key", stranger.KeyFile, ready}, 1},
		{"server CA not trusted", []string{"--cert", probe.CertFile, "--key", probe.KeyFile, ready}, 1},
		{"plain http to the TLS listener", []string{"http://" + v.Addr() + "/readyz"}, 1},
		{"--cert without --key", []string{"--cert", probe.CertFile, ready}, 2},
		{"--key without --cert", []string{"--key", probe.KeyFile, ready}, 2},
		{"unreadable CA", []string{"--cacert", dir + "/missing.pem", ready}, 2},
		{"key that does not match", []string{"--cert", probe.CertFile, "--key", stranger.KeyFile, ready}, 2},
		{"TLS flags with an http URL", []string{"--cacert", ca.File, "http://" + v.Addr() + "/readyz"}, 2},
		{"unknown flag", []string{"--insecure", ready}, 2},
	} {
		if code, out := hc(tc.args...); code != tc.want {
			t.Errorf("%s: exit %d (%q), want %d", tc.name, code, out, tc.want)
		}
	}
	if code, out := hc("--help"); code != 0 || !strings.Contains(out, "--cacert") || !strings.Contains(out, "--tls-client-ca") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}
