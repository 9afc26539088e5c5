package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/bench/load"
	"github.com/vexen/vexen-auth/bench/parse"
	"github.com/vexen/vexen-auth/bench/report"
	"github.com/vexen/vexen-auth/bench/tokens"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// memory measures the verifier's resident memory with -memory-sessions cached
// sessions. Signing that many users in through the login endpoint would take an
// hour, so this uses an HS256 deployment (JWT_SECRET_KEY) with a Redis of its own:
//
//   - an HS256 issuer signs one user in, which gives the shape of its tokens;
//   - the harness mints one token per session in that shape with the shared secret
//     and writes each one's claims to access_token:{h}, as the issuer's write-through
//     does at login (so the sessions are "signed in" as far as a verifier can tell);
//   - a fresh verifier of that deployment gets every token once: each is a local
//     miss answered by Redis, then held in the local cache.
//
// RSS is read from /proc/PID/status after a warm-up and after the fill. The Redis is
// a throwaway redis-server, so that a million keys never land on the shared one.
func (h *harness) memory(ctx context.Context, e *env) error {
	o := h.o
	m := o.memSessions
	secret := randomHex(32)
	secretEnv := []string{"JWT_SECRET_KEY=" + secret}

	rurl, err := h.startRedis(ctx, "redis-memory", "")
	if err != nil {
		return err
	}

	// The token shape of an HS256 issuer (on the run's database, without Redis).
	iaddr, err := freePort()
	if err != nil {
		return err
	}
	iurl := "http://" + iaddr
	iss, err := h.start("issuer-hs256", "", secretEnv, h.bins.issuer, "serve", "--alg", "HS256", "--listen", iaddr,
		"--issuer-url", iurl, "--keys", filepath.Join(h.work, "keys-hs256"), "--database-url", e.dbURL, "--redis-url=", "--log-level", "warn", "--metrics-listen=")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, iss, iurl+"/readyz", 30*time.Second); err != nil {
		return err
	}
	first, err := loginOnce(ctx, &http.Client{Timeout: 30 * time.Second}, iurl, e.users[0].email, e.password, "198.19.0.1")
	if err != nil {
		return fmt.Errorf("HS256 login: %w", err)
	}
	iss.stop()
	tmpl, err := tokens.ParseTemplate(first)
	if err != nil {
		return err
	}
	if tmpl.Alg != "HS256" {
		return fmt.Errorf("the HS256 issuer signed with %s", tmpl.Alg)
	}

	// One token per session; one user per session too, so that entries share
	// nothing a real population would not share.
	t0 := time.Now()
	ropt, err := redis.ParseURL(rurl)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	cache := rediscache.New(rdb, rediscache.Options{Prefix: e.prefix})
	now := time.Now()
	exp := now.Add(time.Hour)
	signer := tokens.HS256([]byte(secret))
	toks := make([]string, m)
	// Every session's claims have the shape of session 0's (UUIDs, same-length
	// emails): its footprint is every entry's.
	var shape tokens.Claims
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipe := rdb.Pipeline()
			for i := w; i < m; i += workers {
				c := tokens.Claims{Subject: tokens.NewID(), SessionID: tokens.NewID(), Email: fmt.Sprintf("mem%07d@bench.example", i), IssuedAt: now, ExpiresAt: exp}
				tok, claims, err := tmpl.MintPayload(c, signer)
				if err != nil {
					errs[w] = err
					return
				}
				toks[i] = tok
				if i == 0 {
					shape = c
				}
				pipe.Set(ctx, cache.AccessKey(tokens.Hash(tok)), claims, time.Until(exp))
				if pipe.Len() == 1000 {
					if _, err := pipe.Exec(ctx); err != nil {
						errs[w] = err
						return
					}
				}
			}
			if _, err := pipe.Exec(ctx); err != nil {
				errs[w] = err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("memory: mint and write to Redis: %w", err)
		}
	}
	h.logf("memory: %d sessions minted and written to Redis in %s", m, time.Since(t0).Round(100*time.Millisecond))

	v, err := h.startVerifier(ctx, "verifier-memory", "", h.bins.verifier, secretEnv, false,
		"--issuer", iurl, "--database-url", e.dbURL, "--redis-url", rurl, "--redis-prefix", e.prefix,
		"--cache-entries", fmt.Sprint(m+m/10+1000), "--log-level", "warn")
	if err != nil {
		return err
	}
	// 32 connections: the fill is bound by round trips (a Redis lookup each), and
	// 32 keeps both cores busy where 8 left them idle half the time.
	fill := func(from, to int) (load.Counts, error) {
		var next atomic.Int64
		next.Store(int64(from))
		return load.Drive(ctx, v.addr, 32, 10*time.Second, func() []byte {
			i := int(next.Add(1) - 1)
			if i >= to {
				return nil
			}
			return load.Request("GET", v.addr, "/auth", "Authorization", "Bearer "+toks[i])
		})
	}
	metrics := "http://" + v.addr + "/metrics"
	read := func() (heap, live, entries float64, path pathDelta) {
		ss, err := scrape(ctx, metrics)
		if err != nil {
			return math.NaN(), math.NaN(), math.NaN(), pathDelta{}
		}
		return gauge(ss, "go_memstats_heap_inuse_bytes"), gauge(ss, "go_gc_heap_live_bytes"), gauge(ss, "vexen_verifier_local_cache_entries"), pathOf(ss)
	}

	// Warm-up: the first sessions, so that pools and buffers exist before the
	// "before" reading.
	warm := min(10000, m/10)
	if c, err := fill(0, warm); err != nil || c.Failed > 0 {
		return fmt.Errorf("memory warm-up: %v (%d refused, first: %s)", err, c.Failed, c.FirstFailure)
	}
	time.Sleep(time.Second)
	fp := verify.FootprintOf(shape.Subject, shape.Email, shape.SessionID)
	mem := &report.Memory{Sessions: m - warm, EntryBytes: fp.Entry, StringBytes: fp.Strings, MapSlotBytes: fp.MapSlot}
	if mem.RSSBefore, err = rss(v.p.pid()); err != nil {
		return err
	}
	var p0, p1 pathDelta
	mem.HeapBefore, mem.LiveBefore, _, p0 = read()
	t0 = time.Now()
	c, err := fill(warm, m)
	mem.Fill = time.Since(t0)
	if err != nil {
		return err
	}
	if c.Failed > 0 {
		return fmt.Errorf("memory: the verifier refused %d of %d tokens (first: %s)", c.Failed, m-warm, c.FirstFailure)
	}
	time.Sleep(2 * time.Second)
	if mem.RSSAfter, err = rss(v.p.pid()); err != nil {
		return err
	}
	mem.HeapAfter, mem.LiveAfter, mem.Entries, p1 = read()
	if got := p1.redisHit - p0.redisHit; got < 0.99*float64(m-warm) {
		h.note("memory: only %.0f of the %d tokens were answered from Redis", got, m-warm)
	}

	// A sample of 10,000 tokens spread over the whole fill, again: all must be local hits.
	var sample []string
	for i := 0; i < m; i += max(m/10000, 1) {
		sample = append(sample, toks[i])
	}
	_, _, _, before := read()
	if err := h.touch(ctx, v.addr, sample); err != nil {
		return err
	}
	_, _, _, after := read()
	mem.Replayed = int64(len(sample))
	mem.ReplayHits = int64(after.localHit - before.localHit)
	h.rep.Memory = mem
	h.logf("memory: %d sessions cached in %s: RSS %.1f → %.1f MiB, %.0f B per session; %d of %d replayed tokens hit the local cache",
		mem.Sessions, mem.Fill.Round(100*time.Millisecond), float64(mem.RSSBefore)/(1<<20), float64(mem.RSSAfter)/(1<<20), mem.PerSession(), mem.ReplayHits, mem.Replayed)
	v.p.stop()
	return nil
}

// startRedis starts a throwaway redis-server (no persistence) on a free port, named
// name (its log file) and pinned to cpus unless empty.
func (h *harness) startRedis(ctx context.Context, name, cpus string) (string, error) {
	bin, err := lookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found (scripts/install-deps.sh installs it): %w", err)
	}
	addr, err := freePort()
	if err != nil {
		return "", err
	}
	_, port, _ := splitHostPort(addr)
	dir := filepath.Join(h.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p, err := h.start(name, cpus, nil, bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", dir)
	if err != nil {
		return "", err
	}
	if err := waitTCP(ctx, p, addr, 10*time.Second); err != nil {
		return "", err
	}
	return "redis://" + addr + "/0", nil
}

// gauge returns the single value of an unlabelled metric, NaN when absent.
func gauge(ss parse.Samples, name string) float64 {
	if !ss.Has(name) {
		return math.NaN()
	}
	return ss.Sum(name, nil)
}
