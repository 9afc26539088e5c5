package issue

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/vexen/vexen-auth/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
)

// testParams are cheap argon2id parameters (1 MiB, 1 pass) so tests run fast.
var testParams = PasswordParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// t0 is the fake clock's start: whole microseconds, as the stores keep times.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Service under test with its handler, clock, registry and logs.
type env struct {
	t      testing.TB
	svc    *Service
	store  Store
	clock  *fakeClock
	reg    *prometheus.Registry
	logs   *testenv.Buffer
	hashes atomic.Int64 // argon2 runs since the Service was built
}

// testConfig is DefaultConfig with cheap hashing and keys in a temporary directory.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.KeysDir = t.TempDir()
	cfg.Password = testParams
	return cfg
}

// newEnv builds a Service over st; mod may change the config and deps first.
func newEnv(t testing.TB, st Store, mod func(*Config, *Deps)) *env {
	t.Helper()
	e := &env{t: t, store: st, clock: newFakeClock(), reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	cfg := testConfig(t)
	d := Deps{
		Store:      st,
		Registerer: e.reg,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        e.clock.Now,
	}
	if mod != nil {
		mod(&cfg, &d)
	}
	svc, err := New(cfg, d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	svc.hasher.key = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		e.hashes.Add(1)
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	}
	e.svc = svc
	return e
}

// request is one API call.
type request struct {
	method, path, body string
	header             map[string]string // Content-Type defaults to application/json when body is set
	remote             string            // RemoteAddr; default 192.0.2.10:40000
}

func (e *env) do(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	req.RemoteAddr = "192.0.2.10:40000"
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.svc.Handler().ServeHTTP(w, req)
	return w
}

func (e *env) post(path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: path, body: body})
}

func (e *env) postBearer(path, token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: path, header: map[string]string{"Authorization": "Bearer " + token}})
}

func (e *env) getBearer(path, token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{method: http.MethodGet, path: path, header: map[string]string{"Authorization": "Bearer " + token}})
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func loginBody(email, password string) string {
	return jsonString(map[string]string{"email": email, "password": password})
}

func refreshBody(rt string) string { return jsonString(map[string]string{"refresh_token": rt}) }

// addUser creates a user through the Service.
func (e *env) addUser(email, password string, roles ...string) string {
	e.t.Helper()
	u, err := e.svc.AddUser(e.t.Context(), email, password, roles)
	if err != nil {
		e.t.Fatalf("AddUser(%s): %v", email, err)
	}
	return u.ID
}

// login logs in and returns the pair, failing the test on anything but 200.
func (e *env) login(email, password string) TokenPair {
	e.t.Helper()
	w := e.post("/v1/login", loginBody(email, password))
	return decodePair(e.t, w)
}

func decodePair(t testing.TB, w *httptest.ResponseRecorder) TokenPair {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", w.Code, w.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("token pair: %v; body %s", err, w.Body)
	}
	if len(raw) != 4 {
		t.Fatalf("token pair has fields %v, want exactly access_token, refresh_token, token_type, expires_in", keys(raw))
	}
	var p TokenPair
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.AccessToken == "" || p.RefreshToken == "" || p.TokenType != "Bearer" || p.ExpiresIn <= 0 {
		t.Fatalf("incomplete token pair %s", w.Body)
	}
	return p
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// wantError checks an error answer: status, the contract's JSON shape, the code.
func wantError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) errorBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("error body is not JSON: %v; %s", err, w.Body)
	}
	if len(raw) != 2 {
		t.Fatalf("error body has fields %v, want error and error_description", keys(raw))
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Error != code || b.Description == "" {
		t.Fatalf("error %q (%q), want %q with a description", b.Error, b.Description, code)
	}
	return b
}

// counter reads a counter from the env's registry.
func (e *env) counter(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

var b64url = base64.RawURLEncoding

// errorsIs is errors.Is, with a nil want meaning "no error".
func errorsIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// wrongCSRF returns a token that differs from tok in its first character, so a
// test of a bad CSRF token never sends the good one by chance ("x"+tok[1:] did
// whenever tok began with x: one run in 64).
func wrongCSRF(tok string) string {
	if tok[0] == 'A' {
		return "B" + tok[1:]
	}
	return "A" + tok[1:]
}
