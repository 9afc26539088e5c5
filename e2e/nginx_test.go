package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestNginx runs nginx/nginx.conf (with nginx/vexen-auth.conf and
// nginx/vexen-auth-headers.conf) in Debian's nginx, in front of the real issuer,
// verifier and the echo upstream.
func TestNginx(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)")

	t.Run("the committed files pass nginx -t as they are", func(t *testing.T) {
		dir := t.TempDir()
		var repl []Replacement
		if os.Geteuid() != 0 {
			// Only root may write /var/log/nginx; the addresses stay as committed.
			repl = []Replacement{{"/var/log/nginx/", dir + "/"}}
		}
		for _, name := range []string{"nginx.conf", "vexen-auth.conf", "vexen-auth-headers.conf"} {
			r := repl
			if name != "nginx.conf" {
				r = nil
			}
			if err := RenderFile(filepath.Join(dir, name), filepath.Join("..", "nginx", name), r...); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command(bin, "-t", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log")).CombinedOutput()
		if err != nil {
			t.Fatalf("nginx -t: %v\n%s", err, out)
		}
	})

	s := newStack(t, "127.0.0.1")
	base := startNginx(t, bin, s, nil)

	runSuite(t, s, target{
		name:       "nginx",
		base:       base,
		pagePath:   "/app/page?tab=2&sort=name",
		apiPath:    "",
		downStatus: []int{500},
	})
	t.Run("issuer: only its public paths", func(t *testing.T) { checkIssuerRoutes(t, s, base) })
}

// startNginx runs nginx/nginx.conf (with its two includes), rendered with test
// addresses and paths, in front of s, and returns its base URL once it answers.
// With tlsTo set, nginx asks the verifier over TLS (nginx/vexen-auth-tls.conf),
// presenting tlsTo.client (none when nil); it is then only waited for until it
// answers at all, since a refused client certificate makes every answer a 500.
func startNginx(t *testing.T, bin string, s *stack, tlsTo *proxyTLS) string {
	t.Helper()
	port := testenv.FreePort(t)

	// nginx runs as root here and drops its workers to www-data, which must be able
	// to reach the temp directories: a world-traversable prefix of our own.
	prefix, err := os.MkdirTemp("", "vexen-e2e-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	for _, d := range []string{"", "conf", "logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	listen := addr(port)
	repl := map[string][]Replacement{
		"nginx.conf": {
			{"pid /run/nginx.pid;", "pid " + filepath.Join(prefix, "logs", "nginx.pid") + ";"},
			{"/var/log/nginx/", filepath.Join(prefix, "logs") + "/"},
			{"/var/lib/nginx/", filepath.Join(prefix, "temp") + "/"},
			{"server 127.0.0.1:8081;", "server " + s.verifierAddr + ";"},
			{"server 127.0.0.1:9000;", "server " + s.upstreamAddr + ";"},
			{"server 127.0.0.1:8080;", "server " + s.issuerAddr + ";"},
			{"listen 80;", "listen " + listen + ";"},
		},
		"vexen-auth.conf":         nil,
		"vexen-auth-headers.conf": nil,
	}
	if tlsTo != nil {
		repl["nginx.conf"] = append(repl["nginx.conf"], Replacement{"include vexen-auth.conf;", "include vexen-auth.conf;\n        include vexen-auth-tls.conf;"})
		repl["vexen-auth.conf"] = []Replacement{{"proxy_pass http://vexen_verifier/", "proxy_pass https://vexen_verifier/"}}
		r := []Replacement{
			{"/etc/nginx/vexen/verifier-ca.pem", tlsTo.pki.ca.File},
			{"proxy_ssl_name          verifier.internal;", "proxy_ssl_name          " + verifierName + ";"},
		}
		if c := tlsTo.client; c != nil {
			r = append(r, Replacement{"/etc/nginx/vexen/nginx-client.crt", c.CertFile}, Replacement{"/etc/nginx/vexen/nginx-client.key", c.KeyFile})
		} else {
			r = append(r, Replacement{"proxy_ssl_certificate     /etc/nginx/vexen/nginx-client.crt;", ""},
				Replacement{"proxy_ssl_certificate_key /etc/nginx/vexen/nginx-client.key;", ""})
		}
		repl["vexen-auth-tls.conf"] = r
	}
	if os.Geteuid() != 0 {
		// "user" needs root; without it nginx warns and runs as the current user.
		repl["nginx.conf"] = append(repl["nginx.conf"], Replacement{"user www-data;", ""})
	}
	for name, r := range repl {
		if err := RenderFile(filepath.Join(prefix, "conf", name), filepath.Join("..", "nginx", name), r...); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join("conf", "nginx.conf")
	errLog := filepath.Join("logs", "error.log")
	p := startProc(t, t.TempDir(), "nginx", nil, bin, "-p", prefix+"/", "-c", conf, "-e", errLog, "-g", "daemon off;")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(prefix, errLog))
			t.Logf("--- nginx error.log ---\n%s", tailString(string(b), 40))
		}
	})
	if tlsTo != nil && !tlsTo.accepted {
		waitAnswer(t, p, "http://"+listen+"/", 20*time.Second)
	} else {
		waitProxy(t, p, "http://"+listen+"/", 20*time.Second)
	}
	return "http://" + listen
}
