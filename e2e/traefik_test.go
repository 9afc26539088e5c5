package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestTraefik runs traefik/traefik.yml and traefik/dynamic.yml in Traefik v3
// (built by scripts/build-traefik.sh), in front of the real issuer, verifier and
// the echo upstream.
func TestTraefik(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "traefik", "run scripts/build-traefik.sh (installs into $VEXEN_TOOLS/bin)")
	s := newStack(t, "127.0.0.1")
	base := startTraefik(t, bin, s, nil)

	runSuite(t, s, target{
		name:       "traefik",
		base:       base,
		pagePath:   "/app/page?tab=2&sort=name",
		apiPath:    "/api/items",
		downStatus: []int{500},
	})
	t.Run("issuer: only its public paths", func(t *testing.T) { checkIssuerRoutes(t, s, base) })
}

// startTraefik runs traefik/traefik.yml and traefik/dynamic.yml, rendered with test
// addresses and paths, in front of s, and returns its base URL once it answers.
// With tlsTo set, forwardAuth asks the verifier over TLS with the tls options of
// traefik/dynamic-tls.yml, presenting tlsTo.client (none when nil); Traefik is
// then only waited for until it answers at all.
func startTraefik(t *testing.T, bin string, s *stack, tlsTo *proxyTLS) string {
	t.Helper()
	port := testenv.FreePort(t)
	dir := t.TempDir()
	listen := addr(port)
	dynamic := filepath.Join(dir, "dynamic.yml")
	static := filepath.Join(dir, "traefik.yml")
	repl := []Replacement{
		{"http://127.0.0.1:8081/auth", "http://" + s.verifierAddr + "/auth"},
		{"http://127.0.0.1:9000", "http://" + s.upstreamAddr},
		{"http://127.0.0.1:8080", s.issuerURL},
	}
	if tlsTo != nil {
		repl = append(traefikTLS(t, s, tlsTo), repl[1:]...)
	}
	if err := RenderFile(dynamic, filepath.Join("..", "traefik", "dynamic.yml"), repl...); err != nil {
		t.Fatal(err)
	}
	if err := RenderFile(static, filepath.Join("..", "traefik", "traefik.yml"),
		Replacement{`address: ":80"`, `address: "` + listen + `"`},
		Replacement{"filename: /etc/traefik/dynamic.yml", "filename: " + dynamic},
	); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dir, "traefik", nil, bin, "--configFile="+static)
	if tlsTo != nil && !tlsTo.accepted {
		waitAnswer(t, p, "http://"+listen+"/api/ready", 30*time.Second)
	} else {
		waitProxy(t, p, "http://"+listen+"/api/ready", 30*time.Second)
	}
	return "http://" + listen
}
