package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/issue"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// stack is a real issuer (pkg/issue's handler on an httptest server) and any number
// of real verifier programs started in-process, sharing one store and Redis.
type stack struct {
	t        *testing.T
	dbURL    string
	redisURL string
	prefix   string
	issuer   *httptest.Server
	svc      *issue.Service
	env      map[string]string // more environment for the verifiers (OTEL_*…)
}

func newStack(t *testing.T, dbURL, redisURL, prefix string) *stack {
	t.Helper()
	return newSplitStack(t, dbURL, redisURL, redisURL, prefix)
}

// newSplitStack is newStack with the issuer reaching Redis at its own URL (through
// a testenv.Proxy a test can cut) while the verifiers use redisURL. The issuer
// tolerates no refresh-token replay (grace 0), so a second refresh is a reuse.
func newSplitStack(t *testing.T, dbURL, issuerRedisURL, redisURL, prefix string) *stack {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	testenv.Must(t, err, "open store")
	testenv.Must(t, st.Migrate(ctx), "migrate")
	t.Cleanup(func() { st.Close() })

	cfg := issue.DefaultConfig()
	cfg.KeysDir = filepath.Join(t.TempDir(), "keys")
	cfg.Password = issue.PasswordParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} // fast, for tests
	if issuerRedisURL != redisURL {
		cfg.RefreshGrace = 0
	}
	// Every test logs in from 127.0.0.1, and the failover load tests sign in as fast as
	// the machine allows (six workers, hundreds of sign-ins a second on an idle
	// machine): the throttle is tested in pkg/issue, not here.
	cfg.LoginRate.PerIP = issue.Rate{Events: 1_000_000, Per: time.Minute, Burst: 100_000}
	cfg.LoginRate.RefreshPerIP = issue.Rate{Events: 1_000_000, Per: time.Minute, Burst: 100_000}
	deps := issue.Deps{Store: st}
	if issuerRedisURL != "" {
		rdb, err := rediscache.Open(issuerRedisURL)
		testenv.Must(t, err, "redis")
		t.Cleanup(func() { rdb.Close() })
		deps.Cache = rediscache.New(rdb, rediscache.Options{Prefix: prefix})
	}
	// The issuer URL must be known before the server starts: reserve the listener first.
	srv := httptest.NewUnstartedServer(nil)
	cfg.IssuerURL = "http://" + srv.Listener.Addr().String()
	svc, err := issue.New(cfg, deps)
	testenv.Must(t, err, "issue.New")
	t.Cleanup(func() { svc.Close() })
	srv.Config.Handler = svc.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	_, err = svc.AddUser(ctx, "alice@example.com", "alice's password", []string{"admin", "dev"})
	testenv.Must(t, err, "add user")
	_, err = svc.AddUser(ctx, "bob@example.com", "bob's password", nil)
	testenv.Must(t, err, "add user")
	return &stack{t: t, dbURL: dbURL, redisURL: redisURL, prefix: prefix, issuer: srv, svc: svc}
}

// verifier starts the real verifier program on port 0.
func (s *stack) verifier(args ...string) *Main {
	s.t.Helper()
	env := map[string]string{
		"DATABASE_URL":    s.dbURL,
		"REDIS_URL":       s.redisURL,
		"REDIS_PREFIX":    s.prefix,
		"JWKS_URL":        s.issuer.URL + "/.well-known/jwks.json",
		"VERIFIER_ISSUER": s.issuer.URL,
	}
	maps.Copy(env, s.env)
	m := NewMain()
	testenv.Must(s.t, m.ParseFlags(append([]string{"--listen", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }), "parse")
	m.Stdout, m.Stderr = io.Discard, io.Discard
	testenv.Must(s.t, m.Run(context.Background()), "run verifier")
	s.t.Cleanup(func() { m.Close() })
	return m
}

func (s *stack) post(path, bearer string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest("POST", s.issuer.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(s.t, err, "POST %s", path)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (s *stack) login(email, password string) pair {
	s.t.Helper()
	code, body := s.post("/v1/login", "", map[string]string{"email": email, "password": password})
	if code != 200 {
		s.t.Fatalf("login %s: %d %s", email, code, body)
	}
	var p pair
	testenv.Must(s.t, json.Unmarshal(body, &p), "decode pair")
	return p
}

// auth asks a verifier about a token (as a bearer header, or as the cookie).
func auth(t *testing.T, m *Main, token string, cookie bool) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+m.Addr()+"/auth", nil)
	switch {
	case token == "":
	case cookie:
		req.AddCookie(&http.Cookie{Name: "vexen_access", Value: token})
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err, "GET /auth")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func wantStatus(t *testing.T, m *Main, token string, want int) {
	t.Helper()
	if got := auth(t, m, token, false).StatusCode; got != want {
		t.Fatalf("/auth: %d, want %d", got, want)
	}
}

// eventually polls /auth until it answers want (revocation in push mode is applied
// asynchronously; the delay itself is measured by the benchmark, not asserted here).
func eventually(t *testing.T, m *Main, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := auth(t, m, token, false).StatusCode
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/auth still %d after 10s, want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func metric(t *testing.T, m *Main, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + m.Addr() + "/metrics")
	testenv.Must(t, err, "metrics")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func checkAllowed(t *testing.T, m *Main, token string) {
	t.Helper()
	for _, cookie := range []bool{false, true} {
		resp := auth(t, m, token, cookie)
		if resp.StatusCode != 200 {
			t.Fatalf("/auth (cookie %v): %d", cookie, resp.StatusCode)
		}
		if resp.Header.Get("X-Auth-User") == "" || resp.Header.Get("X-Auth-Email") != "alice@example.com" ||
			resp.Header.Get("X-Auth-Roles") != "admin,dev" || resp.Header.Get("X-Auth-Session") == "" {
			t.Fatalf("identity headers: %v", resp.Header)
		}
	}
}

// lifecycle is the issue's "done when" walk, on whatever store and Redis the stack has.
func lifecycle(t *testing.T, s *stack, mode string) {
	v := s.verifier("--revocation", mode)
	p := s.login("alice@example.com", "alice's password")
	checkAllowed(t, v, p.AccessToken)

	wantStatus(t, v, "", 401)
	wantStatus(t, v, "not.a.jwt", 401)
	wantStatus(t, v, p.AccessToken[:len(p.AccessToken)-4]+"AAAA", 401)

	if code, body := s.post("/v1/logout", "", map[string]string{"refresh_token": p.RefreshToken}); code != 204 {
		t.Fatalf("logout: %d %s", code, body)
	}
	if mode == "strict" {
		wantStatus(t, v, p.AccessToken, 401) // the very next request
	} else {
		eventually(t, v, p.AccessToken, 401)
	}
	if !strings.Contains(metric(t, v, "vexen_verifier_cache_requests_total"), `layer="local",result="hit"`) ||
		!strings.Contains(metric(t, v, "vexen_verifier_cache_hit_ratio"), `layer="local"`) {
		t.Fatalf("metrics lack the cache counters:\n%s", metric(t, v, "vexen_verifier_cache"))
	}
}

func TestEmbeddedDefaults(t *testing.T) {
	testenv.Integration(t)
	for _, mode := range []string{"push", "strict"} {
		t.Run(mode, func(t *testing.T) {
			lifecycle(t, newStack(t, testenv.SQLiteURL(t), "", ""), mode)
		})
	}
}

// TestEmbeddedReadmeSequence: the README's quickstart sequence on the embedded
// defaults as scripts/run.sh starts them (SQLite, no Redis, strict): login, /auth
// 200, logout 204, /auth 401 — every time, not most times.
func TestEmbeddedReadmeSequence(t *testing.T) {
	testenv.Integration(t)
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	v := s.verifier("--revocation", "strict")
	for i := range 50 {
		p := s.login("alice@example.com", "alice's password")
		if got := auth(t, v, p.AccessToken, false).StatusCode; got != 200 {
			t.Fatalf("round %d: /auth %d before logout", i, got)
		}
		if code, body := s.post("/v1/logout", p.AccessToken, nil); code != 204 {
			t.Fatalf("round %d: logout %d %s", i, code, body)
		}
		if got := auth(t, v, p.AccessToken, false).StatusCode; got != 401 {
			t.Fatalf("round %d: /auth %d right after the logout's 204, want 401", i, got)
		}
	}
}

// TestMetricsListen: with --metrics-listen the verifier serves /metrics there too
// (and nothing else), and keeps it on its own port; without it there is no second
// listener.
func TestMetricsListen(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		testenv.Must(t, err, "GET %s", url)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	v := s.verifier("--metrics-listen", "127.0.0.1:0")
	if v.MetricsAddr() == "" || v.MetricsAddr() == v.Addr() {
		t.Fatalf("metrics address %q (public %q)", v.MetricsAddr(), v.Addr())
	}
	wantStatus(t, v, "", 401) // one decision to count
	for _, addr := range []string{v.Addr(), v.MetricsAddr()} {
		code, body := get("http://" + addr + "/metrics")
		if code != 200 || !strings.Contains(body, "vexen_verifier_decisions_total") {
			t.Errorf("%s/metrics: %d, decisions counter present %v", addr, code, strings.Contains(body, "vexen_verifier_decisions_total"))
		}
	}
	for _, path := range []string{"/auth", "/healthz", "/"} {
		if code, _ := get("http://" + v.MetricsAddr() + path); code != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404", path, code)
		}
	}
	if off := s.verifier(); off.MetricsAddr() != "" {
		t.Errorf("metrics listener %s without --metrics-listen", off.MetricsAddr())
	}
}

func TestPostgresAndRedis(t *testing.T) {
	for _, mode := range []string{"push", "strict"} {
		t.Run(mode, func(t *testing.T) {
			r := testenv.SharedRedis(t)
			lifecycle(t, newStack(t, testenv.PostgresURL(t), r.URL, r.Prefix), mode)
		})
	}
}

// TestFlushAndRestartKeepDecisions: emptying or restarting Redis costs speed, never
// correctness. Three verifiers; a logout is refused by all; FLUSHALL and a restart
// of Redis leave the revoked token refused and a live one allowed, on verifiers that
// had them cached and on a new one that had not.
func TestFlushAndRestartKeepDecisions(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newStack(t, testenv.PostgresURL(t), r.URL, "")
	vs := []*Main{s.verifier(), s.verifier(), s.verifier("--revocation", "strict")}
	live := s.login("alice@example.com", "alice's password")
	gone := s.login("alice@example.com", "alice's password")
	for _, v := range vs {
		wantStatus(t, v, live.AccessToken, 200)
		wantStatus(t, v, gone.AccessToken, 200)
	}
	if code, _ := s.post("/v1/logout", gone.AccessToken, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	for _, v := range vs {
		eventually(t, v, gone.AccessToken, 401)
	}
	h := sha256.Sum256([]byte(gone.AccessToken))
	if n, _ := r.Client.Exists(context.Background(), "revoked:{"+hex.EncodeToString(h[:])+"}").Result(); n != 1 {
		t.Fatal("no revoked:{h} key after logout")
	}
	ttl, _ := r.Client.TTL(context.Background(), "access_token:{"+hex.EncodeToString(sha(live.AccessToken))+"}").Result()
	if ttl <= 0 || ttl > 15*time.Minute {
		t.Fatalf("TTL access_token:{h} = %v, want (0, 15m]", ttl)
	}

	check := func(step string) {
		t.Helper()
		fresh := s.verifier()
		for i, v := range append(vs, fresh) {
			if got := auth(t, v, gone.AccessToken, false).StatusCode; got != 401 {
				t.Fatalf("%s: verifier %d allows a revoked token (%d)", step, i, got)
			}
			if got := auth(t, v, live.AccessToken, false).StatusCode; got != 200 {
				t.Fatalf("%s: verifier %d refuses a live token (%d)", step, i, got)
			}
		}
	}
	testenv.Must(t, r.Client.FlushAll(context.Background()).Err(), "FLUSHALL")
	check("after FLUSHALL")
	r.Stop(t)
	r.Start(t)
	check("after a Redis restart")

	// A logout while Redis is down still lands in the store; verifiers see it from
	// the store's revocation log.
	r.Stop(t)
	if code, _ := s.post("/v1/logout", live.AccessToken, nil); code != 204 {
		t.Fatalf("logout with Redis down: %d", code)
	}
	for i, v := range vs {
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := auth(t, v, live.AccessToken, false).StatusCode
			if got == 401 || got == 503 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("verifier %d still answers %d for a session revoked while Redis was down", i, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestVerifierBadConfig(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--max-staleness", "soon"}, "max-staleness"},
		{map[string]string{"VERIFIER_REVOCATION": "sometimes"}, nil, "VERIFIER_REVOCATION"},
		{map[string]string{"JWKS_URL": "ftp://x"}, nil, "JWKS_URL"},
		{map[string]string{"TRUSTED_PROXIES": "everyone"}, nil, "TRUSTED_PROXIES"},
		{map[string]string{"REDIS_URL": "localhost:6379"}, nil, "REDIS_URL"},
		{nil, []string{"--rule", "only-one-field"}, "rule"},
		{nil, []string{"--tls-cert", "server.crt"}, "TLS_KEY"},
		{map[string]string{"TLS_KEY": "server.key"}, nil, "TLS_CERT"},
		{map[string]string{"TLS_CLIENT_CA": "proxies.pem"}, nil, "TLS_CLIENT_CA"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tt.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("env %v args %v: exit %d, stderr %q; want 2 and one line naming %s", tt.env, tt.args, code, errb.String(), tt.want)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, v := range []string{"VERIFIER_LISTEN", "VERIFIER_GRPC_LISTEN", "JWKS_URL", "VERIFIER_ISSUER", "VERIFIER_AUDIENCE",
		"COOKIE_NAME", "JWT_SECRET_KEY", "VERIFIER_REVOCATION", "VERIFIER_MAX_STALENESS", "REDIS_URL", "DATABASE_URL",
		"TLS_CERT", "TLS_KEY", "TLS_CLIENT_CA"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("--help lacks %s", v)
		}
	}
}

// TestRedisClientLogsAreJSON: with LOG_FORMAT=json and Redis unreachable, go-redis's
// own messages reach the program's log as JSON lines, not as plain text.
func TestRedisClientLogsAreJSON(t *testing.T) {
	testenv.Integration(t)
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	dead := testenv.FreePort(t) // nothing listens there
	var logs testenv.Buffer
	m := NewMain()
	env := map[string]string{"DATABASE_URL": s.dbURL, "REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", dead),
		"LOG_FORMAT": "json", "JWKS_URL": s.issuer.URL + "/.well-known/jwks.json", "VERIFIER_ISSUER": s.issuer.URL}
	testenv.Must(t, m.ParseFlags([]string{"--listen", "127.0.0.1:0"}, func(k string) string { return env[k] }), "parse")
	m.Stderr = &logs
	testenv.Must(t, m.Run(context.Background()), "run")
	t.Cleanup(func() { m.Close() })
	p := s.login("alice@example.com", "alice's password")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"redis client"`) {
		auth(t, m, p.AccessToken, false) // a lookup: go-redis dials and fails
		if time.Now().After(deadline) {
			t.Fatalf("no go-redis message in the program's log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("not a JSON line: %q", line)
		}
	}
}

// TestDrain: during the shutdown delay /readyz answers 503 while /auth goes on
// deciding; then Close drains the server.
func TestDrain(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	v := s.verifier("--shutdown-delay", "400ms", "--grpc-listen", "127.0.0.1:0")
	p := s.login("alice@example.com", "alice's password")
	ready := func() int {
		resp, err := http.Get("http://" + v.Addr() + "/readyz")
		testenv.Must(t, err, "GET /readyz")
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := ready(); got != 200 {
		t.Fatalf("/readyz before the drain: %d", got)
	}
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); v.Drain(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for ready() != 503 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 while draining")
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantStatus(t, v, p.AccessToken, 200) // still deciding
	<-done
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("Drain returned after %v, before the delay", el)
	}
	wantStatus(t, v, p.AccessToken, 200)
}

func TestVersion(t *testing.T) {
	var help bytes.Buffer
	if run(context.Background(), []string{"--help"}, func(string) string { return "" }, &help, io.Discard); !strings.Contains(help.String(), "--version") {
		t.Errorf("--help does not mention --version:\n%s", help.String())
	}
	for _, args := range [][]string{{"--version"}, {"--listen", "127.0.0.1:0", "-version"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), "verifier ") || !strings.Contains(out.String(), "commit ") || !strings.Contains(out.String(), runtime.Version()) {
			t.Errorf("verifier %q: %d %q %q; want 0 and the version line", args, code, out.String(), errb.String())
		}
	}
}

// TestHealthcheckCommand: `verifier healthcheck URL` exits 0 on a ready verifier,
// 1 when it is not ready (draining), 2 on a bad URL.
func TestHealthcheckCommand(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	v := s.verifier("--shutdown-delay", "0s")
	url := "http://" + v.Addr() + "/readyz"
	code := func(args ...string) int {
		return run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
	}
	if got := code("healthcheck", url); got != 0 {
		t.Fatalf("ready verifier: exit %d", got)
	}
	v.Drain(context.Background())
	if got := code("healthcheck", url); got != 1 {
		t.Fatalf("draining verifier: exit %d, want 1", got)
	}
	if got := code("healthcheck", "ftp://x"); got != 2 {
		t.Fatalf("bad URL: exit %d, want 2", got)
	}
}
