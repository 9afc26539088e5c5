package verify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/postgres"
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"
	"github.com/vexen/vexen-auth/pkg/verify"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// The integration tests run the verifier against the real stores (SQLite and
// PostgreSQL) and a real Redis, with the issuer's side played by the store and
// rediscache calls the issuer makes: CreateSession at login, RevokeSession then
// rediscache.Revoke (revoked:{h} + the event) at logout.

var backends = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", testenv.SQLiteURL},
	{"postgres", testenv.PostgresURL},
}

// world is one store, one Redis, one JWKS, and any number of verifiers on them.
type world struct {
	t     testing.TB
	st    store.Store
	rdb   redis.UniversalClient
	redis *testenv.Redis
	issue *rediscache.Cache
	key   *verifytest.Key
	jwks  *verifytest.JWKSServer
	mint  *verifytest.Minter
}

func newWorld(t testing.TB, storeURL string, r *testenv.Redis) *world {
	t.Helper()
	testenv.Integration(t)
	ctx := context.Background()
	st, err := store.Open(ctx, storeURL)
	testenv.Must(t, err, "open store")
	t.Cleanup(func() { st.Close() })
	testenv.Must(t, st.Migrate(ctx), "migrate")
	w := &world{t: t, st: st, redis: r}
	if r != nil {
		rdb, err := rediscache.Open(r.URL)
		testenv.Must(t, err, "open redis")
		t.Cleanup(func() { rdb.Close() })
		w.rdb = rdb
		w.issue = rediscache.New(rdb, rediscache.Options{Prefix: r.Prefix})
	}
	w.key = verifytest.NewKey(t, jwa.ES256)
	w.jwks = verifytest.NewJWKSServer(t, w.key)
	w.mint = &verifytest.Minter{Key: w.key}
	return w
}

// verifier starts a verifier on the world; it stops when the test ends.
func (w *world) verifier(mod func(*verify.Config)) *verify.Verifier {
	t := w.t
	t.Helper()
	cfg := verify.DefaultConfig()
	cfg.JWKSURL = w.jwks.URL()
	cfg.FirstSightSessionCheck = true // TestIntegrationFirstSight turns it off: the others set the store path up
	if mod != nil {
		mod(&cfg)
	}
	d := verify.Deps{Sessions: w.st, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if w.rdb != nil {
		d.Shared = rediscache.New(w.rdb, rediscache.Options{Prefix: w.redis.Prefix})
	}
	ctx, cancel := context.WithCancel(context.Background())
	v, err := verify.New(ctx, cfg, d)
	if err != nil {
		cancel()
		t.Fatalf("verify.New: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for v.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("verifier not ready: %v", v.Ready(context.Background()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return v
}

type login struct {
	user  store.User
	sid   string
	token string
}

// login creates a user and a session and mints its access token, as the issuer's
// /v1/login does (the claims also go to Redis when withRedis).
func (w *world) login(withRedis bool) login {
	t := w.t
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	u, err := w.st.CreateUser(ctx, store.User{Email: randomID() + "@example.com", PasswordHash: "$argon2id$x", Roles: []string{"dev"}})
	testenv.Must(t, err, "create user")
	sid := randomID()
	claims := verifytest.Claims{Subject: u.ID, SessionID: sid, Email: u.Email, Roles: u.Roles}
	tok := w.mint.Mint(t, claims)
	exp := now.Add(verifytest.DefaultTTL)
	err = w.st.CreateSession(ctx, store.Session{ID: sid, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
		store.RefreshToken{Hash: randomID(), AccessHash: verifytest.Hash(tok), AccessExpiresAt: exp, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	testenv.Must(t, err, "create session")
	if withRedis && w.issue != nil {
		testenv.Must(t, w.issue.StorePair(ctx, rediscache.Pair{UserID: u.ID, Email: u.Email, SessionID: sid,
			AccessHash: verifytest.Hash(tok), AccessClaims: w.mint.Payload(t, claims), AccessExpiresAt: exp}), "store pair")
	}
	return login{user: u, sid: sid, token: tok}
}

// logout revokes the session in the store, then (when Redis is up) writes
// revoked:{h} and publishes the event, as the issuer does.
func (w *world) logout(l login) error {
	ctx := context.Background()
	res, err := w.st.RevokeSession(ctx, l.sid, store.ReasonLogout, time.Now())
	testenv.Must(w.t, err, "revoke session")
	if w.issue == nil {
		return nil
	}
	return w.issue.Revoke(ctx, res)
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func decide(v *verify.Verifier, tok string) (verify.Decision, error) {
	return v.Decide(context.Background(), &verify.Request{Method: http.MethodGet, Host: "app.example.com", Path: "/", Token: tok, Source: verify.SourceHeader})
}

func mustAllow(t testing.TB, v *verify.Verifier, tok string) {
	t.Helper()
	if d, err := decide(v, tok); err != nil || !d.Allow {
		t.Fatalf("decision %+v, %v; want allow", d, err)
	}
}

func mustDeny(t testing.TB, v *verify.Verifier, tok string) {
	t.Helper()
	if d, err := decide(v, tok); err != nil || d.Allow || d.Status != http.StatusUnauthorized {
		t.Fatalf("decision %+v, %v; want 401", d, err)
	}
}

func eventuallyDenied(t testing.TB, v *verify.Verifier, tok string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		d, err := decide(v, tok)
		if err == nil && !d.Allow && d.Status == http.StatusUnauthorized {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("still %+v, %v after %v", d, err, within)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIntegrationLogout(t *testing.T) {
	for _, b := range backends {
		for _, mode := range []string{verify.ModePush, verify.ModeStrict} {
			t.Run(b.name+"/"+mode, func(t *testing.T) {
				w := newWorld(t, b.url(t), testenv.SharedRedis(t))
				v := w.verifier(func(c *verify.Config) { c.Revocation = mode })
				a, other := w.login(true), w.login(false)
				mustAllow(t, v, a.token)
				mustAllow(t, v, other.token)
				testenv.Must(t, w.logout(a), "logout")
				if mode == verify.ModeStrict {
					mustDeny(t, v, a.token) // the very next request
				} else {
					eventuallyDenied(t, v, a.token, 10*time.Second)
				}
				mustAllow(t, v, other.token)
				// A verifier that never saw the token denies it too (Redis, then the store).
				fresh := w.verifier(nil)
				mustDeny(t, fresh, a.token)
				mustAllow(t, fresh, other.token)
			})
		}
	}
}

func TestIntegrationThreeVerifiers(t *testing.T) {
	for _, b := range backends {
		for _, mode := range []string{verify.ModePush, verify.ModeStrict} {
			t.Run(b.name+"/"+mode, func(t *testing.T) {
				w := newWorld(t, b.url(t), testenv.SharedRedis(t))
				var vs []*verify.Verifier
				for range 3 {
					vs = append(vs, w.verifier(func(c *verify.Config) { c.Revocation = mode }))
				}
				l := w.login(true)
				for _, v := range vs {
					mustAllow(t, v, l.token)
				}
				testenv.Must(t, w.logout(l), "logout")
				for i, v := range vs {
					if mode == verify.ModeStrict {
						mustDeny(t, v, l.token)
						continue
					}
					d := eventuallyDenied(t, v, l.token, 10*time.Second)
					t.Logf("verifier %d denied after %v", i, d)
				}
			})
		}
	}
}

// TestIntegrationFlushAll: emptying Redis costs speed, never correctness.
func TestIntegrationFlushAll(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testenv.StartRedis(t)
			w := newWorld(t, b.url(t), r)
			v := w.verifier(nil)
			live, gone := w.login(true), w.login(true)
			mustAllow(t, v, live.token)
			mustAllow(t, v, gone.token)
			testenv.Must(t, w.logout(gone), "logout")
			eventuallyDenied(t, v, gone.token, 10*time.Second)
			testenv.Must(t, r.Client.FlushAll(context.Background()).Err(), "FLUSHALL")
			mustDeny(t, v, gone.token)
			mustAllow(t, v, live.token)
			// A verifier with an empty cache has only the store to go by.
			fresh := w.verifier(nil)
			mustDeny(t, fresh, gone.token)
			mustAllow(t, fresh, live.token)
			// It wrote what it learnt back: revoked:{h} and access_token:{h}.
			ctx := context.Background()
			if n, _ := r.Client.Exists(ctx, "revoked:{"+verifytest.Hash(gone.token)+"}").Result(); n != 1 {
				t.Error("revoked:{h} not written back after FLUSHALL")
			}
			if n, _ := r.Client.Exists(ctx, "access_token:{"+verifytest.Hash(live.token)+"}").Result(); n != 1 {
				t.Error("access_token:{h} not refilled after FLUSHALL")
			}
			if ttl, _ := r.Client.TTL(ctx, "access_token:{"+verifytest.Hash(live.token)+"}").Result(); ttl <= 0 {
				t.Errorf("refilled key TTL %v", ttl)
			}
		})
	}
}

// TestIntegrationRedisStopped is the documented behaviour with Redis down: cached
// decisions go on within MaxStaleness and are then re-checked against the store;
// new tokens are decided by the store; revocations made meanwhile are seen through
// the store within MaxStaleness.
func TestIntegrationRedisStopped(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testenv.StartRedis(t)
			w := newWorld(t, b.url(t), r)
			const staleness = 300 * time.Millisecond
			v := w.verifier(func(c *verify.Config) { c.MaxStaleness = staleness })
			cached, revoked := w.login(true), w.login(true)
			mustAllow(t, v, cached.token)
			mustAllow(t, v, revoked.token)
			r.Stop(t)
			mustAllow(t, v, cached.token)
			newcomer := w.login(false)
			mustAllow(t, v, newcomer.token) // the store answers
			if err := w.logout(revoked); err == nil {
				t.Fatal("publishing to a stopped Redis succeeded?")
			}
			d := eventuallyDenied(t, v, revoked.token, 10*time.Second)
			t.Logf("revocation with Redis down seen after %v (MaxStaleness %v)", d, staleness)
			time.Sleep(2 * staleness)
			mustAllow(t, v, cached.token) // re-checked against the store: still live
			mustAllow(t, v, newcomer.token)
			r.Start(t)
			// Back to normal: the feed resubscribes and new logouts propagate again.
			other := w.login(true)
			mustAllow(t, v, other.token)
			deadline := time.Now().Add(15 * time.Second)
			for w.issue.Ping(context.Background()) != nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			testenv.Must(t, w.logout(other), "logout after restart")
			eventuallyDenied(t, v, other.token, 15*time.Second)
		})
	}
}

// TestIntegrationMissedEvent: a logout while the subscription is cut is caught
// up from the store's log when it comes back, not merely after MaxStaleness.
func TestIntegrationMissedEvent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testenv.StartRedis(t)
			w := newWorld(t, b.url(t), r)
			// A staleness far longer than the test: only the catch-up can deny.
			v := w.verifier(func(c *verify.Config) { c.MaxStaleness = time.Hour })
			l := w.login(true)
			mustAllow(t, v, l.token)
			r.Stop(t)
			if err := w.logout(l); err == nil {
				t.Fatal("publishing to a stopped Redis succeeded?")
			}
			// Nobody told the verifier; it may still allow the token within
			// MaxStaleness, or already have read the log (a feed reconnect attempt
			// catches up from it): either is correct, so nothing is asserted here.
			r.Start(t)
			d := eventuallyDenied(t, v, l.token, 20*time.Second)
			t.Logf("caught up %v after Redis came back", d)
		})
	}
}

func TestIntegrationNoRedis(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.url(t), nil)
			const staleness = 200 * time.Millisecond
			v := w.verifier(func(c *verify.Config) { c.MaxStaleness = staleness })
			l := w.login(false)
			mustAllow(t, v, l.token)
			testenv.Must(t, w.logout(l), "logout")
			if d := eventuallyDenied(t, v, l.token, 10*time.Second); d > 5*staleness {
				t.Errorf("revocation seen after %v, MaxStaleness %v", d, staleness)
			}
			// Store unreachable: an uncached token cannot be decided.
			other := w.login(false)
			testenv.Must(t, w.st.Close(), "close store")
			if d, err := decide(v, other.token); !errors.Is(err, verify.ErrUnavailable) || d.Status != http.StatusServiceUnavailable {
				t.Fatalf("store closed: %+v, %v", d, err)
			}
		})
	}
}

// BenchmarkIntegrationFirstSight: a new token each time: ES256 signature check,
// MGET on the real Redis, the store (SQLite), SET in Redis.
func BenchmarkIntegrationFirstSight(b *testing.B) {
	w := newWorld(b, testenv.SQLiteURL(b), testenv.SharedRedis(b))
	v := w.verifier(nil)
	const n = 2000
	toks := make([]string, n)
	for i := range toks {
		toks[i] = w.login(false).token
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == n {
			b.StopTimer()
			for j := range toks {
				toks[j] = w.login(false).token
			}
			i = 0
			b.StartTimer()
		}
		if d, err := decide(v, toks[i]); !d.Allow {
			b.Fatalf("%+v %v", d, err)
		}
		i++
	}
}

// BenchmarkIntegrationRedisHit: local cache off, claims in the real Redis (the
// issuer wrote them at login): one MGET per decision.
func BenchmarkIntegrationRedisHit(b *testing.B) {
	w := newWorld(b, testenv.SQLiteURL(b), testenv.SharedRedis(b))
	v := w.verifier(func(c *verify.Config) { c.NoLocalCache = true })
	l := w.login(true)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, err := decide(v, l.token); !d.Allow {
			b.Fatalf("%+v %v", d, err)
		}
	}
}

// BenchmarkIntegrationStrict: cached token, revocation checked in the real Redis
// on every decision.
func BenchmarkIntegrationStrict(b *testing.B) {
	w := newWorld(b, testenv.SQLiteURL(b), testenv.SharedRedis(b))
	v := w.verifier(func(c *verify.Config) { c.Revocation = verify.ModeStrict })
	l := w.login(true)
	mustAllow(b, v, l.token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, err := decide(v, l.token); !d.Allow {
			b.Fatalf("%+v %v", d, err)
		}
	}
}

// TestIntegrationFirstSight: with first sight on (the default), a token never
// presented before is refused once its session ended, for every way the store
// ends one: each writes the revocation log row the verifier's window holds.
func TestIntegrationFirstSight(t *testing.T) {
	ctx := context.Background()
	kinds := []struct {
		name string
		end  func(w *world, l login) error
	}{
		{"logout", func(w *world, l login) error { return w.logout(l) }},
		{"logout everywhere", func(w *world, l login) error {
			_, err := w.st.RevokeUser(ctx, l.user.ID, store.ReasonLogoutAll, time.Now())
			return err
		}},
		{"user disabled", func(w *world, l login) error {
			_, err := w.st.SetUserDisabled(ctx, l.user.ID, true, time.Now())
			return err
		}},
		{"password changed", func(w *world, l login) error {
			_, err := w.st.SetPassword(ctx, l.user.ID, "$argon2id$y", "", time.Now())
			return err
		}},
		{"user deleted", func(w *world, l login) error {
			_, err := w.st.DeleteUser(ctx, l.user.ID, time.Now())
			return err
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.url(t), nil)
			const staleness = 200 * time.Millisecond
			v := w.verifier(func(c *verify.Config) { c.MaxStaleness = staleness; c.FirstSightSessionCheck = false })
			mustAllow(t, v, w.login(false).token)
			for _, k := range kinds {
				l := w.login(false)
				testenv.Must(t, k.end(w, l), "%s", k.name)
				if d := eventuallyDenied(t, v, l.token, 10*time.Second); d > 5*staleness {
					t.Errorf("%s: refused after %v, MaxStaleness %v", k.name, d, staleness)
				}
			}
		})
	}
}
