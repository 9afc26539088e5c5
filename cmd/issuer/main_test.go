package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// cli runs the issuer program in-process with a private working directory's data.
type cmdline struct {
	t   testing.TB
	env map[string]string
}

func newCLI(t testing.TB) *cmdline {
	dir := t.TempDir()
	return &cmdline{t: t, env: map[string]string{
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "vexen.db"),
		"ISSUER_KEYS":  filepath.Join(dir, "keys"),
	}}
}

func (c *cmdline) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, func(k string) string { return c.env[k] }, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadConfigExitsTwoWithOneLine(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--access-ttl", "soon"}, "access-ttl"},
		{map[string]string{"ACCESS_TOKEN_TTL": "15 minutes"}, nil, "ACCESS_TOKEN_TTL"},
		{map[string]string{"ISSUER_ALG": "none"}, nil, "ISSUER_ALG"},
		{map[string]string{"ISSUER_ALG": "HS256"}, nil, "JWT_SECRET_KEY"},
		{map[string]string{"TRUSTED_PROXIES": "not-a-cidr"}, nil, "TRUSTED_PROXIES"},
		{map[string]string{"REDIS_URL": "http://x"}, nil, "REDIS_URL"},
		{map[string]string{"LOG_FORMAT": "xml"}, nil, "LOG_FORMAT"},
		{map[string]string{"REFRESH_TOKEN_TTL": "1m"}, nil, "REFRESH_TOKEN_TTL"},
		{nil, []string{"--argon2-memory", "0"}, "ARGON2_MEMORY"},
		{map[string]string{"LOGIN_RATE_IP": "lots"}, nil, "LOGIN_RATE_IP"},
		{nil, []string{"frobnicate"}, "unknown command"},
		{nil, []string{"user", "add", "--password-stdin"}, "--email"},
	}
	for _, tt := range tests {
		c := newCLI(t)
		for k, v := range tt.env {
			c.env[k] = v
		}
		code, _, stderr := c.run("", tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("env %v args %v: exit %d, stderr %q; want exit 2 and one line naming %s", tt.env, tt.args, code, stderr, tt.want)
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	code, out, _ := newCLI(t).run("", "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, v := range []string{"ISSUER_LISTEN", "ISSUER_URL", "ISSUER_AUDIENCE", "ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL",
		"REFRESH_GRACE", "ISSUER_KEYS", "ISSUER_ALG", "JWT_SECRET_KEY", "COOKIE_NAME", "COOKIE_DOMAIN",
		"ALLOWED_REDIRECT_HOSTS", "DEFAULT_REDIRECT", "DATABASE_URL", "REDIS_URL", "LOG_FORMAT"} {
		if !strings.Contains(out, v) {
			t.Errorf("--help does not mention %s", v)
		}
	}
}

func TestAdminCommands(t *testing.T) {
	c := newCLI(t)
	if code, out, errs := c.run("", "migrate"); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: %d %q %q", code, out, errs)
	}
	if code, _, _ := c.run("", "migrate"); code != 0 {
		t.Fatal("second migrate failed")
	}
	if code, out, errs := c.run("correct horse battery\n", "user", "add", "--email", "Alice@Example.com", "--role", "admin", "--role", "dev", "--password-stdin"); code != 0 || !strings.Contains(out, "added") {
		t.Fatalf("user add: %d %q %q", code, out, errs)
	}
	if code, _, errs := c.run("another password\n", "user", "add", "--email", "alice@example.com", "--password-stdin"); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate user add: %d %q", code, errs)
	}
	if code, _, errs := c.run("", "user", "add", "--email", "bob@example.com", "--password-stdin"); code != 2 || !strings.Contains(errs, "password") {
		t.Fatalf("user add without a password: %d %q", code, errs)
	}
	if code, _, errs := c.run("", "user", "disable", "--email", "nobody@example.com"); code != 1 || !strings.Contains(errs, "no user") {
		t.Fatalf("disable unknown: %d %q", code, errs)
	}
	if code, out, _ := c.run("", "sessions", "list", "--email", "alice@example.com"); code != 0 || !strings.Contains(out, "ID") {
		t.Fatalf("sessions list: %d %q", code, out)
	}
	if code, out, _ := c.run("", "sessions", "revoke", "--email", "alice@example.com"); code != 0 || !strings.Contains(out, "0 session") {
		t.Fatalf("sessions revoke: %d %q", code, out)
	}
	if code, out, _ := c.run("", "user", "disable", "--email", "alice@example.com"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %d %q", code, out)
	}
	before, _ := filepath.Glob(filepath.Join(c.env["ISSUER_KEYS"], "*.pem"))
	if len(before) != 0 {
		t.Fatalf("admin commands created %d signing key(s); only serve and keys rotate may", len(before))
	}
	for i := 0; i < 2; i++ {
		if code, out, errs := c.run("", "keys", "rotate"); code != 0 || !strings.Contains(out, "new signing key") {
			t.Fatalf("keys rotate: %d %q %q", code, out, errs)
		}
	}
	files, _ := filepath.Glob(filepath.Join(c.env["ISSUER_KEYS"], "*.pem"))
	if len(files) != len(before)+2 {
		t.Fatalf("%d key files after two rotations, want %d", len(files), len(before)+2)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		testenv.Must(t, err, "stat")
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}

// TestServeInProcess starts the real program on port 0, logs in and shuts down.
func TestServeInProcess(t *testing.T) {
	c := newCLI(t)
	if code, _, errs := c.run("s3cret-password\n", "user", "add", "--email", "carol@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	m := NewMain()
	s := m.flags("issuer", func(k string) string { return c.env[k] })
	testenv.Must(t, s.Parse([]string{"--listen", "127.0.0.1:0"}), "parse")
	testenv.Must(t, m.validate(), "validate")
	var logs bytes.Buffer
	m.Stderr = &logs
	testenv.Must(t, m.Run(context.Background()), "run")
	defer m.Close()

	base := "http://" + m.Addr()
	resp, err := http.Post(base+"/v1/login", "application/json", strings.NewReader(`{"email":"carol@example.com","password":"s3cret-password"}`))
	testenv.Must(t, err, "login")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var pair struct {
		AccessToken, RefreshToken, TokenType string
		ExpiresIn                            int `json:"expires_in"`
	}
	testenv.Must(t, json.Unmarshal(body, &pair), "decode")
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		r, err := http.Get(base + path)
		testenv.Must(t, err, "GET %s", path)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, r.StatusCode)
		}
	}
	testenv.Must(t, m.Close(), "close")
	if strings.Contains(logs.String(), "s3cret-password") || strings.Contains(logs.String(), string(body[:40])) {
		t.Fatal("logs contain a password or a token")
	}
}

func TestVersion(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"--version"}, {"serve", "--version"}, {"migrate", "-version"}} {
		code, out, errs := c.run("", args...)
		if code != 0 || !strings.HasPrefix(out, "issuer ") || !strings.Contains(out, "commit ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("issuer %q: %d %q %q; want 0 and the version line", args, code, out, errs)
		}
	}
	if _, out, _ := c.run("", "--help"); !strings.Contains(out, "--version") {
		t.Errorf("--help does not mention --version:\n%s", out)
	}
	if _, err := os.Stat(strings.TrimPrefix(c.env["DATABASE_URL"], "sqlite:")); !os.IsNotExist(err) {
		t.Errorf("--version opened the database (stat: %v)", err)
	}
}

// A database migrated by a newer release stops serve and migrate at once: exit 2
// and one line that says so, before any port opens.
func TestNewerSchemaRefused(t *testing.T) {
	c := newCLI(t)
	if code, _, errs := c.run("", "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errs)
	}
	db, err := sql.Open("sqlite", strings.TrimPrefix(c.env["DATABASE_URL"], "sqlite:"))
	testenv.Must(t, err, "open")
	_, err = db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, '999999_future.sql', unixepoch())")
	testenv.Must(t, err, "insert")
	db.Close()
	for _, args := range [][]string{{"migrate"}, {"serve", "--listen", "127.0.0.1:0"}} {
		code, _, errs := c.run("", args...)
		if code != 2 || !strings.Contains(errs, "newer than this binary") || strings.Count(errs, "\n") != 1 {
			t.Errorf("issuer %q on a newer schema: exit %d, stderr %q; want 2 and one line", args, code, errs)
		}
	}
}
