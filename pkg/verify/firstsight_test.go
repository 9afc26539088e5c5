package verify

import (
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// TestFirstSight: in push mode, with the window loaded and the feed fresh, a
// never-seen token whose signature and claims are good is decided from the
// tombstones alone: no Redis lookup, no store read; a session revoked in the
// log is refused the same way. Counted in vexen_verifier_first_sight_known_total.
func TestFirstSight(t *testing.T) {
	f := newFixture(t, withRedis(), withFirstSight())
	f.waitFresh(t)
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	f.mustAllow(tok) // the local hit it now is
	if n := f.shared.Calls().Lookup + f.shared.Calls().Fill; n != 0 {
		t.Fatalf("%d Redis calls for a first sight the window vouched for", n)
	}
	if n := f.sessions.Calls().SessionState; n != 0 {
		t.Fatalf("%d store reads for a first sight the window vouched for", n)
	}
	// Revoked: the log row reaches the verifier (here by its poll), then a
	// never-seen token of that session is refused without a backend call.
	tok2 := f.mint.Mint(t, verifytest.Claims{SessionID: "s1", Subject: "u1", Expiry: f.clock.Now().Add(10 * time.Minute)})
	f.revokeInStore("s1")
	f.clock.Advance(time.Millisecond)
	f.waitFresh(t)
	f.mustDeny(tok2, ReasonRevoked)
	if n := f.sessions.Calls().SessionState; n != 0 {
		t.Fatalf("%d store reads for a tombstoned first sight", n)
	}
	if got := metricValue(t, f.reg, "vexen_verifier_first_sight_known_total", nil); got != 2 {
		t.Fatalf("first_sight_known_total = %v, want 2", got)
	}
}

// TestFirstSightFallsBack: whenever the window cannot vouch, a never-seen
// token takes the store path as before: the feed not fresh, strict mode,
// --first-sight-session-check, the local cache off, and a token within the
// leeway after its exp (its session may have expired without a log row).
func TestFirstSightFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fixtureOption
		prep func(f *fixture) string
	}{
		{name: "feed not fresh", prep: func(f *fixture) string {
			f.v.rev.freshAt.Store(0)
			f.v.rev.request() // a catch-up is pending: freshness stays withdrawn
			f.sessions.SetOnRevocationsAfter(func(int64) error { return verifytest.ErrDown })
			return f.token("s1", "u1")
		}},
		{name: "strict", opts: []fixtureOption{withConfig(func(c *Config) { c.Revocation = ModeStrict })}},
		{name: "opted out", opts: []fixtureOption{withConfig(func(c *Config) { c.FirstSightSessionCheck = true })}},
		{name: "no local cache", opts: []fixtureOption{withConfig(func(c *Config) { c.NoLocalCache = true })}},
		{name: "within leeway after exp", prep: func(f *fixture) string {
			f.sessions.Add("s1", "u1", f.clock.Now().Add(time.Hour))
			return f.mint.Mint(t, verifytest.Claims{SessionID: "s1", Subject: "u1",
				IssuedAt: f.clock.Now().Add(-10 * time.Minute), NotBefore: f.clock.Now().Add(-10 * time.Minute),
				Expiry: f.clock.Now().Add(-time.Second)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, append([]fixtureOption{withFirstSight()}, tc.opts...)...)
			f.waitFresh(t)
			var tok string
			if tc.prep != nil {
				tok = tc.prep(f)
			} else {
				tok = f.token("s1", "u1")
			}
			f.mustAllow(tok)
			if n := f.sessions.Calls().SessionState; n == 0 {
				t.Fatal("the store was not asked")
			}
			if got := metricValue(t, f.reg, "vexen_verifier_first_sight_known_total", nil); got != 0 {
				t.Fatalf("first_sight_known_total = %v, want 0", got)
			}
		})
	}
	// A session ended without a log row is what the store check still catches.
	t.Run("opted out sees a session the log never named", func(t *testing.T) {
		f := newFixture(t)
		f.waitFresh(t)
		f.sessions.Add("s9", "u9", f.clock.Now().Add(-time.Second)) // expired, no row
		f.mustDeny(f.mint.Mint(t, verifytest.Claims{SessionID: "s9", Subject: "u9"}), ReasonRevoked)
	})
}
