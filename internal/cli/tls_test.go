package cli

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// tlsServer serves "ok" over HTTPS with o and returns its address.
func tlsServer(t *testing.T, o TLSOptions, log *slog.Logger) string {
	t.Helper()
	cfg, err := ServerTLS(o, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), ServerOptions{}, log)
	srv.TLSConfig = cfg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := Serve(srv, ln)
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// handshake opens a TLS connection and returns it with the serial the server presented.
func handshake(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c, c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// roundTrip sends one HTTP/1.1 request on c and checks the answer.
func roundTrip(t *testing.T, c *tls.Conn) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("old connection: write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") || !strings.HasSuffix(string(buf[:n]), "ok") {
		t.Fatalf("old connection: %q, %v", buf[:n], err)
	}
}

// replace writes src's pair over dst's files, with a later modification time.
func replace(t *testing.T, dst, src testenv.Pair, certOnly bool) {
	t.Helper()
	later := time.Now().Add(time.Minute)
	copyFile := func(to, from string) {
		b, err := os.ReadFile(from)
		testenv.Must(t, err, "read")
		testenv.Must(t, os.WriteFile(to, b, 0o600), "write")
		testenv.Must(t, os.Chtimes(to, later, later), "chtimes")
	}
	copyFile(dst.CertFile, src.CertFile)
	if !certOnly {
		copyFile(dst.KeyFile, src.KeyFile)
	}
}

func TestCertReloaderRotation(t *testing.T) {
	defer func(d time.Duration) { certCheckInterval = d }(certCheckInterval)
	certCheckInterval = 0 // every handshake checks the files

	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "test")
	first := ca.Server(t, dir, "server")
	second := ca.Server(t, dir, "second")
	third := ca.Server(t, dir, "third")
	var logs testenv.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	addr := tlsServer(t, TLSOptions{CertFile: first.CertFile, KeyFile: first.KeyFile}, log)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}}

	old, got := handshake(t, addr, client)
	defer old.Close()
	if want := first.Cert.SerialNumber.String(); got != want {
		t.Fatalf("serial %s, want the first certificate's %s", got, want)
	}

	// Rotated on disk: the next new connection gets the new certificate, the
	// open one goes on working.
	replace(t, first, second, false)
	c, got := handshake(t, addr, client)
	c.Close()
	if want := second.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after rotation: serial %s, want the new certificate's %s", got, want)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs.String())
	}
	roundTrip(t, old)

	// A half-written rotation (certificate of the third pair, key of the second)
	// keeps the second pair in force and logs an error.
	replace(t, first, third, true)
	c, got = handshake(t, addr, client)
	c.Close()
	if want := second.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after a bad pair: serial %s, want the previous certificate's %s", got, want)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "not reloaded") {
		t.Errorf("bad pair not logged as an error:\n%s", logs.String())
	}
	// The key arrives: the third pair is served.
	replace(t, first, third, false)
	c, got = handshake(t, addr, client)
	c.Close()
	if want := third.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after the key arrived: serial %s, want %s", got, want)
	}
	// A file removed keeps the pair in force.
	testenv.Must(t, os.Remove(first.KeyFile), "remove")
	c, got = handshake(t, addr, client)
	c.Close()
	if want := third.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after the key was removed: serial %s, want %s", got, want)
	}
	roundTrip(t, old)
}

func TestCertReloaderChecksAtMostOncePerInterval(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "test")
	first := ca.Server(t, dir, "server")
	second := ca.Server(t, dir, "second")
	r, err := NewCertReloader(first.CertFile, first.KeyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.interval = time.Hour
	r.nextCheck.Store(time.Now().Add(time.Hour).UnixNano())
	replace(t, first, second, false)
	c, _ := r.GetCertificate(nil)
	if c.Leaf.SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("files were read again before the interval ended")
	}
	r.nextCheck.Store(0) // the interval is over
	c, _ = r.GetCertificate(nil)
	if c.Leaf.SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatal("rotation not seen once the interval ended")
	}
}

func TestServerTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "proxies")
	other := testenv.NewCA(t, dir, "other")
	srvPair := ca.Server(t, dir, "server")
	good := ca.Client(t, dir, "nginx", "nginx")
	stranger := other.Client(t, dir, "stranger", "nginx")
	log := slog.New(slog.DiscardHandler)
	addr := tlsServer(t, TLSOptions{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, ClientCAFile: ca.File}, log)

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"certificate from the client CA", []tls.Certificate{good.TLS}, true},
		{"no client certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{stranger.TLS}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				ForceAttemptHTTP2: true,
				TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), Certificates: tc.certs},
			}}
			resp, err := hc.Get("https://" + addr + "/")
			if !tc.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want the handshake refused", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Fatalf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
		})
	}

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11, Certificates: []tls.Certificate{good.TLS}})
		if err == nil {
			c.Close()
			t.Fatal("TLS 1.1 handshake accepted")
		}
	})
}

func TestServerTLSOptions(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "test")
	p := ca.Server(t, dir, "server")
	notPEM := dir + "/not.pem"
	testenv.Must(t, os.WriteFile(notPEM, []byte("hello"), 0o644), "write")
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name  string
		o     TLSOptions
		usage bool   // a configuration error found by Validate
		want  string // in the error
	}{
		{"cert without key", TLSOptions{CertFile: p.CertFile}, true, "TLS_KEY"},
		{"key without cert", TLSOptions{KeyFile: p.KeyFile}, true, "TLS_CERT"},
		{"client CA without TLS", TLSOptions{ClientCAFile: ca.File}, true, "TLS_CLIENT_CA"},
		{"missing cert file", TLSOptions{CertFile: dir + "/nope", KeyFile: p.KeyFile}, false, "TLS_CERT"},
		{"key of another pair", TLSOptions{CertFile: p.CertFile, KeyFile: ca.File}, false, "TLS_CERT/TLS_KEY"},
		{"client CA not PEM", TLSOptions{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientCAFile: notPEM}, false, "TLS_CLIENT_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if verr := tc.o.Validate(); (verr != nil) != tc.usage {
				t.Errorf("Validate: %v, want error %v", verr, tc.usage)
			}
			cfg, err := ServerTLS(tc.o, log)
			if err == nil || cfg != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ServerTLS: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if cfg, err := ServerTLS(TLSOptions{}, log); cfg != nil || err != nil {
		t.Fatalf("no TLS settings: %v, %v; want plain TCP", cfg, err)
	}
	cfg, err := ServerTLS(TLSOptions{CertFile: p.CertFile, KeyFile: p.KeyFile}, log)
	if err != nil || cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("%v: MinVersion %x ClientAuth %v", err, cfg.MinVersion, cfg.ClientAuth)
	}
}

// BenchmarkGetCertificate is the cost the reloader adds to a handshake: an atomic
// load between checks, two stat calls once a second.
func BenchmarkGetCertificate(b *testing.B) {
	dir := b.TempDir()
	ca := testenv.NewCA(b, dir, "test")
	p := ca.Server(b, dir, "server")
	r, err := NewCertReloader(p.CertFile, p.KeyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("between checks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.GetCertificate(nil)
		}
	})
	b.Run("check every call", func(b *testing.B) {
		r.interval = 0
		b.ReportAllocs()
		for b.Loop() {
			r.GetCertificate(nil)
		}
	})
}
