package rediscache_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// newCache opens a Cache on the shared Redis with the test's own prefix.
func newCache(t *testing.T) (*rediscache.Cache, *testenv.Redis, *prometheus.Registry) {
	t.Helper()
	r := testenv.SharedRedis(t)
	rdb, err := rediscache.Open(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	return rediscache.New(rdb, rediscache.Options{Prefix: r.Prefix, Registerer: reg}), r, reg
}

// pttl is the key's remaining life; it fails the test for a missing key or one without a TTL.
func pttl(t *testing.T, rdb redis.UniversalClient, key string) time.Duration {
	t.Helper()
	d, err := rdb.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	switch d {
	case -2:
		t.Fatalf("PTTL %s: no such key", key)
	case -1:
		t.Fatalf("PTTL %s: key has no TTL", key)
	}
	return d
}

// checkTTL fails unless key's TTL is in (want-slack, want].
func checkTTL(t *testing.T, rdb redis.UniversalClient, key string, want time.Duration) {
	t.Helper()
	const slack = 5 * time.Second
	if d := pttl(t, rdb, key); d > want || d <= want-slack {
		t.Errorf("TTL of %s = %v, want (%v, %v]", key, d, want-slack, want)
	}
}

func exists(t *testing.T, rdb redis.UniversalClient, key string) bool {
	t.Helper()
	n, err := rdb.Exists(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("EXISTS %s: %v", key, err)
	}
	return n == 1
}

// checkAllKeysHaveTTL scans every key under the prefix: none may lack a TTL.
func checkAllKeysHaveTTL(t *testing.T, rdb redis.UniversalClient, prefix string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		n++
		if d := rdb.PTTL(ctx, iter.Val()).Val(); d == -1 {
			t.Errorf("key %s has no TTL", iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// counter reads one counter from a registry; 0 when it was never incremented.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func pair(uid, suffix string, now time.Time, accessLife, refreshLife time.Duration) rediscache.Pair {
	return rediscache.Pair{
		UserID:           uid,
		Email:            uid + "@example.com",
		SessionID:        "sess-" + suffix,
		AccessHash:       "a" + suffix,
		AccessClaims:     []byte(`{"sub":"` + uid + `","sid":"sess-` + suffix + `"}`),
		AccessExpiresAt:  now.Add(accessLife),
		RefreshHash:      "r" + suffix,
		RefreshExpiresAt: now.Add(refreshLife),
		LoginAt:          now,
	}
}

func TestStorePair(t *testing.T) {
	c, r, _ := newCache(t)
	ctx := context.Background()
	rdb := c.Client()
	now := time.Now()
	p := pair("u1", "1", now, 15*time.Minute, 720*time.Hour)
	if err := c.StorePair(ctx, p); err != nil {
		t.Fatal(err)
	}

	if got := rdb.Get(ctx, c.AccessKey("a1")).Val(); got != string(p.AccessClaims) {
		t.Errorf("access_token value = %q, want the claims", got)
	}
	checkTTL(t, rdb, c.AccessKey("a1"), 15*time.Minute)
	if got := rdb.Get(ctx, c.RefreshKey("r1")).Val(); got != "u1" {
		t.Errorf("refresh_token value = %q, want the user id", got)
	}
	checkTTL(t, rdb, c.RefreshKey("r1"), 720*time.Hour)

	var sess map[string]string
	if err := json.Unmarshal([]byte(rdb.Get(ctx, c.UserSessionKey("u1")).Val()), &sess); err != nil {
		t.Fatalf("user_session: %v", err)
	}
	want := map[string]string{"user_id": "u1", "email": "u1@example.com", "last_login": now.UTC().Format(time.RFC3339)}
	if len(sess) != len(want) {
		t.Errorf("user_session = %v, want %v", sess, want)
	}
	for k, v := range want {
		if sess[k] != v {
			t.Errorf("user_session[%s] = %q, want %q", k, sess[k], v)
		}
	}
	checkTTL(t, rdb, c.UserSessionKey("u1"), 720*time.Hour)

	members := rdb.SMembers(ctx, c.UserTokensKey("u1")).Val()
	slices.Sort(members)
	if !slices.Equal(members, []string{"a1", "r1"}) {
		t.Errorf("user_tokens = %v, want [a1 r1]", members)
	}
	checkTTL(t, rdb, c.UserTokensKey("u1"), 720*time.Hour)

	if n := checkAllKeysHaveTTL(t, rdb, r.Prefix); n != 4 {
		t.Errorf("%d keys under the prefix, want 4", n)
	}
}

func TestStorePairExtendsUserKeysOnly(t *testing.T) {
	c, r, _ := newCache(t)
	ctx := context.Background()
	rdb := c.Client()
	now := time.Now()

	steps := []struct {
		suffix      string
		refreshLife time.Duration
		wantUserTTL time.Duration
	}{
		{"1", time.Hour, time.Hour},
		{"2", 2 * time.Hour, 2 * time.Hour},        // longer: extends
		{"3", 30 * time.Minute, 2 * time.Hour},     // shorter: does not shorten
		{"4", 90 * time.Minute, 2 * time.Hour},     // still shorter
		{"5", 3 * time.Hour, 3 * time.Hour},        // longer again
		{"6", time.Millisecond / 2, 3 * time.Hour}, // already dead: nothing written
	}
	for _, s := range steps {
		p := pair("u1", s.suffix, now, time.Minute, s.refreshLife)
		if s.refreshLife < time.Millisecond {
			p.AccessExpiresAt = now.Add(-time.Second)
		}
		if err := c.StorePair(ctx, p); err != nil {
			t.Fatal(err)
		}
		checkTTL(t, rdb, c.UserSessionKey("u1"), s.wantUserTTL)
		checkTTL(t, rdb, c.UserTokensKey("u1"), s.wantUserTTL)
	}
	if exists(t, rdb, c.RefreshKey("r6")) || exists(t, rdb, c.AccessKey("a6")) {
		t.Error("expired pair was written")
	}
	if n := rdb.SCard(ctx, c.UserTokensKey("u1")).Val(); n != 10 {
		t.Errorf("user_tokens has %d members, want 10", n)
	}
	checkAllKeysHaveTTL(t, rdb, r.Prefix)
}

func TestStorePairSkipsExpiredAccess(t *testing.T) {
	c, r, _ := newCache(t)
	ctx := context.Background()
	now := time.Now()
	p := pair("u2", "x", now, -time.Second, time.Hour)
	if err := c.StorePair(ctx, p); err != nil {
		t.Fatal(err)
	}
	if exists(t, c.Client(), c.AccessKey("ax")) {
		t.Error("expired access token was cached")
	}
	if members := c.Client().SMembers(ctx, c.UserTokensKey("u2")).Val(); !slices.Equal(members, []string{"rx"}) {
		t.Errorf("user_tokens = %v, want [rx]", members)
	}
	checkTTL(t, c.Client(), c.RefreshKey("rx"), time.Hour)
	checkAllKeysHaveTTL(t, c.Client(), r.Prefix)

	if err := c.StorePair(ctx, rediscache.Pair{AccessHash: "a", AccessExpiresAt: now.Add(time.Hour)}); !errors.Is(err, rediscache.ErrNoUserID) {
		t.Errorf("StorePair without user id = %v, want ErrNoUserID", err)
	}
}

func TestDropRefresh(t *testing.T) {
	c, _, _ := newCache(t)
	ctx := context.Background()
	now := time.Now()
	if err := c.StorePair(ctx, pair("u1", "1", now, time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.StorePair(ctx, pair("u1", "2", now, time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.DropRefresh(ctx, "u1", "r1", "a1"); err != nil {
		t.Fatal(err)
	}
	if exists(t, c.Client(), c.RefreshKey("r1")) {
		t.Error("refresh_token still there")
	}
	members := c.Client().SMembers(ctx, c.UserTokensKey("u1")).Val()
	slices.Sort(members)
	if !slices.Equal(members, []string{"a2", "r2"}) {
		t.Errorf("user_tokens = %v, want the current pair [a2 r2]", members)
	}
	if !exists(t, c.Client(), c.AccessKey("a1")) {
		t.Error("DropRefresh removed the rotated access token's cache entry; it is valid until it expires")
	}
	// Without an access hash, only the refresh token goes.
	if err := c.DropRefresh(ctx, "u1", "r2", ""); err != nil {
		t.Fatal(err)
	}
	if members := c.Client().SMembers(ctx, c.UserTokensKey("u1")).Val(); !slices.Equal(members, []string{"a2"}) {
		t.Errorf("user_tokens = %v, want [a2]", members)
	}
}

// TestSweepUserTokens: hashes whose access_token:{h} and refresh_token:{h} are both
// gone (expired, rotated, revoked) leave user_tokens; live ones stay.
func TestSweepUserTokens(t *testing.T) {
	c, _, reg := newCache(t)
	ctx := context.Background()
	rdb := c.Client()
	now := time.Now()
	// Pair 1 dies in 200ms; pair 2 lives; pair 3's access token dies, its refresh
	// token lives.
	for _, p := range []rediscache.Pair{
		pair("u1", "1", now, 200*time.Millisecond, 200*time.Millisecond),
		pair("u1", "2", now, time.Minute, time.Hour),
		pair("u1", "3", now, 200*time.Millisecond, time.Hour),
	} {
		if err := c.StorePair(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.SweepUserTokens(ctx, "u1"); err != nil || n != 0 {
		t.Fatalf("sweep of live tokens = %d, %v; want 0", n, err)
	}
	time.Sleep(300 * time.Millisecond)
	n, err := c.SweepUserTokens(ctx, "u1")
	if err != nil || n != 3 {
		t.Fatalf("sweep = %d, %v; want 3 (a1, r1, a3)", n, err)
	}
	members := rdb.SMembers(ctx, c.UserTokensKey("u1")).Val()
	slices.Sort(members)
	if !slices.Equal(members, []string{"a2", "r2", "r3"}) {
		t.Errorf("user_tokens after the sweep = %v, want [a2 r2 r3]", members)
	}
	if n, err := c.SweepUserTokens(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("sweep of a missing set = %d, %v", n, err)
	}
	if got := counter(t, reg, "vexen_redis_errors_total", map[string]string{"op": "sweep_user_tokens"}); got != 0 {
		t.Errorf("errors counted: %v", got)
	}
}

func TestRevoke(t *testing.T) {
	c, r, _ := newCache(t)
	ctx := context.Background()
	rdb := c.Client()
	now := time.Now()
	if err := c.StorePair(ctx, pair("u1", "1", now, 15*time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.StorePair(ctx, pair("u1", "2", now, 15*time.Minute, 2*time.Hour)); err != nil {
		t.Fatal(err)
	}

	sub := rdb.Subscribe(ctx, c.Channel())
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(ctx, 2*time.Second); err != nil { // the confirmation
		t.Fatal(err)
	}

	at := now.Add(-time.Second)
	res := store.RevokeResult{
		Revocations: []store.Revocation{
			{Seq: 12, SessionID: "sess-2", UserID: "u1", Reason: store.ReasonLogoutAll, At: at},
			{Seq: 11, SessionID: "sess-1", UserID: "u1", Reason: store.ReasonLogoutAll, At: at},
			{Seq: 13, SessionID: "sess-old", UserID: "u1", Reason: store.ReasonLogoutAll, At: at},
		},
		Tokens: []store.TokenHashes{
			{SessionID: "sess-1", UserID: "u1", Access: "a1", AccessExpiresAt: now.Add(15 * time.Minute), Refresh: "r1", RefreshExpiresAt: now.Add(time.Hour)},
			{SessionID: "sess-2", UserID: "u1", Access: "a2", AccessExpiresAt: now.Add(15 * time.Minute), Refresh: "r2", RefreshExpiresAt: now.Add(2 * time.Hour)},
			// Expired by the time Redis hears of it: no revoked:{h}.
			{SessionID: "sess-old", UserID: "u1", Access: "a3", AccessExpiresAt: now.Add(-time.Minute), Refresh: "r3", RefreshExpiresAt: now.Add(-time.Second)},
		},
	}
	if err := c.Revoke(ctx, res); err != nil {
		t.Fatal(err)
	}

	for i, wantSeq := range []int64{11, 12, 13} {
		msg, err := sub.ReceiveMessage(ctxTimeout(t, 2*time.Second))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 0 && !exists(t, rdb, c.RevokedKey("a1")) {
			t.Error("event published before revoked:{h} was written")
		}
		var ev rediscache.Event
		if err := json.Unmarshal([]byte(msg.Payload), &ev); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := rediscache.Event{Seq: wantSeq, UserID: "u1", Reason: store.ReasonLogoutAll, At: at.UnixNano()}
		for _, rv := range res.Revocations {
			if rv.Seq == wantSeq {
				want.SessionID = rv.SessionID
			}
		}
		if ev != want {
			t.Errorf("message %d = %+v, want %+v", i, ev, want)
		}
	}

	for _, h := range []string{"a1", "a2"} {
		if exists(t, rdb, c.AccessKey(h)) {
			t.Errorf("access_token:%s survives the revocation", h)
		}
		checkTTL(t, rdb, c.RevokedKey(h), 15*time.Minute)
	}
	for _, h := range []string{"r1", "r2"} {
		if exists(t, rdb, c.RefreshKey(h)) {
			t.Errorf("refresh_token:%s survives the revocation", h)
		}
		// A refresh token is decided by the store's Rotate alone: no revoked:{h}.
		if exists(t, rdb, c.RevokedKey(h)) {
			t.Errorf("revoked:%s written for a refresh token", h)
		}
	}
	for _, h := range []string{"a3", "r3"} {
		if exists(t, rdb, c.RevokedKey(h)) {
			t.Errorf("revoked:%s written for an expired token", h)
		}
	}
	if n := rdb.SCard(ctx, c.UserTokensKey("u1")).Val(); n != 0 {
		t.Errorf("user_tokens still has %d members", n)
	}
	checkAllKeysHaveTTL(t, rdb, r.Prefix)

	if err := c.Revoke(ctx, store.RevokeResult{}); err != nil {
		t.Errorf("empty Revoke: %v", err)
	}
}

func TestPublish(t *testing.T) {
	c, _, _ := newCache(t)
	ctx := context.Background()
	sub := c.Client().Subscribe(ctx, c.Channel())
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 123)
	if err := c.Publish(ctx, store.Revocation{Seq: 5, SessionID: "s", UserID: "u", Reason: store.ReasonLogout, At: at}); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(ctxTimeout(t, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"seq":5,"sid":"s","uid":"u","reason":"logout","ts":1700000000000000123}`
	if msg.Payload != want {
		t.Errorf("payload %s, want %s", msg.Payload, want)
	}
}

func TestLookupFillMarkRevoked(t *testing.T) {
	c, r, _ := newCache(t)
	ctx := context.Background()
	rdb := c.Client()
	now := time.Now()
	claims := []byte(`{"sub":"u1"}`)

	l, err := c.Lookup(ctx, "h1")
	if err != nil || l.Claims != nil || l.Revoked {
		t.Fatalf("miss: %+v, %v", l, err)
	}

	if err := c.Fill(ctx, "h1", claims, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	checkTTL(t, rdb, c.AccessKey("h1"), 10*time.Minute)
	l, err = c.Lookup(ctx, "h1")
	if err != nil || string(l.Claims) != string(claims) || l.Revoked {
		t.Fatalf("hit: %+v, %v", l, err)
	}

	if err := c.MarkRevoked(ctx, "h1", now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	checkTTL(t, rdb, c.RevokedKey("h1"), 10*time.Minute)
	l, err = c.Lookup(ctx, "h1")
	if err != nil || l.Claims != nil || !l.Revoked {
		t.Fatalf("revoked: %+v, %v", l, err)
	}

	// A refill after the revocation is refused.
	if err := c.Fill(ctx, "h1", claims, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if exists(t, rdb, c.AccessKey("h1")) {
		t.Error("Fill wrote over revoked:{h}")
	}

	// Claims and a revocation marker both present: both reported.
	rdb.Set(ctx, c.AccessKey("h2"), claims, time.Minute)
	rdb.Set(ctx, c.RevokedKey("h2"), "1", time.Minute)
	l, err = c.Lookup(ctx, "h2")
	if err != nil || l.Claims == nil || !l.Revoked {
		t.Fatalf("claims+revoked: %+v, %v", l, err)
	}

	// Expired: Fill and MarkRevoked write nothing (MarkRevoked still deletes).
	if err := c.Fill(ctx, "h3", claims, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if exists(t, rdb, c.AccessKey("h3")) {
		t.Error("Fill cached an expired token")
	}
	rdb.Set(ctx, c.AccessKey("h4"), claims, time.Minute)
	if err := c.MarkRevoked(ctx, "h4", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if exists(t, rdb, c.RevokedKey("h4")) || exists(t, rdb, c.AccessKey("h4")) {
		t.Error("MarkRevoked with a past exp: revoked:{h} written or access_token:{h} kept")
	}

	if err := c.Fill(ctx, "h5", nil, now.Add(time.Minute)); !errors.Is(err, rediscache.ErrEmptyClaims) {
		t.Errorf("Fill(nil claims) = %v, want ErrEmptyClaims", err)
	}
	checkAllKeysHaveTTL(t, rdb, r.Prefix)
}

func TestFillRacesMarkRevoked(t *testing.T) {
	c, _, _ := newCache(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	for i := range 50 {
		h := "race" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = c.Fill(ctx, h, []byte(`{}`), exp) }()
		go func() { defer wg.Done(); _ = c.MarkRevoked(ctx, h, exp) }()
		wg.Wait()
		l, err := c.Lookup(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if !l.Revoked || l.Claims != nil {
			t.Fatalf("%s: after Fill ‖ MarkRevoked: %+v (revoked must win, no claims left)", h, l)
		}
	}
}

func TestRedisDownFailsFast(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb, err := rediscache.Open(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	c := rediscache.New(rdb, rediscache.Options{Registerer: reg})
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)

	now := time.Now()
	ops := []struct {
		op string
		fn func() error
	}{
		{"store_pair", func() error { return c.StorePair(ctx, pair("u", "1", now, time.Minute, time.Hour)) }},
		{"drop_refresh", func() error { return c.DropRefresh(ctx, "u", "r1", "a1") }},
		{"revoke", func() error {
			return c.Revoke(ctx, store.RevokeResult{
				Revocations: []store.Revocation{{Seq: 1, SessionID: "s", UserID: "u"}},
				Tokens:      []store.TokenHashes{{SessionID: "s", UserID: "u", Access: "a", AccessExpiresAt: now.Add(time.Minute)}},
			})
		}},
		{"publish", func() error { return c.Publish(ctx, store.Revocation{Seq: 1, SessionID: "s"}) }},
		{"lookup", func() error { _, err := c.Lookup(ctx, "a"); return err }},
		{"fill", func() error { return c.Fill(ctx, "a", []byte(`{}`), now.Add(time.Minute)) }},
		{"mark_revoked", func() error { return c.MarkRevoked(ctx, "a", now.Add(time.Minute)) }},
		{"sweep_user_tokens", func() error { _, err := c.SweepUserTokens(ctx, "u"); return err }},
	}
	for _, o := range ops {
		t.Run(o.op, func(t *testing.T) {
			start := time.Now()
			err := o.fn()
			if err == nil {
				t.Fatal("no error with Redis down")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v to fail", d)
			}
			if n := counter(t, reg, "vexen_redis_errors_total", map[string]string{"op": o.op}); n != 1 {
				t.Errorf("vexen_redis_errors_total{op=%q} = %v, want 1", o.op, n)
			}
		})
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping succeeded with Redis down")
	}
}

// TestHungServerBoundedByTimeouts: a server that accepts connections and never
// answers costs at most the explicit read timeouts Open sets, not go-redis's defaults.
func TestHungServerBoundedByTimeouts(t *testing.T) {
	testenv.Integration(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, cn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, cn := range conns {
			cn.Close()
		}
	})
	rdb, err := rediscache.Open("redis://" + ln.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	c := rediscache.New(rdb, rediscache.Options{})
	start := time.Now()
	err = c.StorePair(context.Background(), pair("u", "1", time.Now(), time.Minute, time.Hour))
	if err == nil {
		t.Fatal("StorePair against a silent server succeeded")
	}
	// (1 + DefaultMaxRetries) read timeouts plus retry backoff.
	limit := time.Duration(1+rediscache.DefaultMaxRetries)*rediscache.DefaultReadTimeout + time.Second
	if d := time.Since(start); d > limit {
		t.Errorf("StorePair took %v against a silent server, want <= %v", d, limit)
	}

	// A caller's deadline is honoured too (ContextTimeoutEnabled).
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.Lookup(ctx, "h"); err == nil {
		t.Fatal("Lookup against a silent server succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Lookup with a 200ms deadline took %v", d)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
