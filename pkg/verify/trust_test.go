package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// revokeInStore revokes a session in the store only: no event is published.
func (f *fixture) revokeInStore(sid string) store.Revocation {
	return f.sessions.Revoke(sid, store.ReasonLogout, f.clock.Now())
}

// waitFresh waits for a log read that started at the (standing) injected clock's
// current time: from then on the feed vouches for cached entries.
func (f *fixture) waitFresh(t testing.TB) {
	t.Helper()
	now := f.clock.Now().UnixNano()
	waitFor(t, "a log read at the current time", func() bool { return f.v.rev.freshAt.Load() >= now })
}

// TestFeedFreshTrustsCache: while a log read vouches for it, a cached entry is
// trusted without asking Redis or the store's session table; a revocation whose
// event was never published is applied by the next log read.
func TestFeedFreshTrustsCache(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	calls := f.sessions.Calls().SessionState
	f.clock.Advance(5 * DefaultMaxStaleness)
	f.waitFresh(t)
	f.mustAllow(tok)
	if got := f.sessions.Calls().SessionState; got != calls {
		t.Fatalf("store asked %d times on a trusted hit", got-calls)
	}
	if n := f.shared.Calls().Lookup; n != 1 {
		t.Fatalf("Redis asked %d times, want only the first sight", n)
	}
	// Revoked in the store, no event (the issuer's publish failed): the log says so.
	f.revokeInStore("s1")
	waitFor(t, "the log read to apply the revocation", func() bool {
		d, _ := f.decide(tok)
		return d.Reason == ReasonRevoked
	})
}

// TestPongIsNotFreshness: a PONG proves only that published events arrived; with
// the log unreadable, a stale entry is re-checked although the subscription is up.
func TestPongIsNotFreshness(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.sessions.SetOnRevocationsAfter(func(int64) error { return verifytest.ErrDown })
	f.clock.Advance(5 * DefaultMaxStaleness)
	f.shared.Pong(t, f.clock.Now())
	if f.v.feedFresh(f.clock.Now().UnixNano()) {
		t.Fatal("a PONG made the feed fresh")
	}
	lookups := f.shared.Calls().Lookup
	f.mustAllow(tok) // Redis vouches (claims present, no revoked:{h})
	if f.shared.Calls().Lookup == lookups {
		t.Fatal("a stale entry was trusted on a PONG alone")
	}
}

func TestStaleEntryIsRechecked(t *testing.T) {
	for _, tc := range []struct {
		name      string
		redis     func(f *fixture, tok string)
		revoke    bool
		want      Reason
		wantStore bool
	}{
		{name: "live in the store", want: ReasonOK, wantStore: true},
		{name: "revoked in the store", revoke: true, want: ReasonRevoked, wantStore: true},
		{name: "revoked in Redis", redis: func(f *fixture, tok string) { f.shared.SetRevoked(verifytest.Hash(tok)) }, want: ReasonRevoked},
		{name: "claims in Redis", redis: func(f *fixture, tok string) { f.shared.SetClaims(verifytest.Hash(tok), []byte(`{}`)) }, want: ReasonOK},
		{name: "Redis down, store says live", redis: func(f *fixture, _ string) { f.shared.SetErr(verifytest.ErrDown) }, want: ReasonOK, wantStore: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withRedis())
			tok := f.token("s1", "u1")
			f.mustAllow(tok)
			f.shared.Flush() // the first sight filled it; start from an empty Redis
			// Within MaxStaleness of the check, with no word from the feed: trusted.
			f.clock.Advance(DefaultMaxStaleness / 2)
			storeCalls := f.sessions.Calls().SessionState
			f.mustAllow(tok)
			if f.sessions.Calls().SessionState != storeCalls {
				t.Fatal("re-checked within MaxStaleness")
			}
			f.clock.Advance(DefaultMaxStaleness)
			if tc.revoke {
				f.revokeInStore("s1")
			}
			if tc.redis != nil {
				tc.redis(f, tok)
			}
			d, err := f.decide(tok)
			if err != nil || d.Reason != tc.want {
				t.Fatalf("decision %+v, %v; want %v", d, err, tc.want)
			}
			if asked := f.sessions.Calls().SessionState > storeCalls; asked != tc.wantStore {
				t.Fatalf("store asked: %v, want %v", asked, tc.wantStore)
			}
			if tc.want == ReasonOK {
				// The re-check refreshed checkedAt: the next request is trusted again.
				storeCalls = f.sessions.Calls().SessionState
				lookups := f.shared.Calls().Lookup
				f.mustAllow(tok)
				if f.sessions.Calls().SessionState != storeCalls || f.shared.Calls().Lookup != lookups {
					t.Fatal("checked again right after a re-check")
				}
			} else {
				f.mustDeny(tok, ReasonRevoked)
			}
			if tc.revoke && !f.shared.Revoked(verifytest.Hash(tok)) {
				t.Fatal("the store's revocation was not written back to Redis")
			}
		})
	}
}

func TestFreshnessEnds(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.shared.Flush()
	f.waitFresh(t)
	f.sessions.SetOnRevocationsAfter(func(int64) error { return verifytest.ErrDown })
	f.clock.Advance(DefaultMaxStaleness + time.Millisecond)
	// The last log read is older than MaxStaleness and so is the entry: re-check.
	f.revokeInStore("s1")
	f.mustDeny(tok, ReasonRevoked)
	if v := metricValue(t, f.reg, "vexen_verifier_feed_fresh", nil); v != 0 {
		t.Fatalf("feed_fresh = %v", v)
	}
}

func TestFeedDownStopsTrust(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.shared.Flush()
	f.clock.Advance(2 * DefaultMaxStaleness)
	f.waitFresh(t)
	if v := metricValue(t, f.reg, "vexen_verifier_feed_fresh", nil); v != 1 {
		t.Fatalf("feed_fresh = %v after a log read", v)
	}
	f.sessions.SetOnRevocationsAfter(func(int64) error { return verifytest.ErrDown })
	f.shared.Drop(t, errors.New("connection reset"))
	f.revokeInStore("s1")
	f.mustDeny(tok, ReasonRevoked)
}

// TestTombstoneBeatsInsert: a revocation applied while a first-sight check is in
// flight (after the store said "live") wins: the token is not cached as live.
func TestTombstoneBeatsInsert(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	var once sync.Once
	f.sessions.OnSessionState = func(sid string) error {
		once.Do(func() {
			r := f.revokeInStore(sid)
			f.shared.Publish(t, verifytest.EventOf(r))
		})
		return nil
	}
	// The store read raced the revocation (the fake reads the state before the hook).
	d, err := f.decide(tok)
	if err != nil || d.Allow {
		t.Fatalf("decision %+v, %v; want deny", d, err)
	}
	if n := f.v.CachedEntries(); n != 0 {
		t.Fatalf("%d entries cached", n)
	}
	f.mustDeny(tok, ReasonRevoked)
}

func TestSubscribedCatchUp(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	other := f.token("s2", "u2")
	f.mustAllow(tok)
	f.mustAllow(other)
	f.shared.Pong(t, f.clock.Now())
	f.shared.Drop(t, errors.New("redis restarted"))
	// While the subscription is down, the issuer revokes s1: the event is lost.
	f.revokeInStore("s1")
	f.shared.Resubscribe(t)
	// The catch-up ran inside Subscribed, before any event of the new connection.
	f.mustDeny(tok, ReasonRevoked)
	f.mustAllow(other)
	// Fresh again after the catch-up and the next log read.
	f.waitFresh(t)
	if v := metricValue(t, f.reg, "vexen_verifier_feed_fresh", nil); v != 1 {
		t.Fatalf("feed_fresh = %v after catch-up and a log read", v)
	}
}

func TestSubscribedCatchUpFailsThenRetries(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.shared.Drop(t, errors.New("down"))
	f.revokeInStore("s1")
	f.sessions.SetOnRevocationsAfter(func(int64) error { return verifytest.ErrDown })
	f.shared.Resubscribe(t)
	// The catch-up failed: the feed must not be fresh, PONG or not.
	f.shared.Pong(t, f.clock.Now())
	if v := metricValue(t, f.reg, "vexen_verifier_feed_fresh", nil); v != 0 {
		t.Fatal("fresh although the catch-up failed")
	}
	f.sessions.SetOnRevocationsAfter(nil)
	waitFor(t, "the retried catch-up", func() bool { return !f.v.rev.pending() })
	f.mustDeny(tok, ReasonRevoked)
}

func TestSeqGapCatchUp(t *testing.T) {
	f := newFixture(t, withRedis())
	a := f.token("s1", "u1")
	b := f.token("s2", "u2")
	f.mustAllow(a)
	f.mustAllow(b)
	f.shared.Pong(t, f.clock.Now())
	r1 := f.revokeInStore("s1") // seq 1: its event is lost
	r2 := f.revokeInStore("s2") // seq 2: delivered
	f.shared.Publish(t, verifytest.EventOf(r2))
	f.mustDeny(b, ReasonRevoked)
	if r1.Seq != 1 || r2.Seq != 2 {
		t.Fatalf("seqs %d %d", r1.Seq, r2.Seq)
	}
	// The gap withdrew freshness at once and triggered a catch-up from the log.
	waitFor(t, "the gap's catch-up", func() bool { return !f.v.rev.pending() })
	f.mustDeny(a, ReasonRevoked)
}

// TestLogHoles: a seq that is missing when a later one is read (a transaction not
// yet committed) is looked for again by the next read.
func TestLogHoles(t *testing.T) {
	f := newFixture(t) // no Redis: the log is polled
	a := f.token("s1", "u1")
	b := f.token("s2", "u2")
	f.mustAllow(a)
	f.mustAllow(b)
	at := f.clock.Now()
	f.sessions.AppendLog(store.Revocation{Seq: 2, SessionID: "s2", At: at})
	waitFor(t, "seq 2 applied", func() bool { return f.v.tombs.has("s2", f.clock.Now().UnixNano()) })
	f.sessions.AppendLog(store.Revocation{Seq: 1, SessionID: "s1", At: at})
	waitFor(t, "seq 1 applied after seq 2", func() bool { return f.v.tombs.has("s1", f.clock.Now().UnixNano()) })
	f.mustDeny(a, ReasonRevoked)
	f.mustDeny(b, ReasonRevoked)
}

func TestPollingWithoutRedis(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.MaxStaleness = 20 * time.Millisecond }))
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	waitFor(t, "the poll to make the feed fresh", func() bool { return f.v.feedFresh(f.clock.Now().UnixNano()) })
	f.revokeInStore("s1")
	waitFor(t, "the poll to apply the revocation", func() bool {
		d, _ := f.decide(tok)
		return d.Reason == ReasonRevoked
	})
}

// TestStrictMode: every strict decision waits for a log read that started after
// it arrived, so a revocation committed before the request is refused whatever
// Redis holds (here: claims and no revoked:{h}, as after a failed write-through).
func TestStrictMode(t *testing.T) {
	for _, redis := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis=%v", redis), func(t *testing.T) {
			opts := []fixtureOption{withConfig(func(c *Config) { c.Revocation = ModeStrict })}
			if redis {
				opts = append(opts, withRedis())
			}
			f := newFixture(t, opts...)
			tok := f.token("s1", "u1")
			f.mustAllow(tok)
			reads := f.sessions.Calls().RevocationsAfter
			for range 3 {
				f.mustAllow(tok)
			}
			if got := f.sessions.Calls().RevocationsAfter - reads; got < 3 {
				t.Fatalf("%d log reads for 3 strict decisions, want one each (none running concurrently)", got)
			}
			if redis {
				if _, ok := f.shared.Claims(verifytest.Hash(tok)); !ok {
					t.Fatal("first sight did not fill Redis")
				}
			}
			// The revocation is in the store only: no event, no revoked:{h}.
			f.revokeInStore("s1")
			f.mustDeny(tok, ReasonRevoked)

			// A fresh verifier (empty cache) with Redis still vouching: refused too.
			tok2 := f.token("s2", "u2")
			f.mustAllow(tok2)
			f.revokeInStore("s2")
			g := f.sibling(t)
			g.mustDeny(tok2, ReasonRevoked)

			// The log unreadable: strict cannot decide (503), never 200.
			f.sessions.SetOnRevocationsAfter(func(int64) error { return verifytest.ErrDown })
			tok3 := f.token("s3", "u3")
			if d, err := f.decide(tok3); d.Allow || d.Status != http.StatusServiceUnavailable || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("strict with the log down: %+v, %v", d, err)
			}
		})
	}
}

// TestStrictEventOrder: a strict decision made while a pub/sub event is being
// applied, after the event moved the log position past its row, refuses the
// session: the tombstone goes in before the position moves (TestSentinel-
// FailoverUnderLoad once saw strict accept a session 3.33 ms after its logout
// returned, its decision falling between the two).
func TestStrictEventOrder(t *testing.T) {
	f := newFixture(t, withRedis(), withConfig(func(c *Config) {
		c.Revocation = ModeStrict
		c.MaxStaleness = time.Hour // no poll of the log in between
	}))
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	var (
		d   Decision
		err error
		ran bool
	)
	f.v.hooks.event = func() {
		if !ran {
			ran = true
			d, err = f.decide(tok)
		}
	}
	row := f.revokeInStore("s1")
	f.shared.Publish(t, rediscache.Event{Seq: row.Seq, SessionID: row.SessionID, UserID: row.UserID,
		Reason: row.Reason, At: row.At.UnixNano()})
	if !ran {
		t.Fatal("the event hook did not run")
	}
	if d.Allow || d.Reason != ReasonRevoked || err != nil {
		t.Fatalf("strict decision during the event: %+v, %v; want revoked", d, err)
	}
}

// TestStrictBarrierShared: concurrent strict decisions share log reads: 64 at
// once cost far fewer than 64 reads, and each still saw a read that started after
// it arrived.
func TestStrictBarrierShared(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.Revocation = ModeStrict }))
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	release := make(chan struct{})
	var blocked atomic.Bool
	f.sessions.SetOnRevocationsAfter(func(int64) error {
		if blocked.CompareAndSwap(false, true) {
			<-release // hold the first read until every request has arrived
		}
		return nil
	})
	reads := f.sessions.Calls().RevocationsAfter
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() { f.mustAllow(tok) })
	}
	waitFor(t, "the first read to start", blocked.Load)
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	// The poller runs too; the barrier needs at most two rounds (the held one and
	// the one after it) plus whatever the poller did meanwhile.
	if got := f.sessions.Calls().RevocationsAfter - reads; got > 10 {
		t.Fatalf("%d log reads for 64 concurrent strict decisions", got)
	}
}

func TestRedisDownFallsBackToStore(t *testing.T) {
	f := newFixture(t, withRedis())
	f.shared.SetErr(verifytest.ErrDown)
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	if f.sessions.Calls().SessionState != 1 {
		t.Fatal("store not asked")
	}
	// After a failure Redis is skipped for a while: no lookup per request.
	lookups := f.shared.Calls().Lookup
	f.mustAllow(f.token("s2", "u2"))
	if f.shared.Calls().Lookup != lookups {
		t.Fatal("Redis asked again right after it failed")
	}
	f.clock.Advance(redisRetry + time.Millisecond)
	f.mustAllow(f.token("s3", "u3"))
	if f.shared.Calls().Lookup != lookups+1 {
		t.Fatal("Redis not tried again after redisRetry")
	}
	if v := metricValue(t, f.reg, "vexen_verifier_backend_errors_total", map[string]string{"backend": "redis", "op": "lookup"}); v != 2 {
		t.Fatalf("redis lookup errors = %v", v)
	}
}

func TestBothDownIsUnavailable(t *testing.T) {
	f := newFixture(t, withRedis())
	cached := f.token("s0", "u0")
	f.mustAllow(cached)
	f.shared.SetErr(verifytest.ErrDown)
	f.sessions.SetErr(verifytest.ErrDown)
	tok := f.token("s1", "u1")
	d, err := f.decide(tok)
	if !errors.Is(err, ErrUnavailable) || d.Allow || d.Status != http.StatusServiceUnavailable || d.Reason != ReasonUnavailable {
		t.Fatalf("decision %+v, %v; want 503", d, err)
	}
	// A cached decision within MaxStaleness still stands…
	f.mustAllow(cached)
	// …but not beyond it.
	f.clock.Advance(2 * DefaultMaxStaleness)
	if d, err := f.decide(cached); !errors.Is(err, ErrUnavailable) || d.Allow {
		t.Fatalf("stale decision with both down: %+v, %v", d, err)
	}
	if v := metricValue(t, f.reg, "vexen_verifier_decisions_total", map[string]string{"decision": "error", "reason": "unavailable"}); v != 2 {
		t.Fatalf("error decisions = %v", v)
	}
}

// TestRedisClaimsWithoutSignature: access_token:{h} (written by the issuer or a
// peer after a full check) is honoured without a signature check; claims that do
// not fit this verifier are not.
func TestRedisClaimsWithoutSignature(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.mint.Mint(t, verifytest.Claims{Subject: "u9", SessionID: "s9", Roles: []string{"ops"}})
	f.shared.SetClaims(verifytest.Hash(tok), f.mint.Payload(t, verifytest.Claims{Subject: "u9", SessionID: "s9", Roles: []string{"ops"}}))
	id := f.mustAllow(tok)
	if id.UserID != "u9" || id.SessionID != "s9" || id.RolesHeader()[0] != "ops" {
		t.Fatalf("identity %+v", id)
	}
	if n := f.verifies.Load(); n != 0 {
		t.Fatalf("%d signature checks, want 0", n)
	}
	if n := f.sessions.Calls().SessionState; n != 0 {
		t.Fatalf("store asked %d times", n)
	}

	for _, tc := range []struct {
		name   string
		claims verifytest.Claims
		want   Reason
	}{
		// Another issuer's claims: ignored, the token is checked (and fails: the
		// session is unknown to the store).
		{"other issuer", verifytest.Claims{Issuer: "http://other", SessionID: "x1"}, ReasonRevoked},
		{"other audience", verifytest.Claims{Audience: "other", SessionID: "x2"}, ReasonRevoked},
		{"expired", verifytest.Claims{Expiry: f.clock.Now().Add(-time.Hour), SessionID: "x3"}, ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := f.mint.Mint(t, verifytest.Claims{SessionID: tc.claims.SessionID})
			f.shared.SetClaims(verifytest.Hash(tok), f.mint.Payload(t, tc.claims))
			f.mustDeny(tok, tc.want)
		})
	}
	// Claims with a member given twice vouch for nothing (issue 9): the token is
	// checked itself, and its own claims are the identity.
	dup := f.token("s11", "u11", "dev")
	p := f.mint.Payload(t, verifytest.Claims{Subject: "u11", SessionID: "s11", Roles: []string{"dev"}})
	f.shared.SetClaims(verifytest.Hash(dup), append(p[:len(p)-1:len(p)-1], `,"roles":["admin"]}`...))
	before := f.verifies.Load()
	if id := f.mustAllow(dup); id.RolesHeader()[0] != "dev" || f.verifies.Load() == before {
		t.Fatalf("duplicated Redis claims trusted: identity %+v", id)
	}
	// A name in another case is not the claim: ROLES in access_token:{h} grants nothing.
	upper := f.mint.Mint(t, verifytest.Claims{Subject: "u12", SessionID: "s12", Roles: []string{"dev"}})
	p = f.mint.Payload(t, verifytest.Claims{Subject: "u12", SessionID: "s12", Roles: []string{"dev"}})
	f.shared.SetClaims(verifytest.Hash(upper), append(p[:len(p)-1:len(p)-1], `,"ROLES":["admin"]}`...))
	if id := f.mustAllow(upper); strings.Join(id.RolesHeader(), ",") != "dev" {
		t.Fatalf("ROLES in Redis claims read as roles: identity %+v", id)
	}
	// Garbage in access_token:{h} vouches for nothing either.
	g := f.token("s10", "u10")
	f.shared.SetClaims(verifytest.Hash(g), []byte("not json"))
	f.mustAllow(g)
	if n := f.verifies.Load(); n == 0 {
		t.Fatal("garbage Redis claims were trusted")
	}
}

func TestNoLocalCache(t *testing.T) {
	f := newFixture(t, withRedis(), withConfig(func(c *Config) { c.NoLocalCache = true }))
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.mustAllow(tok)
	f.mustAllow(tok)
	if n := f.verifies.Load(); n != 1 {
		t.Fatalf("%d signature checks, want 1 (then Redis answers)", n)
	}
	if n := f.shared.Calls().Lookup; n != 3 {
		t.Fatalf("%d lookups, want 3", n)
	}
	if n := f.v.CachedEntries(); n != 0 {
		t.Fatalf("%d local entries with the local cache off", n)
	}
	f.shared.SetRevoked(verifytest.Hash(tok))
	f.mustDeny(tok, ReasonRevoked)
}

func TestCachedEntryExpires(t *testing.T) {
	f := newFixture(t, withRedis())
	f.sessions.Add("s1", "u1", f.clock.Now().Add(time.Hour))
	tok := f.mint.Mint(t, verifytest.Claims{Subject: "u1", SessionID: "s1", Expiry: f.clock.Now().Add(time.Minute)})
	f.mustAllow(tok)
	f.clock.Advance(time.Minute + DefaultLeeway - time.Second)
	f.shared.Pong(t, f.clock.Now())
	f.mustAllow(tok)
	f.clock.Advance(2 * time.Second)
	f.mustDeny(tok, ReasonExpired)
	if n := f.v.CachedEntries(); n != 0 {
		t.Fatalf("expired entry kept")
	}
}

func TestSessionStates(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	for _, tc := range []struct {
		name string
		st   *store.SessionState
		want Reason
	}{
		{"unknown session", nil, ReasonRevoked},
		{"revoked", &store.SessionState{UserID: "u1", ExpiresAt: now.Add(time.Hour), RevokedAt: now.Add(-time.Minute)}, ReasonRevoked},
		{"expired session", &store.SessionState{UserID: "u1", ExpiresAt: now.Add(-time.Second)}, ReasonRevoked},
		{"disabled user", &store.SessionState{UserID: "u1", ExpiresAt: now.Add(time.Hour), UserDisabled: true}, ReasonRevoked},
		{"another user's session", &store.SessionState{UserID: "u2", ExpiresAt: now.Add(time.Hour)}, ReasonClaims},
		{"live", &store.SessionState{UserID: "u1", ExpiresAt: now.Add(time.Hour)}, ReasonOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sid := "sess-" + tc.name
			if tc.st != nil {
				st := *tc.st
				st.SessionID = sid
				f.sessions.Set(st)
			}
			tok := f.mint.Mint(t, verifytest.Claims{Subject: "u1", SessionID: sid})
			d, err := f.decide(tok)
			if err != nil || d.Reason != tc.want {
				t.Fatalf("decision %+v, %v; want %v", d, err, tc.want)
			}
		})
	}
}

func TestSingleFlight(t *testing.T) {
	for _, mode := range []string{ModePush, ModeStrict} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, withRedis(), withConfig(func(c *Config) { c.Revocation = mode }))
			tok := f.token("s1", "u1")
			gate := make(chan struct{})
			f.sessions.OnSessionState = func(string) error { <-gate; return nil }
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for range 100 {
				wg.Go(func() {
					d, err := f.decide(tok)
					if err != nil || !d.Allow {
						errs <- errors.New("denied: " + d.Reason.String())
					}
				})
			}
			// Let the goroutines pile up on the flight before the store answers.
			time.Sleep(50 * time.Millisecond)
			close(gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := f.verifies.Load(); n != 1 {
				t.Fatalf("%d signature checks for 100 concurrent requests, want 1", n)
			}
		})
	}
}

func TestCacheBound(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.CacheEntries = 100 }))
	for i := range 300 {
		sid := "s" + itoa(i)
		f.mustAllow(f.token(sid, "u"))
	}
	if n := f.v.CachedEntries(); n > 100 {
		t.Fatalf("%d entries cached, bound 100", n)
	}
	if n := int(metricValue(t, f.reg, "vexen_verifier_local_cache_entries", nil)); n != f.v.CachedEntries() {
		t.Fatalf("entries gauge %d", n)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}

func TestCacheMetrics(t *testing.T) {
	f := newFixture(t, withRedis())
	tok := f.token("s1", "u1")
	f.mustAllow(tok) // local miss, Redis miss
	f.mustAllow(tok) // local hit
	f.mustAllow(tok) // local hit
	for _, tc := range []struct {
		layer, result string
		want          float64
	}{{"local", "hit", 2}, {"local", "miss", 1}, {"redis", "hit", 0}, {"redis", "miss", 1}} {
		if v := metricValue(t, f.reg, "vexen_verifier_cache_requests_total", map[string]string{"layer": tc.layer, "result": tc.result}); v != tc.want {
			t.Errorf("%s %s = %v, want %v", tc.layer, tc.result, v, tc.want)
		}
	}
	if v := metricValue(t, f.reg, "vexen_verifier_cache_hit_ratio", map[string]string{"layer": "local"}); v < 0.66 || v > 0.67 {
		t.Errorf("local hit ratio %v", v)
	}
	if v := metricValue(t, f.reg, "vexen_verifier_decisions_total", map[string]string{"decision": "allow", "reason": "ok"}); v != 3 {
		t.Errorf("allow decisions %v", v)
	}
	if v := metricValue(t, f.reg, "vexen_verifier_decision_duration_seconds", nil); v != 3 {
		t.Errorf("duration samples %v", v)
	}
}

func TestRunTwice(t *testing.T) {
	f := newFixture(t)
	if err := f.v.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v", err)
	}
}

// TestSafetyPoll: beside pub/sub the log is read now and then, so a revocation
// whose event was never published is applied even while the feed is fresh.
func TestSafetyPoll(t *testing.T) {
	f := newFixture(t, withRedis(), withConfig(func(c *Config) { c.MaxStaleness = 50 * time.Millisecond }))
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.shared.Pong(t, f.clock.Now()) // the injected clock stands still: fresh for the whole test
	f.revokeInStore("s1")
	f.mustAllow(tok) // the feed vouches for it…
	start := time.Now()
	waitFor(t, "the log poll to apply the revocation", func() bool {
		d, _ := f.decide(tok)
		return d.Reason == ReasonRevoked
	})
	if el := time.Since(start); el > time.Second { // the log is read every MaxStaleness/2 = 25ms
		t.Fatalf("took %v", el)
	}
}

func TestStoreDownRedisUp(t *testing.T) {
	f := newFixture(t, withRedis())
	known := f.mint.Mint(t, verifytest.Claims{Subject: "u1", SessionID: "s1"})
	f.shared.SetClaims(verifytest.Hash(known), f.mint.Payload(t, verifytest.Claims{Subject: "u1", SessionID: "s1"}))
	f.sessions.SetErr(verifytest.ErrDown)
	f.mustAllow(known)
	unknown := f.mint.Mint(t, verifytest.Claims{Subject: "u2", SessionID: "s2"})
	if d, err := f.decide(unknown); !errors.Is(err, ErrUnavailable) || d.Status != http.StatusServiceUnavailable {
		t.Fatalf("token Redis does not know, store down: %+v, %v", d, err)
	}
	revoked := f.mint.Mint(t, verifytest.Claims{Subject: "u3", SessionID: "s3"})
	f.shared.SetRevoked(verifytest.Hash(revoked))
	f.mustDeny(revoked, ReasonRevoked)
}

// TestLateLogStart: when New cannot read the revocation log, the verifier allows
// nothing (503, not ready) until Run has read the window; a session revoked before
// that, by a revocation Redis never heard of, is then refused.
func TestLateLogStart(t *testing.T) {
	clk := newClock()
	key := verifytest.NewKey(t, jwa.ES256)
	jwks := verifytest.NewJWKSServer(t, key)
	sessions := verifytest.NewSessions()
	shared := verifytest.NewShared()
	var failing atomic.Bool
	failing.Store(true)
	sessions.OnLastRevocationSeq = func() error {
		if failing.Load() {
			return verifytest.ErrDown
		}
		return nil
	}
	sessions.Add("s1", "u1", clk.Now().Add(time.Hour))
	sessions.Add("s2", "u2", clk.Now().Add(time.Hour))
	minter := &verifytest.Minter{Key: key, Now: clk.Now}
	revoked := minter.Mint(t, verifytest.Claims{Subject: "u1", SessionID: "s1"})
	live := minter.Mint(t, verifytest.Claims{Subject: "u2", SessionID: "s2"})
	// The issuer cached the claims of both and then revoked s1 in the store, but its
	// Redis write failed: Redis still vouches for the revoked token.
	shared.SetClaims(verifytest.Hash(revoked), minter.Payload(t, verifytest.Claims{Subject: "u1", SessionID: "s1"}))
	sessions.Revoke("s1", store.ReasonLogout, clk.Now())
	clk.Advance(time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := New(ctx, Config{JWKSURL: jwks.URL()}, Deps{Sessions: sessions, Shared: shared, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{revoked, live} {
		if d, err := v.Decide(ctx, &Request{Token: tok}); d.Allow || d.Status != http.StatusServiceUnavailable || !errors.Is(err, ErrWindowNotLoaded) {
			t.Fatalf("before the window is read: %+v %v; want 503", d, err)
		}
	}
	if err := v.Ready(ctx); !errors.Is(err, ErrWindowNotLoaded) {
		t.Fatalf("Ready before the window is read: %v", err)
	}
	failing.Store(false)
	done := make(chan struct{})
	go func() { defer close(done); _ = v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the window read", v.rev.loaded.Load)
	if d, err := v.Decide(ctx, &Request{Token: revoked}); err != nil || d.Reason != ReasonRevoked {
		t.Fatalf("after the late start: %+v %v; want revoked", d, err)
	}
	if d, err := v.Decide(ctx, &Request{Token: live}); err != nil || !d.Allow {
		t.Fatalf("live token after the late start: %+v %v", d, err)
	}
}

// TestWindowOutvotesRedis: a verifier started after a revocation whose Redis
// write failed (Redis holds the claims, no revoked:{h}, no event) refuses the
// token from its first decision, in push and strict mode; a revocation older than
// the window is not loaded, and a token living longer than MaxTokenLife is refused.
func TestWindowOutvotesRedis(t *testing.T) {
	for _, mode := range []string{ModePush, ModeStrict} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, withRedis(), withConfig(func(c *Config) { c.Revocation = mode }))
			claims := verifytest.Claims{Subject: "u1", SessionID: "s1"}
			f.sessions.Add("s1", "u1", f.clock.Now().Add(24*time.Hour))
			tok := f.mint.Mint(t, claims)
			f.shared.SetClaims(verifytest.Hash(tok), f.mint.Payload(t, claims))
			f.revokeInStore("s1")
			g := f.sibling(t)
			g.mustDeny(tok, ReasonRevoked)
			if n := g.sessions.Calls().RevocationsSince; n == 0 {
				t.Fatal("the window was not read")
			}
		})
	}
	t.Run("window bounds", func(t *testing.T) {
		f := newFixture(t, withConfig(func(c *Config) { c.MaxTokenLife = 10 * time.Minute }))
		f.sessions.Revoke("old", store.ReasonLogout, f.clock.Now().Add(-time.Hour))
		f.sessions.Revoke("recent", store.ReasonLogout, f.clock.Now().Add(-5*time.Minute))
		g := f.sibling(t)
		now := g.clock.Now().UnixNano()
		if g.v.tombs.has("old", now) {
			t.Error("a revocation older than the window was loaded")
		}
		if !g.v.tombs.has("recent", now) {
			t.Error("a revocation inside the window was not loaded")
		}
		long := f.mint.Mint(t, verifytest.Claims{Subject: "u9", SessionID: "s9", IssuedAt: f.clock.Now(), Expiry: f.clock.Now().Add(11 * time.Minute)})
		f.sessions.Add("s9", "u9", f.clock.Now().Add(time.Hour))
		g.mustDeny(long, ReasonClaims)
	})
}

// TestNoGoroutineLeak: once the contexts given to New and Run end, every
// goroutine the verifier started (JWKS cache, feed, pollers, janitor, idle JWKS
// connections) is gone.
func TestNoGoroutineLeak(t *testing.T) {
	key := verifytest.NewKey(t, jwa.ES256)
	jwks := verifytest.NewJWKSServer(t, key)
	m := &verifytest.Minter{Key: key}
	for _, redis := range []bool{false, true} {
		before := runtime.NumGoroutine()
		sessions := verifytest.NewSessions()
		d := Deps{Sessions: sessions}
		if redis {
			d.Shared = verifytest.NewShared()
		}
		ctx, cancel := context.WithCancel(context.Background())
		v, err := New(ctx, Config{JWKSURL: jwks.URL(), MaxStaleness: 10 * time.Millisecond}, d)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = v.Run(ctx) }()
		sessions.Add("s1", "u1", time.Now().Add(time.Hour))
		if d, err := v.Decide(ctx, &Request{Token: m.Mint(t, verifytest.Claims{Subject: "u1", SessionID: "s1"})}); err != nil || !d.Allow {
			t.Fatalf("%+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond) // let the pollers and the feed run
		cancel()
		<-done
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestReadyMeansCanDecide: a Redis outage alone leaves a push verifier ready (it
// decides from its cache and the store); the store down with Redis up leaves it
// ready too (Redis decides what it knows); both down, or the store down in strict
// mode, makes it unready.
func TestReadyMeansCanDecide(t *testing.T) {
	for _, tc := range []struct {
		name              string
		strict            bool
		redisDown, dbDown bool
		wantReady         bool
	}{
		{name: "all up", wantReady: true},
		{name: "redis down", redisDown: true, wantReady: true},
		{name: "store down", dbDown: true, wantReady: true},
		{name: "both down", redisDown: true, dbDown: true},
		{name: "strict, store down", strict: true, dbDown: true},
		{name: "strict, redis down", strict: true, redisDown: true, wantReady: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withRedis(), withConfig(func(c *Config) {
				if tc.strict {
					c.Revocation = ModeStrict
				}
			}))
			if tc.redisDown {
				f.shared.SetErr(verifytest.ErrDown)
			}
			if tc.dbDown {
				f.sessions.SetErr(verifytest.ErrDown)
			}
			err := f.v.Ready(context.Background())
			if (err == nil) != tc.wantReady {
				t.Fatalf("Ready = %v, want ready %v", err, tc.wantReady)
			}
		})
	}
}
