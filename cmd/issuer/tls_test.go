package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestServeTLS: with --tls-cert/--tls-key the issuer serves its API and the
// metrics listener over TLS (1.2 at least), and a certificate rotated on disk is
// served to the next new connection.
func TestServeTLS(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "vexen")
	first := ca.Server(t, dir, "issuer")
	second := ca.Server(t, dir, "next")
	m := NewMain()
	s := m.flags("issuer", func(k string) string { return c.env[k] })
	testenv.Must(t, s.Parse([]string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--tls-cert", first.CertFile, "--tls-key", first.KeyFile}), "parse")
	testenv.Must(t, m.validate(), "validate")
	m.Stderr = io.Discard
	testenv.Must(t, m.Run(context.Background()), "run")
	defer m.Close()

	get := func(url string) (*http.Response, string) {
		t.Helper()
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
		resp, err := hc.Get(url)
		testenv.Must(t, err, "GET %s", url)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get("https://" + m.Addr() + "/.well-known/jwks.json")
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("JWKS over TLS: %d", resp.StatusCode)
	}
	resp, body := get("https://" + m.MetricsAddr() + "/metrics")
	if resp.StatusCode != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics over TLS: %d", resp.StatusCode)
	}

	// Rotation: the new pair on disk is served once the once-a-second check ran.
	for _, f := range [][2]string{{first.CertFile, second.CertFile}, {first.KeyFile, second.KeyFile}} {
		b, err := os.ReadFile(f[1])
		testenv.Must(t, err, "read")
		testenv.Must(t, os.WriteFile(f[0]+".tmp", b, 0o600), "write")
		testenv.Must(t, os.Rename(f[0]+".tmp", f[0]), "rename")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := get("https://" + m.Addr() + "/.well-known/jwks.json")
		if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(second.Cert.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was not served within 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}}}
	if resp, err := hc.Get("https://" + m.Addr() + "/readyz"); err == nil {
		resp.Body.Close()
		t.Fatal("TLS 1.1 accepted")
	}
}
