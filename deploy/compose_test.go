package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads deploy/compose/compose.yaml with compose-go (the loader docker
// compose uses: interpolation, normalization, consistency checks) and env as .env.
func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "compose")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestCompose(t *testing.T) {
	env := []string{"POSTGRES_PASSWORD=pg-secret", "REDIS_PASSWORD=redis-secret"}
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	want := []string{"issuer", "nginx", "postgres", "redis", "verifier"}
	if got := p.ServiceNames(); strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(want, ",") {
		t.Fatalf("services %v, want %v", got, want)
	}
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	if v := svc("verifier"); v.GetScale() != 2 {
		r := v.GetScale()
		t.Errorf("verifier replicas = %d, want 2", r)
	}
	for _, name := range []string{"postgres", "redis", "nginx", "issuer", "verifier"} {
		hc := svc(name).HealthCheck
		if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" || hc.Disable {
			t.Errorf("%s: health check %+v, want an exec-form test", name, hc)
		}
	}
	// Who waits for whom, and on what.
	for _, dep := range []struct{ service, on, condition string }{
		{"issuer", "postgres", types.ServiceConditionHealthy},
		{"issuer", "redis", types.ServiceConditionHealthy},
		{"verifier", "postgres", types.ServiceConditionHealthy},
		{"verifier", "redis", types.ServiceConditionHealthy},
		{"verifier", "issuer", types.ServiceConditionHealthy},
		{"nginx", "verifier", types.ServiceConditionHealthy},
		{"nginx", "issuer", types.ServiceConditionHealthy},
	} {
		d, ok := svc(dep.service).DependsOn[dep.on]
		if !ok || d.Condition != dep.condition {
			t.Errorf("%s depends_on %s: %+v (present %v), want condition %s", dep.service, dep.on, d, ok, dep.condition)
		}
	}

	// The programs probe themselves with their own binary (the image has no shell).
	for name, want := range map[string]string{"issuer": "CMD issuer healthcheck http://127.0.0.1:8080/readyz",
		"verifier": "CMD verifier healthcheck http://127.0.0.1:8081/readyz"} {
		if got := strings.Join(svc(name).HealthCheck.Test, " "); got != want {
			t.Errorf("%s health check %q, want %q", name, got, want)
		}
	}

	// The programs: the image's commands, wired to the backends of this stack.
	iss, ver := svc("issuer"), svc("verifier")
	if iss.Image != ver.Image || !strings.HasPrefix(iss.Image, "ghcr.io/vexen/vexen-auth:") {
		t.Errorf("issuer image %q, verifier image %q: want the one vexen-auth image", iss.Image, ver.Image)
	}
	if iss.Build == nil || iss.Build.Dockerfile != "Dockerfile" {
		t.Errorf("issuer build: %+v, want the repository's Dockerfile", iss.Build)
	} else if _, err := os.Stat(filepath.Join(iss.Build.Context, iss.Build.Dockerfile)); err != nil {
		t.Errorf("issuer build context: %v", err)
	}
	if strings.Join(iss.Command, " ") != "issuer serve" || strings.Join(ver.Command, " ") != "verifier" {
		t.Errorf("commands: issuer %q, verifier %q", iss.Command, ver.Command)
	}
	for _, s := range []types.ServiceConfig{iss, ver} {
		e := s.Environment
		if v := e["DATABASE_URL"]; v == nil || !strings.HasPrefix(*v, "postgres://vexen:pg-secret@postgres:5432/vexen") {
			t.Errorf("%s DATABASE_URL = %v", s.Name, deref(v))
		}
		if v := e["REDIS_URL"]; v == nil || *v != "redis://:redis-secret@redis:6379/0" {
			t.Errorf("%s REDIS_URL = %v", s.Name, deref(v))
		}
	}
	if v := ver.Environment["JWKS_URL"]; v == nil || *v != "http://issuer:8080/.well-known/jwks.json" {
		t.Errorf("verifier JWKS_URL = %v", deref(v))
	}
	if iss.Environment["VERIFIER_ISSUER"] != nil || deref(ver.Environment["VERIFIER_ISSUER"]) != deref(iss.Environment["ISSUER_URL"]) {
		t.Errorf("verifier's VERIFIER_ISSUER %q must equal the issuer's ISSUER_URL %q", deref(ver.Environment["VERIFIER_ISSUER"]), deref(iss.Environment["ISSUER_URL"]))
	}
	keys := false
	for _, v := range iss.Volumes {
		keys = keys || (v.Type == types.VolumeTypeVolume && v.Target == deref(iss.Environment["ISSUER_KEYS"]))
	}
	if !keys {
		t.Errorf("the issuer's ISSUER_KEYS (%s) is not on a named volume: keys would be lost with the container", deref(iss.Environment["ISSUER_KEYS"]))
	}
	// Every file nginx mounts exists.
	for _, v := range svc("nginx").Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if _, err := os.Stat(v.Source); err != nil {
			t.Errorf("nginx mounts %s: %v", v.Source, err)
		}
	}

	// Without the passwords, the stack refuses to load (no default password).
	if _, err := loadCompose(t, nil); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("loading without POSTGRES_PASSWORD: %v, want an error naming it", err)
	}
}

// TestComposeNginxConfig runs the real nginx's `nginx -t` on the stack's nginx.conf
// and the repository's vexen-auth includes, with only the upstream host names
// replaced (they resolve inside the Compose network only).
func TestComposeNginxConfig(t *testing.T) {
	nginx := tool(t, "nginx")
	root := repoRoot(t)
	dir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := strings.NewReplacer("server verifier:8081", "server 127.0.0.1:8081", "server issuer:8080", "server 127.0.0.1:8080",
		"pid /tmp/nginx.pid", "pid "+filepath.Join(dir, "nginx.pid")).Replace(string(conf))
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("nginx.conf", []byte(c))
	for _, f := range []string{"vexen-auth.conf", "vexen-auth-headers.conf"} {
		b, err := os.ReadFile(filepath.Join(root, "nginx", f))
		if err != nil {
			t.Fatal(err)
		}
		write(f, b)
	}
	run(t, dir, nil, nginx, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "error_log stderr;")
}

func deref(p *string) string {
	if p == nil {
		return "<unset>"
	}
	return *p
}
