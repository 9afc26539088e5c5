package issue

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// fakeCache records the write-through calls; the err fields make them fail.
type fakeCache struct {
	mu       sync.Mutex
	pairs    []rediscache.Pair
	drops    [][3]string // user id, refresh hash, access hash
	revokes  []store.RevokeResult
	sweeps   []string // user ids
	err      error
	pingErr  error
	deadline []bool // whether each call's context had a deadline
}

var _ Cache = (*fakeCache)(nil)

func (c *fakeCache) note(ctx context.Context) {
	_, ok := ctx.Deadline()
	c.deadline = append(c.deadline, ok && ctx.Err() == nil)
}

func (c *fakeCache) StorePair(ctx context.Context, p rediscache.Pair) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note(ctx)
	c.pairs = append(c.pairs, p)
	return c.err
}

func (c *fakeCache) DropRefresh(ctx context.Context, userID, h, access string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note(ctx)
	c.drops = append(c.drops, [3]string{userID, h, access})
	return c.err
}

func (c *fakeCache) SweepUserTokens(ctx context.Context, userID string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note(ctx)
	c.sweeps = append(c.sweeps, userID)
	return 0, c.err
}

func (c *fakeCache) Revoke(ctx context.Context, res store.RevokeResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note(ctx)
	c.revokes = append(c.revokes, res)
	return c.err
}

func (c *fakeCache) Ping(context.Context) error { return c.pingErr }

// revokedHashes lists every token hash the revocations named, and their sessions.
func revokedHashes(res []store.RevokeResult) (hashes, sids []string) {
	for _, r := range res {
		for _, tk := range r.Tokens {
			hashes = append(hashes, tk.Access, tk.Refresh)
		}
		for _, rv := range r.Revocations {
			sids = append(sids, rv.SessionID)
		}
	}
	return hashes, sids
}

func TestWriteThrough(t *testing.T) {
	cache := &fakeCache{}
	e := newEnv(t, newMemStore(), func(_ *Config, d *Deps) { d.Cache = cache })
	uid := e.addUser("wt@example.com", "wt-passwd", "x")
	p := e.login("wt@example.com", "wt-passwd")
	c, _ := e.svc.VerifyAccessToken(p.AccessToken, false)

	if len(cache.pairs) != 1 {
		t.Fatalf("%d StorePair calls after login, want 1", len(cache.pairs))
	}
	if !slices.Equal(cache.sweeps, []string{uid}) {
		t.Errorf("user_tokens sweeps after login = %v, want one for the user", cache.sweeps)
	}
	got := cache.pairs[0]
	now := e.clock.Now()
	if got.UserID != uid || got.Email != "wt@example.com" || got.SessionID != c.SessionID ||
		got.AccessHash != TokenHash(p.AccessToken) || got.RefreshHash != TokenHash(p.RefreshToken) ||
		!got.AccessExpiresAt.Equal(now.Add(15*time.Minute)) || !got.RefreshExpiresAt.Equal(now.Add(720*time.Hour)) ||
		!got.LoginAt.Equal(now) {
		t.Errorf("pair %+v", got)
	}
	payload, _ := b64url.DecodeString(strings.Split(p.AccessToken, ".")[1])
	if string(got.AccessClaims) != string(payload) {
		t.Errorf("cached claims %s, token payload %s", got.AccessClaims, payload)
	}

	e.clock.Advance(time.Minute)
	q := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	if len(cache.drops) != 1 || cache.drops[0] != [3]string{uid, TokenHash(p.RefreshToken), TokenHash(p.AccessToken)} {
		t.Errorf("drops %v, want the rotated pair's hashes", cache.drops)
	}
	if n := len(cache.pairs); n != 2 || cache.pairs[1].RefreshHash != TokenHash(q.RefreshToken) ||
		cache.pairs[1].AccessHash != TokenHash(q.AccessToken) || !cache.pairs[1].LoginAt.Equal(now) {
		t.Errorf("pair after refresh %+v", cache.pairs[n-1])
	}

	if w := e.post("/v1/logout", refreshBody(q.RefreshToken)); w.Code != http.StatusNoContent {
		t.Fatal(w.Code)
	}
	hashes, sids := revokedHashes(cache.revokes)
	for _, h := range []string{TokenHash(p.AccessToken), TokenHash(q.AccessToken), TokenHash(q.RefreshToken)} {
		if !slices.Contains(hashes, h) {
			t.Errorf("logout did not name %s… for revocation (named %v)", h[:8], hashes)
		}
	}
	if !slices.Equal(sids, []string{c.SessionID}) {
		t.Errorf("revoked sessions %v", sids)
	}
	// Logging out again changes nothing and writes nothing.
	e.post("/v1/logout", refreshBody(q.RefreshToken))
	if len(cache.revokes) != 1 {
		t.Errorf("%d Revoke calls after a second logout, want 1", len(cache.revokes))
	}

	// Reuse, logout-all, disable and admin revocation all write through.
	for name, f := range map[string]func(){
		"reuse": func() {
			r := e.login("wt@example.com", "wt-passwd")
			decodePair(t, e.post("/v1/refresh", refreshBody(r.RefreshToken)))
			e.clock.Advance(time.Minute)
			e.post("/v1/refresh", refreshBody(r.RefreshToken))
		},
		"logout-all": func() { e.postBearer("/v1/logout-all", e.login("wt@example.com", "wt-passwd").AccessToken) },
		"admin":      func() { e.login("wt@example.com", "wt-passwd"); e.svc.RevokeSessions(t.Context(), "wt@example.com") },
	} {
		before := len(cache.revokes)
		f()
		if len(cache.revokes) != before+1 || len(cache.revokes[before].Revocations) != 1 {
			t.Errorf("%s: Revoke calls %d → %d", name, before, len(cache.revokes))
		}
	}
	e.login("wt@example.com", "wt-passwd")
	if err := e.svc.DisableUser(t.Context(), "wt@example.com"); err != nil {
		t.Fatal(err)
	}
	last := cache.revokes[len(cache.revokes)-1]
	if len(last.Revocations) != 1 || last.Revocations[0].Reason != store.ReasonDisabled {
		t.Errorf("disable wrote %+v", last)
	}
	for i, ok := range cache.deadline {
		if !ok {
			t.Errorf("cache call %d ran without a deadline", i)
		}
	}
}

// TestRedisFailuresDoNotFail: with every Redis call failing, login, refresh, logout
// and logout-all still answer as usual; the failures are counted and logged.
func TestRedisFailuresDoNotFail(t *testing.T) {
	cache := &fakeCache{err: errors.New("dial tcp 127.0.0.1:6379: connection refused")}
	e := newEnv(t, newMemStore(), func(_ *Config, d *Deps) { d.Cache = cache })
	e.addUser("rf@example.com", "rf-passwd")
	p := e.login("rf@example.com", "rf-passwd")
	q := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	if w := e.post("/v1/logout", refreshBody(q.RefreshToken)); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	r := e.login("rf@example.com", "rf-passwd")
	if w := e.postBearer("/v1/logout-all", r.AccessToken); w.Code != http.StatusNoContent {
		t.Fatalf("logout-all: %d", w.Code)
	}
	for op, want := range map[string]float64{"store_pair": 3, "drop_refresh": 1, "revoke": 2} {
		if got := e.counter("vexen_issuer_redis_errors_total", "op", op); got != want {
			t.Errorf("redis_errors_total{op=%s} = %v, want %v", op, got, want)
		}
	}
	if !strings.Contains(e.logs.String(), `"level":"WARN"`) || !strings.Contains(e.logs.String(), "connection refused") {
		t.Errorf("no Warn line for the Redis failures:\n%s", e.logs)
	}
}

type failingLimiter struct{ calls atomic.Int64 }

func (l *failingLimiter) Reserve(context.Context, string, Rate) (time.Duration, error) {
	l.calls.Add(1)
	return 0, errors.New("redis: connection pool timeout")
}

func (l *failingLimiter) Release(context.Context, string, Rate) error {
	l.calls.Add(1)
	return errors.New("redis: connection pool timeout")
}

// TestLimiterFailureFallsBack: when the shared limiter fails, the in-memory one still
// throttles.
func TestLimiterFailureFallsBack(t *testing.T) {
	lim := &failingLimiter{}
	e := newEnv(t, newMemStore(), func(c *Config, d *Deps) {
		d.Limiter = lim
		c.LoginRate.PerIP = Rate{Events: 2, Per: time.Minute, Burst: 2}
	})
	e.addUser("lf@example.com", "lf-passwd")
	e.login("lf@example.com", "lf-passwd")
	e.login("lf@example.com", "lf-passwd")
	wantError(t, e.post("/v1/login", loginBody("lf@example.com", "lf-passwd")), http.StatusTooManyRequests, "rate_limited")
	if lim.calls.Load() == 0 || e.counter("vexen_issuer_redis_errors_total", "op", "rate_limit") == 0 {
		t.Error("the failing limiter was not asked, or its failure not counted")
	}
}

func TestReadyz(t *testing.T) {
	st := newMemStore()
	cache := &fakeCache{}
	e := newEnv(t, st, func(_ *Config, d *Deps) { d.Cache = cache })
	get := func() *httptest.ResponseRecorder { return e.do(request{method: "GET", path: "/readyz"}) }
	if w := get(); w.Code != 200 {
		t.Fatalf("ready: %d", w.Code)
	}
	cache.pingErr = errors.New("redis down")
	if b := wantError(t, get(), 503, "not_ready"); b.Description != "redis unreachable" {
		t.Errorf("description %q", b.Description)
	}
	st.ping = func(context.Context) error { return errors.New("db down") }
	if b := wantError(t, get(), 503, "not_ready"); b.Description != "store unreachable" {
		t.Errorf("description %q", b.Description)
	}
	// Liveness does not depend on either.
	if w := e.do(request{method: "GET", path: "/healthz"}); w.Code != 200 {
		t.Errorf("healthz: %d", w.Code)
	}
}

func TestStoreErrorIs500(t *testing.T) {
	st := newMemStore()
	e := newEnv(t, st, nil)
	st.userByEmail = func(context.Context, string) (store.User, error) {
		return store.User{}, errors.New("pq: relation users does not exist at 10.0.0.5")
	}
	w := e.post("/v1/login", loginBody("a@example.com", "password"))
	b := wantError(t, w, http.StatusInternalServerError, "server_error")
	if strings.Contains(b.Description, "10.0.0.5") || strings.Contains(w.Body.String(), "relation") {
		t.Errorf("internal detail leaked to the client: %s", w.Body)
	}
	if !strings.Contains(e.logs.String(), "relation users does not exist") {
		t.Error("the detail was not logged")
	}
	if got := e.counter("vexen_issuer_logins_total", "result", "error"); got != 1 {
		t.Errorf("logins_total{error} = %v", got)
	}
}

// TestDisabledBetweenCheckAndInsert: the store refuses the session (user disabled in
// the meantime): the answer is the ordinary invalid_credentials.
func TestDisabledBetweenCheckAndInsert(t *testing.T) {
	st := newMemStore()
	e := newEnv(t, st, nil)
	e.addUser("race@example.com", "race-pass")
	st.createSession = func(context.Context, store.Session, store.RefreshToken) error { return store.ErrSessionRevoked }
	wantError(t, e.post("/v1/login", loginBody("race@example.com", "race-pass")), http.StatusUnauthorized, "invalid_credentials")
}

func TestClientIP(t *testing.T) {
	e := newEnv(t, newMemStore(), func(c *Config, _ *Deps) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "203.0.113.9:1234", nil, "203.0.113.9"},
		{"untrusted peer's XFF ignored", "203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy", "127.0.0.1:1234", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entry", "127.0.0.1:1234", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"proxy chain", "127.0.0.1:1234", []string{"198.51.100.1, 10.1.1.1"}, "198.51.100.1"},
		{"multiple headers", "10.0.0.1:1234", []string{"6.6.6.6", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},
		{"all trusted", "127.0.0.1:1234", []string{"10.0.0.7, 10.0.0.8"}, "10.0.0.7"},
		{"garbage stops the walk", "127.0.0.1:1234", []string{"198.51.100.1, junk, 10.0.0.8"}, "10.0.0.8"},
		{"no XFF from proxy", "127.0.0.1:1234", nil, "127.0.0.1"},
		{"IPv6 peer", "[::1]:1234", []string{"2001:db8::7"}, "2001:db8::7"},
		{"mapped IPv4", "[::ffff:127.0.0.1]:1234", []string{"198.51.100.1"}, "198.51.100.1"},
		{"entry with port", "127.0.0.1:1234", []string{"198.51.100.1:5555"}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := e.svc.clientIP(r); got.String() != tt.want {
				t.Errorf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestLogsHoldNoSecrets runs every flow with debug logging and failures, and looks
// for passwords, tokens and whole token hashes in the logs.
func TestLogsHoldNoSecrets(t *testing.T) {
	cache := &fakeCache{err: errors.New("redis down")}
	e := newEnv(t, newMemStore(), func(_ *Config, d *Deps) { d.Cache = cache })
	const pw = "Tr0ub4dor&3-unique"
	e.addUser("log@example.com", pw)
	e.post("/v1/login", loginBody("log@example.com", pw+"x"))
	e.post("/v1/login", loginBody("nobody@example.com", pw))
	p := e.login("log@example.com", pw)
	q := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	e.clock.Advance(time.Minute)
	e.post("/v1/refresh", refreshBody(p.RefreshToken)) // reuse: logged at Warn
	r := e.login("log@example.com", pw)
	e.postBearer("/v1/logout", r.AccessToken)
	e.post("/v1/logout", refreshBody(r.RefreshToken))
	logs := e.logs.String()
	if !strings.Contains(logs, "refresh token reused") {
		t.Fatalf("the flows did not log what they should:\n%s", logs)
	}
	for _, secret := range []string{pw, p.AccessToken, p.RefreshToken, q.AccessToken, q.RefreshToken, r.AccessToken, r.RefreshToken,
		TokenHash(p.RefreshToken), TokenHash(p.AccessToken), strings.Split(p.AccessToken, ".")[2]} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret (%.12s…)", secret)
		}
	}
}

// TestHashConcurrency: no more than HashConcurrency argon2 runs at once; a waiting
// login gives up with its context.
func TestHashConcurrency(t *testing.T) {
	e := newEnv(t, newMemStore(), func(c *Config, _ *Deps) { c.HashConcurrency = 1 })
	e.addUser("hc@example.com", "hc-passwd")
	release := make(chan struct{})
	var running, peak atomic.Int64
	inner := e.svc.hasher.key
	e.svc.hasher.key = func(pw, salt []byte, tm, m uint32, th uint8, kl uint32) []byte {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		defer running.Add(-1)
		return inner(pw, salt, tm, m, th, kl)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			req := LoginRequest{Email: "hc@example.com", Password: "hc-passwd", ClientIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}
			if _, err := e.svc.Login(context.Background(), req); err != nil {
				t.Errorf("login %d: %v", i, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Wait until one login holds the slot, then a fifth one times out in the queue.
	for running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := e.svc.Login(ctx, LoginRequest{Email: "hc@example.com", Password: "hc-passwd", ClientIP: netip.MustParseAddr("192.0.2.99")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued login: %v, want the context's error", err)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 1 {
		t.Errorf("%d hashes ran at once, want 1", p)
	}
}

// TestNewAdmin: the admin Service touches no key files.
func TestNewAdmin(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeysDir = filepath.Join(t.TempDir(), "keys")
	svc, err := NewAdmin(cfg, Deps{Store: newMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddUser(t.Context(), "adm@example.com", "adm-passwd", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.KeysDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewAdmin touched the keys directory: %v", err)
	}
	if _, err := svc.Login(t.Context(), LoginRequest{Email: "adm@example.com", Password: "adm-passwd"}); !errors.Is(err, ErrNoKey) {
		t.Errorf("Login on an admin Service: %v, want ErrNoKey", err)
	}
	if err := svc.LogoutAccess(t.Context(), "a.b.c"); !errors.Is(err, ErrNoKey) {
		t.Errorf("LogoutAccess on an admin Service: %v, want ErrNoKey", err)
	}
	if _, err := svc.Refresh(t.Context(), RefreshRequest{RefreshToken: newRefreshToken()}); !errors.Is(err, ErrNoKey) {
		t.Errorf("Refresh on an admin Service: %v, want ErrNoKey", err)
	}
}

// TestKeyRescanLoop: a key added by RotateKey signs without a restart.
func TestKeyRescanLoop(t *testing.T) {
	e := newEnv(t, newMemStore(), func(c *Config, d *Deps) {
		c.KeyRescan = 10 * time.Millisecond
		c.KeyPrepublish = 50 * time.Millisecond
		d.Now = time.Now
	})
	old := e.svc.KeyID()
	kid, err := RotateKey(e.svc.Config().KeysDir, AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.KeyID() != kid {
		if time.Now().After(deadline) {
			t.Fatalf("signer still %s (old %s), want %s", e.svc.KeyID(), old, kid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(string(e.svc.JWKS()), old) {
		t.Error("the old key left the JWKS at once")
	}
	e.svc.Close()
	e.svc.Close() // twice is fine
}

func TestDepsRequired(t *testing.T) {
	if _, err := New(DefaultConfig(), Deps{}); err == nil {
		t.Error("New without a store")
	}
	var nilCache *rediscache.Cache
	e := newEnv(t, newMemStore(), func(_ *Config, d *Deps) { d.Cache = nilCache })
	e.addUser("nc@example.com", "nc-passwd")
	e.login("nc@example.com", "nc-passwd") // a typed nil cache is no cache, not a panic
}

// TestDisabledUserNeverGetsASession: the issuer itself refuses a disabled user; it
// does not rely on the store to.
func TestDisabledUserNeverGetsASession(t *testing.T) {
	st := newMemStore()
	e := newEnv(t, st, nil)
	e.addUser("off@example.com", "off-passwd")
	if err := e.svc.DisableUser(t.Context(), "off@example.com"); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	st.createSession = func(context.Context, store.Session, store.RefreshToken) error { calls.Add(1); return nil }
	wantError(t, e.post("/v1/login", loginBody("off@example.com", "off-passwd")), http.StatusUnauthorized, "invalid_credentials")
	if calls.Load() != 0 {
		t.Error("a session was created for a disabled user")
	}
}

// cancellingStore cancels the caller's context once the revocation has committed, as
// a client hanging up at that moment would.
type cancellingStore struct {
	*memStore
	cancel context.CancelFunc
}

func (s cancellingStore) RevokeSession(ctx context.Context, id, reason string, now time.Time) (store.RevokeResult, error) {
	res, err := s.memStore.RevokeSession(ctx, id, reason, now)
	s.cancel()
	return res, err
}

// TestRevocationSurvivesHangUp: the Redis write-through of a committed revocation runs
// even when the request's context is cancelled right after the commit.
func TestRevocationSurvivesHangUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cache := &fakeCache{}
	st := cancellingStore{memStore: newMemStore(), cancel: cancel}
	e := newEnv(t, st, func(_ *Config, d *Deps) { d.Cache = cache })
	e.addUser("hang@example.com", "hang-passw")
	p := e.login("hang@example.com", "hang-passw")
	if err := e.svc.Logout(ctx, p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Fatal("the test's context was not cancelled")
	}
	if len(cache.revokes) != 1 || !cache.deadline[len(cache.deadline)-1] {
		t.Fatalf("Revoke calls %d, last context live %v; want the revocation written with a live context",
			len(cache.revokes), cache.deadline)
	}
}
