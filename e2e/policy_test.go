package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// e2ePolicy is the access policy the proxy tests run; the reload turns the closed
// area public.
const e2ePolicy = `default: authenticated
rules:
  - name: public
    paths: ["/app/public/**"]
    methods: [GET, HEAD]
    action: public
  - name: admin
    paths: ["/app/admin/**"]
    action: authenticated
    roles: [admin]
  - name: closed
    paths: ["/app/closed/**"]
    action: deny
`

// newPolicyStack is newStack with the verifier on a policy file (returned).
func newPolicyStack(t *testing.T) (*stack, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, file, e2ePolicy)
	return newStack(t, "127.0.0.1", "--policy", file), file
}

func writePolicy(t *testing.T, file, content string) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// runPolicySuite: through the proxy at base, a public path answers without a
// token (and the upstream gets no identity, forged or not), a role-restricted
// path gives 403 to a user without the role and 200 with it, a deny path gives
// 403 to everyone, and a policy reload (SIGHUP) changes the answer without a
// failed request under light load.
func runPolicySuite(t *testing.T, s *stack, base, file string) {
	admin := s.login(t, adminUser)
	plain := s.login(t, plainUser)

	t.Run("public path without a token", func(t *testing.T) {
		a := send(t, "GET", base+"/app/public/page", http.Header{"X-Auth-User": {"forged"}, "X-Auth-Roles": {"admin"}}, "")
		seen := upstreamSaw(t, a)
		for _, h := range []string{"X-Auth-User", "X-Auth-Email", "X-Auth-Roles", "X-Auth-Session", "X-Auth-AMR"} {
			if v := seen.Header.Get(h); v != "" {
				t.Errorf("upstream got %s: %q on an anonymous public request", h, v)
			}
		}
	})
	t.Run("public path with a token carries the identity", func(t *testing.T) {
		seen := upstreamSaw(t, send(t, "GET", base+"/app/public/page", bearer(admin.AccessToken), ""))
		if seen.Header.Get("X-Auth-User") == "" {
			t.Error("no X-Auth-User for a valid token on a public path")
		}
	})
	t.Run("role path", func(t *testing.T) {
		if a := send(t, "GET", base+"/app/admin/users", bearer(plain.AccessToken), ""); a.status != http.StatusForbidden {
			t.Errorf("user without the role: %d, want 403", a.status)
		}
		upstreamSaw(t, send(t, "GET", base+"/app/admin/users", bearer(admin.AccessToken), ""))
		if a := send(t, "GET", base+"/app/admin/users", nil, ""); a.status != http.StatusUnauthorized {
			t.Errorf("no token: %d, want 401", a.status)
		}
	})
	t.Run("deny path", func(t *testing.T) {
		for _, h := range []http.Header{nil, bearer(plain.AccessToken), bearer(admin.AccessToken)} {
			if a := send(t, "GET", base+"/app/closed/x", h, ""); a.status != http.StatusForbidden {
				t.Errorf("deny path: %d, want 403", a.status)
			}
		}
	})
	t.Run("reload under light load", func(t *testing.T) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		var total, failed atomic.Int64
		for range 3 {
			wg.Go(func() {
				for !stop.Load() {
					req, _ := http.NewRequest("GET", base+"/app/public/page", nil)
					resp, err := client.Do(req)
					total.Add(1)
					if err != nil {
						failed.Add(1)
						continue
					}
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
					resp.Body.Close()
				}
			})
		}
		time.Sleep(200 * time.Millisecond)
		// The closed area turns public.
		writePolicy(t, file, "default: authenticated\nrules:\n  - name: reopened\n    paths: [\"/app/closed/**\", \"/app/public/**\"]\n    action: public\n")
		if err := s.verifier.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		ok := waitFor(10*time.Second, func() bool {
			return send(t, "GET", base+"/app/closed/x", nil, "").status == http.StatusOK
		})
		time.Sleep(200 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if !ok {
			t.Fatal("the reloaded policy is not in force after 10s")
		}
		if failed.Load() != 0 || total.Load() == 0 {
			t.Fatalf("%d of %d requests failed during the reload", failed.Load(), total.Load())
		}
		// A broken file: refused, the answer does not change.
		writePolicy(t, file, "rules:\n  - paths: [\"/app/closed/**\"]\n    action: deny\n    typo: 1\n")
		if err := s.verifier.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // a SIGHUP and a poll
		if a := send(t, "GET", base+"/app/closed/x", nil, ""); a.status != http.StatusOK {
			t.Fatalf("after a broken reload: %d, want 200 (the policy in force)", a.status)
		}
	})
}

// TestNginxPolicy: the access policy through nginx/nginx.conf.
func TestNginxPolicy(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)")
	s, file := newPolicyStack(t)
	runPolicySuite(t, s, startNginx(t, bin, s, nil), file)
}

// TestTraefikPolicy: the access policy through traefik/traefik.yml and dynamic.yml.
func TestTraefikPolicy(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	bin := testenv.RequireBinary(t, "traefik", "run scripts/build-traefik.sh (installs into $VEXEN_TOOLS/bin)")
	s, file := newPolicyStack(t)
	runPolicySuite(t, s, startTraefik(t, bin, s, nil), file)
}
