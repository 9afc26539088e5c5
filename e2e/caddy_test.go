package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestCaddy runs caddy/Caddyfile in Caddy v2 (built by scripts/build-caddy.sh),
// in front of the real issuer, verifier and the echo upstream.
func TestCaddy(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "caddy", "run scripts/build-caddy.sh (installs into $VEXEN_TOOLS/bin)")
	t.Run("the committed Caddyfile is valid and formatted", func(t *testing.T) {
		sample := filepath.Join("..", "caddy", "Caddyfile")
		cmd := exec.Command(bin, "validate", "--config", sample, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("caddy validate: %v\n%s", err, out)
		}
		want, err := os.ReadFile(sample)
		if err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(bin, "fmt", sample).Output()
		if err != nil {
			t.Fatalf("caddy fmt: %v", err)
		}
		if string(got) != string(want) {
			t.Errorf("caddy/Caddyfile is not as caddy fmt writes it (Caddy warns at every start): run caddy fmt --overwrite")
		}
	})

	s := newStack(t, "127.0.0.1")
	listen := startCaddy(t, bin, s)

	runSuite(t, s, target{
		name:       "caddy",
		base:       listen,
		pagePath:   "/app/page?tab=2&sort=name",
		apiPath:    "/api/items",
		downStatus: []int{502},
	})
	t.Run("issuer: only its public paths", func(t *testing.T) { checkIssuerRoutes(t, s, listen) })
}

// startCaddy runs caddy/Caddyfile, rendered with test addresses, in front of s and
// returns its base URL once it answers.
func startCaddy(t *testing.T, bin string, s *stack) string {
	t.Helper()
	port, adminPort := testenv.FreePort(t), testenv.FreePort(t)
	dir := t.TempDir()
	listen := addr(port)
	conf := filepath.Join(dir, "Caddyfile")
	if err := RenderFile(conf, filepath.Join("..", "caddy", "Caddyfile"),
		Replacement{"admin 127.0.0.1:2019", "admin " + addr(adminPort)},
		Replacement{"forward_auth 127.0.0.1:8081", "forward_auth " + s.verifierAddr},
		Replacement{"reverse_proxy 127.0.0.1:9000", "reverse_proxy " + s.upstreamAddr},
		Replacement{"\n:80 {", "\n:" + strconv.Itoa(port) + " {"},
		Replacement{"reverse_proxy 127.0.0.1:8080", "reverse_proxy " + s.issuerAddr},
		Replacement{"http://" + issuerHost + ":80 {", "http://" + issuerHost + ":" + strconv.Itoa(port) + " {"},
	); err != nil {
		t.Fatal(err)
	}
	// Caddy keeps its state (autosave.json, certificates) under XDG dirs: the test's own.
	env := []string{"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "HOME=" + dir}
	p := startProc(t, dir, "caddy", env, bin, "run", "--config", conf, "--adapter", "caddyfile")
	waitProxy(t, p, "http://"+listen+"/api/ready", 30*time.Second)
	return "http://" + listen
}

// TestCaddyPolicy: the access policy through caddy/Caddyfile.
func TestCaddyPolicy(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "caddy", "run scripts/build-caddy.sh (installs into $VEXEN_TOOLS/bin)")
	s, file := newPolicyStack(t)
	runPolicySuite(t, s, startCaddy(t, bin, s), file)
}
