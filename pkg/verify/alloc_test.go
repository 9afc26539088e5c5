package verify

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestCachedDecideAllocates0: a cached decision allocates nothing, with and
// without access rules, with the feed fresh or the entry recently checked.
func TestCachedDecideAllocates0(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []fixtureOption
		fresh bool
	}{
		{name: "no rules, no redis"},
		{name: "rules", opts: []fixtureOption{withConfig(func(c *Config) {
			c.Rules = []string{"* /admin admin", "app.example.com /ops ops,dev", "*.example.com / *"}
		})}},
		{name: "redis, feed fresh", opts: []fixtureOption{withRedis()}, fresh: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts...)
			tok := f.token("s1", "u1", "dev")
			f.mustAllow(tok)
			if tc.fresh {
				f.clock.Advance(10 * time.Second) // the entry is stale: only the feed vouches for it
				f.waitFresh(t)
			}
			req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/ops/x?y=1", Token: tok, Source: SourceHeader}
			ctx := context.Background()
			lookups := 0
			if f.shared != nil {
				lookups = f.shared.Calls().Lookup
			}
			allocs := testing.AllocsPerRun(1000, func() {
				d, err := f.v.Decide(ctx, req)
				if err != nil || !d.Allow {
					t.Fatalf("decision %+v, %v", d, err)
				}
			})
			if allocs != 0 {
				t.Fatalf("cached Decide: %v allocations per run, want 0", allocs)
			}
			if f.shared != nil && f.shared.Calls().Lookup != lookups {
				t.Fatal("the cached path asked Redis")
			}
		})
	}
}

// TestCachedHandlerAllocates0: the HTTP adapter's allowed path allocates nothing
// beyond what net/http itself does (measured with a reusable ResponseWriter).
func TestCachedHandlerAllocates0(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.Rules = []string{"* /admin admin"} }))
	tok := f.token("s1", "u1", "dev")
	h := f.v.Handler()
	for _, r := range []*http.Request{
		authRequest("/auth", "Authorization", "Bearer "+tok,
			"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com",
			"X-Forwarded-Uri", "/home?x=1", "X-Forwarded-For", "203.0.113.9", "Accept", "text/html"),
		authRequest("/auth/home", "Cookie", "theme=dark; vexen_access="+tok),
		authRequest("/auth?mode=browser", "X-Original-URL", "https://app.example.com/home", "Cookie", "vexen_access="+tok),
	} {
		w := newRecorder()
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			t.Fatalf("status %d", w.status)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			w.reset()
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				t.Fatalf("status %d", w.status)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: cached handler path: %v allocations per run, want 0", r.URL, allocs)
		}
	}
}
