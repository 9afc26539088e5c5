package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"golang.org/x/sys/unix"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// BenchmarkDecideCached: a token seen before (layer a answers).
func BenchmarkDecideCached(b *testing.B) {
	f := newFixture(b)
	tok := f.token("s1", "u1", "dev")
	f.mustAllow(tok)
	req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/x", Token: tok, Source: SourceHeader}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, _ := f.v.Decide(ctx, req); !d.Allow {
			b.Fatal("denied")
		}
	}
}

// BenchmarkDecideCachedPolicy: the cached decision without a policy and with a
// 100-rule one, run alternately so that the machine's load hits both alike.
func BenchmarkDecideCachedPolicy(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []fixtureOption
	}{
		{"none", nil},
		{"rules=100", []fixtureOption{withConfig(func(c *Config) { c.Policy = bigPolicy(b) })}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, bc.opts...)
			tok := f.token("s1", "u1", "dev")
			f.mustAllow(tok)
			req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/x", Token: tok, Source: SourceHeader}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if d, _ := f.v.Decide(ctx, req); !d.Allow {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkDecideCachedPolicyRatio measures the two cached decisions of
// BenchmarkDecideCachedPolicy in the same process, in short rounds that alternate
// them (AB, then BA, so drift hits both alike), by the CPU time of the benchmark's
// own thread (CLOCK_THREAD_CPUTIME_ID: on a machine shared with other work, wall
// time counts the time other processes held the core). It reports the median over rounds of
// each (ns of CPU per decision) and the median of the rounds' ratios
// (with policy / without); -benchtime 200x gives 200 rounds.
// scripts/policy-cost.sh runs it, and counts instructions with callgrind.
func BenchmarkDecideCachedPolicyRatio(b *testing.B) {
	type side struct {
		v   *Verifier
		req *Request
	}
	sides := make([]side, 2)
	for i, opts := range [][]fixtureOption{nil, {withConfig(func(c *Config) { c.Policy = bigPolicy(b) })}} {
		f := newFixture(b, opts...)
		tok := f.token("s1", "u1", "dev")
		f.mustAllow(tok)
		sides[i] = side{f.v, &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/x", Token: tok, Source: SourceHeader}}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// CLOCK_THREAD_CPUTIME_ID, not getrusage(RUSAGE_THREAD): the latter counts in
	// scheduler ticks (4 ms at 250 Hz), about one round, so every round read 0, 1
	// or 2 ticks and the "ratio" was that of two quantised counts.
	threadCPU := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ts.Nano())
	}
	ctx := context.Background()
	const perRound = 10000
	run := func(s side) time.Duration {
		start := threadCPU()
		for range perRound {
			if d, _ := s.v.Decide(ctx, s.req); !d.Allow {
				b.Fatal("denied")
			}
		}
		return threadCPU() - start
	}
	var none, pol, ratio []float64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var t [2]time.Duration
		if len(none)%2 == 0 {
			t[0], t[1] = run(sides[0]), run(sides[1])
		} else {
			t[1], t[0] = run(sides[1]), run(sides[0])
		}
		if t[0] <= 0 || t[1] <= 0 {
			continue // below the clock's resolution: no ratio
		}
		none = append(none, float64(t[0].Nanoseconds())/perRound)
		pol = append(pol, float64(t[1].Nanoseconds())/perRound)
		ratio = append(ratio, float64(t[1])/float64(t[0]))
	}
	b.ReportMetric(median(none), "cpu-ns/none")
	b.ReportMetric(median(pol), "cpu-ns/rules100")
	b.ReportMetric(median(ratio), "ratio")
}

// median of xs (0 for none); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// BenchmarkDecideCachedParallel: the same, from every core, over many tokens.
func BenchmarkDecideCachedParallel(b *testing.B) {
	f := newFixture(b)
	const n = 1024
	toks := make([]string, n)
	for i := range toks {
		toks[i] = f.token("s"+strconv.Itoa(i), "u"+strconv.Itoa(i), "dev")
		f.mustAllow(toks[i])
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		req := &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/x", Source: SourceHeader}
		for pb.Next() {
			req.Token = toks[i%n]
			i++
			if d, _ := f.v.Decide(ctx, req); !d.Allow {
				b.Fatal("denied")
			}
		}
	})
}

// mintMany mints n tokens for n live sessions.
func mintMany(b *testing.B, f *fixture, n int) []string {
	toks := make([]string, n)
	for i := range toks {
		sid := "s" + strconv.Itoa(i)
		f.sessions.Add(sid, "u1", f.clock.Now().Add(time.Hour))
		toks[i] = f.mint.Mint(b, verifytest.Claims{Subject: "u1", SessionID: sid})
	}
	return toks
}

// BenchmarkDecideFirstSight: every token new, the session check asked for
// (--first-sight-session-check): signature check (ES256), Redis lookup
// (in-memory here), store lookup, fills.
func BenchmarkDecideFirstSight(b *testing.B) {
	f := newFixture(b, withRedis())
	benchFirstSight(b, f)
}

// BenchmarkDecideFirstSightKnown: every token new, decided from the revocation
// window (the default): the signature check and the claims, no backend call.
func BenchmarkDecideFirstSightKnown(b *testing.B) {
	f := newFixture(b, withRedis(), withFirstSight())
	benchFirstSight(b, f)
	if n := f.shared.Calls().Lookup; n != 0 {
		b.Fatalf("%d Redis lookups", n)
	}
}

func benchFirstSight(b *testing.B, f *fixture) {
	toks := mintMany(b, f, 20000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == len(toks) {
			b.StopTimer()
			f.v.cache = newLocalCache(DefaultCacheEntries)
			f.shared.Flush()
			i = 0
			b.StartTimer()
		}
		if d, err := f.v.Decide(ctx, &Request{Token: toks[i]}); !d.Allow {
			b.Fatalf("denied: %v %v", d.Reason, err)
		}
		i++
	}
}

// BenchmarkDecideRedisHit: local cache off, Redis holds the claims (the "redis"
// load scenario, minus the network).
func BenchmarkDecideRedisHit(b *testing.B) {
	f := newFixture(b, withRedis(), withConfig(func(c *Config) { c.NoLocalCache = true }))
	toks := mintMany(b, f, 1000)
	for _, tok := range toks {
		f.mustAllow(tok)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if d, _ := f.v.Decide(ctx, &Request{Token: toks[i%len(toks)]}); !d.Allow {
			b.Fatal("denied")
		}
		i++
	}
}

// BenchmarkDecideStrict: cached token, revocation looked up in (in-memory) Redis
// on every decision.
func BenchmarkDecideStrict(b *testing.B) {
	f := newFixture(b, withRedis(), withConfig(func(c *Config) { c.Revocation = ModeStrict }))
	tok := f.token("s1", "u1")
	f.mustAllow(tok)
	req := &Request{Token: tok}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, _ := f.v.Decide(ctx, req); !d.Allow {
			b.Fatal("denied")
		}
	}
}

// BenchmarkHandlerCached: the HTTP adapter in process, reusable ResponseWriter.
func BenchmarkHandlerCached(b *testing.B) {
	f := newFixture(b)
	tok := f.token("s1", "u1", "dev")
	h := f.v.Handler()
	r := authRequest("/auth", "Authorization", "Bearer "+tok, "X-Forwarded-Host", "app.example.com",
		"X-Forwarded-Uri", "/x", "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https")
	w := newRecorder()
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkHandlerHTTP: end to end through net/http over loopback (httptest
// server, keep-alive client), cached token.
func BenchmarkHandlerHTTP(b *testing.B) {
	f := newFixture(b)
	tok := f.token("s1", "u1", "dev")
	srv := httptest.NewServer(f.v.Handler())
	defer srv.Close()
	client := srv.Client()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/auth", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Forwarded-Uri", "/x")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}

// BenchmarkCacheMemory reports the heap bytes one cached token costs, with
// realistic identities (UUID user ids, 36-byte session ids, one of a few role sets),
// by filling a cache with b.N entries (run with -benchtime=1000000x for the
// 1,000,000-session figure).
func BenchmarkCacheMemory(b *testing.B) {
	n := b.N
	roleSets := [][]string{{"user"}, {"user", "admin"}, {"dev"}, {}}
	var shapes shapeTable
	c := newLocalCache(n)
	now := time.Now().UnixNano()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		id := fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i)
		claims := &tokenClaims{Sub: id, Sid: "s" + id[1:], Email: "user" + strconv.Itoa(i) + "@example.com", Roles: roleSets[i%len(roleSets)]}
		h := sha256.Sum256([]byte(id))
		c.put(&h, newEntry(claims, shapes.get(claims.Roles, claims.Amr), now+int64(time.Hour), now), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := int(c.n.Load()); got != n {
		b.Fatalf("%d entries, want %d", got, n)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-bytes/entry")
	runtime.KeepAlive(c)
}

// BenchmarkDecodeClaims: the claims of an issuer-minted token, as a first sight and
// every Redis-layer decision read them.
func BenchmarkDecodeClaims(b *testing.B) {
	m := &verifytest.Minter{Key: verifytest.NewKey(b, jwa.ES256)}
	payload := m.Payload(b, verifytest.Claims{Roles: []string{"admin", "dev"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeClaims(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeHeader: the JOSE header of an issuer-minted token.
func BenchmarkDecodeHeader(b *testing.B) {
	h := []byte(`{"alg":"ES256","kid":"0123456789abcdef","typ":"at+jwt"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeHeader(h); err != nil {
			b.Fatal(err)
		}
	}
}
