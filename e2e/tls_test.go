package e2e

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// verifierName is the name in the verifier's test certificate that nginx checks
// (proxy_ssl_name); Traefik checks the address's IP, 127.0.0.1, which it also carries.
const verifierName = "verifier.internal"

// verifierPKI is a throwaway PKI for a verifier serving TLS with client
// certificates: ca signs the verifier's certificate, proxies signs the proxies'
// client certificates (the verifier's --tls-client-ca), and stranger is a client
// certificate from a CA the verifier does not trust.
type verifierPKI struct {
	ca, proxies     *testenv.CA
	server          testenv.Pair
	proxy, stranger testenv.Pair
}

func newPKI(t *testing.T) *verifierPKI {
	t.Helper()
	dir := t.TempDir()
	p := &verifierPKI{ca: testenv.NewCA(t, dir, "verifier"), proxies: testenv.NewCA(t, dir, "proxies")}
	p.server = p.ca.Server(t, dir, "verifier", verifierName)
	p.proxy = p.proxies.Client(t, dir, "proxy", "proxy")
	p.stranger = testenv.NewCA(t, dir, "other").Client(t, dir, "stranger", "proxy")
	return p
}

// args are the verifier's TLS flags.
func (p *verifierPKI) args() []string {
	return []string{"--tls-cert", p.server.CertFile, "--tls-key", p.server.KeyFile, "--tls-client-ca", p.proxies.File}
}

// client is an HTTPS client presenting the proxies' certificate.
func (p *verifierPKI) client() *http.Client {
	return &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{p.proxy.TLS}}}}
}

// proxyTLS is how a proxy talks to a TLS verifier: the client certificate it
// presents (nil: none) and whether the verifier accepts it.
type proxyTLS struct {
	pki      *verifierPKI
	client   *testenv.Pair
	accepted bool
}

// cases are the proxy's client certificates to try, the accepted one last
// (runSuite stops the verifier at its end).
func (p *verifierPKI) cases() []struct {
	name string
	to   *proxyTLS
} {
	return []struct {
		name string
		to   *proxyTLS
	}{
		{"no client certificate", &proxyTLS{pki: p}},
		{"client certificate from an untrusted CA", &proxyTLS{pki: p, client: &p.stranger}},
		{"client certificate from the client CA", &proxyTLS{pki: p, client: &p.proxy, accepted: true}},
	}
}

// waitAnswer polls url (a routed path) until the proxy answers anything but 404:
// it is listening and has loaded its routes (Traefik answers 404 until then).
func waitAnswer(t testing.TB, p *proc, url string, timeout time.Duration) {
	t.Helper()
	pollStatus(t, &http.Client{Timeout: time.Second}, p, url, timeout, "answering",
		func(code int) bool { return code != http.StatusNotFound })
}

// refusedClosed checks that a proxy whose client certificate the verifier
// refuses lets nothing through: a valid token gets a 5xx and the upstream sees nothing.
func refusedClosed(t *testing.T, s *stack, url string) {
	t.Helper()
	token := s.login(t, adminUser).AccessToken
	before := s.echo.Hits()
	for _, h := range []http.Header{with(bearer(token), "Accept", "application/json"), browserNav, apiCall} {
		a := send(t, http.MethodGet, url, h, "")
		if a.status != http.StatusInternalServerError {
			t.Errorf("status %d, want 500 (the verifier refused the proxy's handshake); body %.200s", a.status, a.body)
		}
	}
	if n := s.echo.Hits() - before; n != 0 {
		t.Errorf("the upstream got %d request(s) although the proxy could not ask the verifier", n)
	}
}

// TestNginxTLS: nginx asks a verifier that serves TLS and requires client
// certificates, with nginx/vexen-auth-tls.conf (proxy_ssl_certificate,
// proxy_ssl_trusted_certificate, proxy_ssl_verify on). Without a client
// certificate, or with one from another CA, nothing passes; with the right one,
// the whole proxy suite passes over TLS.
func TestNginxTLS(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)")
	pki := newPKI(t)
	s := newStackTLS(t, "127.0.0.1", pki)
	for _, tc := range pki.cases() {
		t.Run(tc.name, func(t *testing.T) {
			base := startNginx(t, bin, s, tc.to)
			if !tc.to.accepted {
				refusedClosed(t, s, base+"/app/page")
				return
			}
			runSuite(t, s, target{name: "nginx", base: base, pagePath: "/app/page?tab=2&sort=name", downStatus: []int{500}})
		})
	}
}

// TestTraefikTLS: Traefik's forwardAuth asks a verifier that serves TLS and
// requires client certificates, with the tls options of traefik/dynamic-tls.yml.
func TestTraefikTLS(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "traefik", "run scripts/build-traefik.sh (installs into $VEXEN_TOOLS/bin)")
	pki := newPKI(t)
	s := newStackTLS(t, "127.0.0.1", pki)
	for _, tc := range pki.cases() {
		t.Run(tc.name, func(t *testing.T) {
			base := startTraefik(t, bin, s, tc.to)
			if !tc.to.accepted {
				refusedClosed(t, s, base+"/api/items")
				return
			}
			runSuite(t, s, target{name: "traefik", base: base, pagePath: "/app/page?tab=2&sort=name", apiPath: "/api/items", downStatus: []int{500}})
		})
	}
}

// traefikTLS returns the replacements that turn dynamic.yml's two forwardAuth
// addresses into those of traefik/dynamic-tls.yml, with its tls block (paths
// replaced; cert and key dropped when the proxy presents none).
func traefikTLS(t *testing.T, s *stack, to *proxyTLS) []Replacement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "traefik", "dynamic-tls.yml"))
	testenv.Must(t, err, "read dynamic-tls.yml")
	snippet := string(b)
	const start, end = "        tls:\n", "traefik-client.key\n"
	i := strings.Index(snippet, start)
	j := strings.Index(snippet, end)
	if i < 0 || j < i {
		t.Fatal("traefik/dynamic-tls.yml: no tls block with ca, cert and key")
	}
	repl := []Replacement{{"/etc/traefik/vexen/verifier-ca.pem", to.pki.ca.File}}
	if c := to.client; c != nil {
		repl = append(repl, Replacement{"/etc/traefik/vexen/traefik-client.crt", c.CertFile}, Replacement{"/etc/traefik/vexen/traefik-client.key", c.KeyFile})
	} else {
		repl = append(repl, Replacement{"          cert: /etc/traefik/vexen/traefik-client.crt\n", ""}, Replacement{"          key: /etc/traefik/vexen/traefik-client.key\n", ""})
	}
	block, err := Render(snippet[i:j+len(end)], repl...)
	testenv.Must(t, err, "render the tls block")
	var out []Replacement
	for _, path := range []string{"/auth", "/auth?mode=browser"} {
		tlsAddr := `address: "https://127.0.0.1:8081` + path + `"`
		if !strings.Contains(snippet, tlsAddr) {
			t.Fatalf("traefik/dynamic-tls.yml lacks %s", tlsAddr)
		}
		out = append(out, Replacement{`address: "http://127.0.0.1:8081` + path + `"`,
			`address: "https://` + s.verifierAddr + path + `"` + "\n" + strings.TrimSuffix(block, "\n")})
	}
	return out
}
