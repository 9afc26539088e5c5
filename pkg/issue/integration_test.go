package issue

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/postgres"
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"
)

// openStore opens and migrates a real store, closed when the test ends.
func openStore(t testing.TB, url string) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("open %s: %v", store.Redact(url), err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

func sqliteStore(t testing.TB) Store   { return openStore(t, testenv.SQLiteURL(t)) }
func postgresStore(t testing.TB) Store { return openStore(t, testenv.PostgresURL(t)) }

var realStores = []struct {
	name string
	open func(testing.TB) Store
}{
	{"SQLite", sqliteStore},
	{"PostgreSQL", postgresStore},
}

// TestAPIRealStores runs the API suite on SQLite (embedded, always) and PostgreSQL
// (the shared server; skipped only under -short).
func TestAPIRealStores(t *testing.T) {
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) { runAPISuite(t, rs.open) })
	}
}

// TestConcurrentRefresh: 50 clients present the same refresh token at once. With a
// grace period all of them get a sibling pair and the session stays live; without one,
// exactly one wins and the replays revoke the session.
func TestConcurrentRefresh(t *testing.T) {
	const n = 50
	stores := append([]struct {
		name string
		open func(testing.TB) Store
	}{{"mem", func(testing.TB) Store { return newMemStore() }}}, realStores...)
	for _, rs := range stores {
		for _, grace := range []time.Duration{5 * time.Second, 0} {
			t.Run(rs.name+"/grace="+grace.String(), func(t *testing.T) {
				e := newEnv(t, rs.open(t), func(c *Config, _ *Deps) { c.RefreshGrace = grace })
				e.addUser("race@example.com", "race-passw")
				p := e.login("race@example.com", "race-passw")
				var wg sync.WaitGroup
				codes := make([]int, n)
				pairs := make([]TokenPair, n)
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						w := e.post("/v1/refresh", refreshBody(p.RefreshToken))
						codes[i] = w.Code
						if w.Code == http.StatusOK {
							json.Unmarshal(w.Body.Bytes(), &pairs[i])
						}
					})
				}
				close(start)
				wg.Wait()
				ok := 0
				for i, c := range codes {
					switch c {
					case http.StatusOK:
						ok++
					case http.StatusUnauthorized:
					default:
						t.Errorf("client %d: status %d", i, c)
					}
				}
				c, _ := e.svc.VerifyAccessToken(p.AccessToken, false)
				st, err := e.store.SessionState(t.Context(), c.SessionID)
				if err != nil {
					t.Fatal(err)
				}
				if grace > 0 {
					if ok != n || !st.RevokedAt.IsZero() {
						t.Fatalf("%d of %d refreshed, session revoked at %v; want all, live", ok, n, st.RevokedAt)
					}
					seen := map[string]bool{}
					for _, pp := range pairs {
						if seen[pp.RefreshToken] {
							t.Fatal("two clients got the same refresh token")
						}
						seen[pp.RefreshToken] = true
					}
					// Every sibling is a working token.
					decodePair(t, e.post("/v1/refresh", refreshBody(pairs[n-1].RefreshToken)))
					return
				}
				if ok != 1 || st.RevokedAt.IsZero() {
					t.Fatalf("%d of %d refreshed, session revoked at %v; want exactly 1, revoked", ok, n, st.RevokedAt)
				}
				for _, pp := range pairs {
					if pp.RefreshToken != "" {
						wantError(t, e.post("/v1/refresh", refreshBody(pp.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
					}
				}
				if got := e.counter("vexen_issuer_revocations_total", "reason", store.ReasonReuse); got != 1 {
					t.Errorf("revocations_total{refresh_reuse} = %v, want exactly 1", got)
				}
			})
		}
	}
}

// redisEnv is a Service on SQLite writing through to the shared Redis under a
// prefix of its own, on the real clock (Redis TTLs run on it).
func redisEnv(t *testing.T) (*env, *testenv.Redis, *rediscache.Cache) {
	r := testenv.SharedRedis(t)
	cache := rediscache.New(r.Client, rediscache.Options{Prefix: r.Prefix})
	e := newEnv(t, sqliteStore(t), func(_ *Config, d *Deps) {
		d.Cache = cache
		d.Now = time.Now
		d.Limiter = NewRedisLimiter(r.Client).WithPrefix(r.Prefix)
	})
	t.Cleanup(func() {
		ctx := context.Background()
		for _, k := range r.Client.Keys(ctx, "rate:"+r.Prefix+"*").Val() {
			r.Client.Del(ctx, k)
		}
	})
	return e, r, cache
}

func TestRedisWriteThrough(t *testing.T) {
	e, r, cache := redisEnv(t)
	ctx := context.Background()
	rdb := r.Client
	uid := e.addUser("redis@example.com", "redis-pass")
	p := e.login("redis@example.com", "redis-pass")
	ah, rh := TokenHash(p.AccessToken), TokenHash(p.RefreshToken)

	ttlIn := func(key string, lo, hi time.Duration) {
		t.Helper()
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil || ttl < lo || ttl > hi {
			t.Errorf("TTL %s = %v (%v), want within [%v, %v]", key, ttl, err, lo, hi)
		}
	}
	claims, err := rdb.Get(ctx, cache.AccessKey(ah)).Result()
	if err != nil {
		t.Fatalf("access_token:{h}: %v", err)
	}
	c, _ := e.svc.VerifyAccessToken(p.AccessToken, false)
	payload, _ := b64url.DecodeString(strings.Split(p.AccessToken, ".")[1])
	if claims != string(payload) {
		t.Errorf("access_token:{h} = %s, want the token's claims %s", claims, payload)
	}
	ttlIn(cache.AccessKey(ah), 14*time.Minute, 15*time.Minute)
	if v := rdb.Get(ctx, cache.RefreshKey(rh)).Val(); v != uid {
		t.Errorf("refresh_token:{h} = %q, want the user id", v)
	}
	ttlIn(cache.RefreshKey(rh), 719*time.Hour, 720*time.Hour)
	var us map[string]string
	if err := json.Unmarshal([]byte(rdb.Get(ctx, cache.UserSessionKey(uid)).Val()), &us); err != nil ||
		us["user_id"] != uid || us["email"] != "redis@example.com" || us["last_login"] == "" {
		t.Errorf("user_session = %v, %v", us, err)
	}
	ttlIn(cache.UserSessionKey(uid), 719*time.Hour, 720*time.Hour)
	members := rdb.SMembers(ctx, cache.UserTokensKey(uid)).Val()
	if !slices.Contains(members, ah) || !slices.Contains(members, rh) {
		t.Errorf("user_tokens = %v, want both hashes", members)
	}
	ttlIn(cache.UserTokensKey(uid), 719*time.Hour, 720*time.Hour)

	// Refresh: the old refresh token leaves Redis, the new pair arrives, and
	// user_tokens holds the current pair only.
	q := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	if n := rdb.Exists(ctx, cache.RefreshKey(rh)).Val(); n != 0 {
		t.Error("refresh_token:{old} still cached after rotation")
	}
	qa, qr := TokenHash(q.AccessToken), TokenHash(q.RefreshToken)
	if rdb.Exists(ctx, cache.AccessKey(qa), cache.RefreshKey(qr)).Val() != 2 {
		t.Error("the new pair is not cached")
	}
	if m := rdb.SMembers(ctx, cache.UserTokensKey(uid)).Val(); len(m) != 2 || !slices.Contains(m, qa) || !slices.Contains(m, qr) {
		t.Errorf("user_tokens after a refresh = %v, want the new pair only", m)
	}

	// Logout: revoked:{h} for the live access tokens (the rotated one included), none
	// for the refresh token (the store alone decides on it), cached entries gone, an
	// event published.
	sub := rdb.Subscribe(ctx, cache.Channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if w := e.post("/v1/logout", refreshBody(q.RefreshToken)); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	for _, h := range []string{ah, qa} {
		if v := rdb.Get(ctx, cache.RevokedKey(h)).Val(); v != "1" {
			t.Errorf("revoked:%s… = %q, want 1", h[:8], v)
		}
	}
	ttlIn(cache.RevokedKey(qa), 14*time.Minute, 15*time.Minute)
	for _, h := range []string{rh, qr} {
		if rdb.Exists(ctx, cache.RevokedKey(h)).Val() != 0 {
			t.Errorf("revoked:%s… written for a refresh token", h[:8])
		}
	}
	if rdb.Exists(ctx, cache.AccessKey(ah), cache.AccessKey(qa), cache.RefreshKey(qr)).Val() != 0 {
		t.Error("cached tokens survive the logout")
	}
	ev := receiveEvent(t, sub)
	if ev.SessionID != c.SessionID || ev.UserID != uid || ev.Reason != store.ReasonLogout || ev.Seq <= 0 || ev.At == 0 {
		t.Errorf("event %+v", ev)
	}

	// Logout-all publishes one event per session, with increasing sequence numbers.
	a := e.login("redis@example.com", "redis-pass")
	e.login("redis@example.com", "redis-pass")
	if w := e.postBearer("/v1/logout-all", a.AccessToken); w.Code != http.StatusNoContent {
		t.Fatalf("logout-all: %d", w.Code)
	}
	e1, e2 := receiveEvent(t, sub), receiveEvent(t, sub)
	if e1.Reason != store.ReasonLogoutAll || e2.Reason != store.ReasonLogoutAll || e2.Seq <= e1.Seq || e1.Seq <= ev.Seq {
		t.Errorf("logout-all events %+v, %+v after %+v", e1, e2, ev)
	}
	if v := rdb.Get(ctx, cache.RevokedKey(TokenHash(a.AccessToken))).Val(); v != "1" {
		t.Error("logout-all did not mark the access token revoked")
	}
	if got := e.counter("vexen_issuer_redis_errors_total", "op", "store_pair") + e.counter("vexen_issuer_redis_errors_total", "op", "revoke"); got != 0 {
		t.Errorf("%v Redis errors on a healthy server", got)
	}
}

func receiveEvent(t *testing.T, sub *redis.PubSub) rediscache.Event {
	t.Helper()
	for {
		msg, err := sub.ReceiveTimeout(context.Background(), 5*time.Second)
		if err != nil {
			t.Fatalf("no revocation event: %v", err)
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // a subscription confirmation or pong
		}
		var ev rediscache.Event
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatalf("event %q: %v", m.Payload, err)
		}
		return ev
	}
}

// TestRedisDown: a Redis that dies mid-flight costs nothing but counters and logs.
func TestRedisDown(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb, err := rediscache.Open(r.URL) // the production client settings
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cache := rediscache.New(rdb, rediscache.Options{})
	e := newEnv(t, sqliteStore(t), func(_ *Config, d *Deps) {
		d.Cache = cache
		d.Now = time.Now
		d.Limiter = NewRedisLimiter(rdb)
	})
	e.addUser("down@example.com", "down-pass")
	p := e.login("down@example.com", "down-pass")
	r.Stop(t)
	q := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	e.login("down@example.com", "down-pass")
	if w := e.post("/v1/logout", refreshBody(q.RefreshToken)); w.Code != http.StatusNoContent {
		t.Fatalf("logout with Redis down: %d %s", w.Code, w.Body)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(q.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	wantError(t, e.do(request{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable, "not_ready")
	for _, op := range []string{"store_pair", "revoke", "rate_limit"} {
		if e.counter("vexen_issuer_redis_errors_total", "op", op) == 0 {
			t.Errorf("redis_errors_total{op=%s} not counted", op)
		}
	}
}

// TestRedisBoundedGrowth is the regression test for unbounded Redis growth (review,
// Hardening point 4): one logout-all after 200 refreshes used to write a revoked:{h}
// for every refresh token ever issued in the session (and user_tokens:{uid} kept one
// pair per refresh). Now user_tokens holds the current pair only, and a revocation
// writes revoked:{h} for the access tokens that can still be presented and nothing
// else. The clock is injected (one refresh every 5 minutes, 15-minute access
// tokens), and the keys are counted in the real Redis under the test's prefix.
func TestRedisBoundedGrowth(t *testing.T) {
	const (
		refreshes = 200
		every     = 5 * time.Minute
	)
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) {
			ctx := context.Background()
			r := testenv.SharedRedis(t)
			rdb := r.Client
			clk := newFakeClock()
			cache := rediscache.New(rdb, rediscache.Options{Prefix: r.Prefix, Now: clk.Now})
			e := newEnv(t, rs.open(t), func(_ *Config, d *Deps) {
				d.Cache = cache
				d.Now = clk.Now
			})
			uid := e.addUser("growth@example.com", "growth-pass")
			p := e.login("growth@example.com", "growth-pass")
			type issuedPair struct {
				access string
				at     time.Time
			}
			issued := []issuedPair{{TokenHash(p.AccessToken), clk.Now()}}
			for i := range refreshes {
				clk.Advance(every)
				p = decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
				issued = append(issued, issuedPair{TokenHash(p.AccessToken), clk.Now()})
				members := rdb.SMembers(ctx, cache.UserTokensKey(uid)).Val()
				want := []string{TokenHash(p.AccessToken), TokenHash(p.RefreshToken)}
				slices.Sort(members)
				slices.Sort(want)
				if !slices.Equal(members, want) {
					t.Fatalf("after refresh %d, user_tokens has %d members, want the 2 hashes of the current pair", i+1, len(members))
				}
			}
			other := e.login("growth@example.com", "growth-pass") // a second session
			if n := rdb.SCard(ctx, cache.UserTokensKey(uid)).Val(); n != 4 {
				t.Fatalf("user_tokens has %d members with two sessions, want 4", n)
			}
			if ttl := rdb.PTTL(ctx, cache.UserTokensKey(uid)).Val(); ttl <= 0 {
				t.Errorf("user_tokens TTL = %v, want one", ttl)
			}

			if w := e.postBearer("/v1/logout-all", p.AccessToken); w.Code != http.StatusNoContent {
				t.Fatalf("logout-all: %d %s", w.Code, w.Body)
			}
			// The access tokens that can still be presented: the other session's, and
			// those of the refreshed session issued less than 15 minutes ago (an access
			// token whose exp is now is expired).
			now := clk.Now()
			want := []string{TokenHash(other.AccessToken)}
			for _, q := range issued {
				if q.at.Add(15 * time.Minute).After(now) {
					want = append(want, q.access)
				}
			}
			if len(want) != 4 {
				t.Fatalf("test setup: %d live access tokens, want 4", len(want))
			}
			var got []string
			iter := rdb.Scan(ctx, 0, cache.RevokedKey("*"), 1000).Iterator()
			for iter.Next(ctx) {
				got = append(got, strings.TrimSuffix(strings.TrimPrefix(iter.Val(), strings.TrimSuffix(cache.RevokedKey(""), "}")), "}"))
				if ttl := rdb.PTTL(ctx, iter.Val()).Val(); ttl <= 0 || ttl > 15*time.Minute {
					t.Errorf("%s TTL = %v, want the access token's remaining life", iter.Val(), ttl)
				}
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("logout-all after %d refreshes wrote %d revoked:* keys, want %d (the live access tokens)", refreshes, len(got), len(want))
			}
			if n := rdb.SCard(ctx, cache.UserTokensKey(uid)).Val(); n != 0 {
				t.Errorf("user_tokens has %d members after logout-all, want 0", n)
			}
			for _, q := range []TokenPair{p, other} {
				if rdb.Exists(ctx, cache.AccessKey(TokenHash(q.AccessToken)), cache.RefreshKey(TokenHash(q.RefreshToken))).Val() != 0 {
					t.Error("a revoked pair is still cached")
				}
			}
		})
	}
}
