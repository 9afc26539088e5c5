package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vexen/vexen-auth/bench/load"
	"github.com/vexen/vexen-auth/bench/parse"
	"github.com/vexen/vexen-auth/bench/report"
	"github.com/vexen/vexen-auth/bench/stats"
	"github.com/vexen/vexen-auth/bench/tokens"
)

// target is a server under load.
type target struct {
	name    string
	addr    string // host:port the load generator connects to
	path    string // request path
	pids    []int  // server-side processes whose CPU time is counted
	metrics string // the verifier's /metrics URL, "" when the target has none
}

// pathDelta is what the verifier's metrics say happened during a run.
type pathDelta struct {
	localHit, localMiss, redisHit, redisMiss, allow, deny, errs float64
	firstSight                                                  float64 // never-seen tokens decided from the revocation window
}

func (d pathDelta) add(o pathDelta) pathDelta {
	return pathDelta{d.localHit + o.localHit, d.localMiss + o.localMiss, d.redisHit + o.redisHit, d.redisMiss + o.redisMiss,
		d.allow + o.allow, d.deny + o.deny, d.errs + o.errs, d.firstSight + o.firstSight}
}

func pathOf(ss parse.Samples) pathDelta {
	const cache, dec = "vexen_verifier_cache_requests_total", "vexen_verifier_decisions_total"
	return pathDelta{
		localHit:   ss.Sum(cache, map[string]string{"layer": "local", "result": "hit"}),
		localMiss:  ss.Sum(cache, map[string]string{"layer": "local", "result": "miss"}),
		redisHit:   ss.Sum(cache, map[string]string{"layer": "redis", "result": "hit"}),
		redisMiss:  ss.Sum(cache, map[string]string{"layer": "redis", "result": "miss"}),
		allow:      ss.Sum(dec, map[string]string{"decision": "allow"}),
		deny:       ss.Sum(dec, map[string]string{"decision": "deny"}),
		errs:       ss.Sum(dec, map[string]string{"decision": "error"}),
		firstSight: ss.Sum("vexen_verifier_first_sight_known_total", nil),
	}
}

// runResult is one measured run.
type runResult struct {
	run     stats.Run
	path    pathDelta
	hasPath bool
}

// runner drives load at a target with the tokens of a file for d.
type runner func(ctx context.Context, t target, tokenFile string, d time.Duration) (runResult, error)

// measure wraps a load generator: CPU time of the target's processes and the
// verifier's metrics before and after.
func (h *harness) measure(ctx context.Context, t target, d time.Duration, drive func() (stats.Run, error)) (runResult, error) {
	var before parse.Samples
	var err error
	if t.metrics != "" {
		if before, err = scrape(ctx, t.metrics); err != nil {
			return runResult{}, err
		}
	}
	cpu0, err := treeCPU(t.pids...)
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w", t.name, err)
	}
	busy0, steal0, err := cpuCounters(h.serverCPUs)
	if err != nil {
		return runResult{}, err
	}
	t0 := time.Now()
	run, err := drive()
	wall := time.Since(t0)
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w", t.name, err)
	}
	cpu1, err := treeCPU(t.pids...)
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w", t.name, err)
	}
	busy1, steal1, err := cpuCounters(h.serverCPUs)
	if err != nil {
		return runResult{}, err
	}
	// The generator's startup (wrk's Lua init) is in wall but not in Elapsed; the
	// server is idle then, so its CPU is divided by the measured span only. The
	// machine-wide counters cover the whole wall time.
	span := min(wall, run.Elapsed+200*time.Millisecond)
	run.ServerCPU = (cpu1 - cpu0).Seconds() / span.Seconds()
	run.OtherCPU = max(0, (busy1-busy0).Seconds()-(cpu1-cpu0).Seconds()) / wall.Seconds()
	run.StealCPU = (steal1 - steal0).Seconds() / wall.Seconds()
	res := runResult{run: run}
	if t.metrics != "" {
		after, err := scrape(ctx, t.metrics)
		if err != nil {
			return runResult{}, err
		}
		a, b := pathOf(after), pathOf(before)
		res.path = pathDelta{a.localHit - b.localHit, a.localMiss - b.localMiss, a.redisHit - b.redisHit, a.redisMiss - b.redisMiss,
			a.allow - b.allow, a.deny - b.deny, a.errs - b.errs, a.firstSight - b.firstSight}
		res.hasPath = true
	}
	return res, nil
}

// wrkRunner runs wrk pinned to the load CPU with rotate.lua.
func (h *harness) wrkRunner(ctx context.Context, t target, tokenFile string, d time.Duration) (runResult, error) {
	script := filepath.Join(h.work, "rotate.lua")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, rotateLua, 0o644); err != nil {
			return runResult{}, err
		}
	}
	return h.measure(ctx, t, d, func() (stats.Run, error) {
		out, cpu, err := runLoad(ctx, "taskset", "-c", h.o.loadCPU, "wrk",
			"-t", strconv.Itoa(h.o.threads), "-c", strconv.Itoa(h.o.conns), "-d", strconv.Itoa(int(d.Seconds()))+"s",
			"--latency", "--timeout", "5s", "-s", script, "http://"+t.addr+t.path, "--", tokenFile, strconv.Itoa(h.o.threads))
		if err != nil {
			return stats.Run{}, err
		}
		w, err := parse.ParseWrk(out)
		if err != nil {
			return stats.Run{}, fmt.Errorf("%w\n%s", err, tail(out, 20))
		}
		return stats.Run{Requests: w.Requests, Failures: w.Failures(), Elapsed: w.Duration, Repeats: w.Repeats,
			Latency: stats.Latency{P50: w.P50, P90: w.P90, P99: w.P99, Max: w.Max}, LoadCPU: cpu.Seconds() / w.Duration.Seconds()}, nil
	})
}

// grpcRunner runs the harness's grpc-load pinned to the load CPU.
func (h *harness) grpcRunner(ctx context.Context, t target, tokenFile string, d time.Duration) (runResult, error) {
	return h.measure(ctx, t, d, func() (stats.Run, error) {
		out, cpu, err := runLoad(ctx, "taskset", "-c", h.o.loadCPU, h.bins.self, "grpc-load",
			"-target", t.addr, "-tokens", tokenFile, "-duration", d.String(), "-concurrency", strconv.Itoa(h.o.conns))
		if err != nil {
			return stats.Run{}, err
		}
		var run stats.Run
		if err := json.Unmarshal([]byte(out), &run); err != nil {
			return stats.Run{}, fmt.Errorf("grpc-load output %q: %w", out, err)
		}
		run.Repeats = -1
		run.LoadCPU = cpu.Seconds() / run.Elapsed.Seconds()
		return run, nil
	})
}

// subject is one scenario of a group.
type subject struct {
	name, what string
	t          target
	tokens     func(round int) string
	goal       float64
	// prepare, when set, runs before each of the subject's runs (round -1 is the
	// warm-up) and may replace t: the cold scenario starts a fresh verifier there.
	prepare func(ctx context.Context, round int) error
	results []runResult
}

// group runs the baseline and its subjects interleaved: B S1 S2 … B S1 S2 … B. The
// warm-up runs first (unrecorded). It returns the baseline's runs.
func (h *harness) group(ctx context.Context, name string, run runner, base target, baseTokens string, subjects []*subject) ([]runResult, error) {
	o := h.o
	if o.warmup > 0 {
		if _, err := run(ctx, base, baseTokens, o.warmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		for _, s := range subjects {
			if s.prepare != nil {
				if err := s.prepare(ctx, -1); err != nil {
					return nil, err
				}
			}
			if _, err := run(ctx, s.t, s.tokens(-1), o.warmup); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	var baseRuns []runResult
	for r := 0; r <= o.rounds; r++ {
		res, err := run(ctx, base, baseTokens, o.duration)
		if err != nil {
			return nil, err
		}
		baseRuns = append(baseRuns, res)
		line := fmt.Sprintf("%s round %d: %s %.0f/s", name, r+1, base.name, res.run.RPS())
		if r == o.rounds {
			h.logf("%s (closing baseline)", line)
			break
		}
		for _, s := range subjects {
			if s.prepare != nil {
				if err := s.prepare(ctx, r); err != nil {
					return nil, err
				}
			}
			res, err := run(ctx, s.t, s.tokens(r), o.duration)
			if err != nil {
				return nil, err
			}
			s.results = append(s.results, res)
			line += fmt.Sprintf(", %s %.0f/s", s.name, res.run.RPS())
		}
		h.logf("%s", line)
	}
	return baseRuns, nil
}

// addScenarios turns a finished group into report rows.
func (h *harness) addScenarios(baseName string, baseRuns []runResult, subjects []*subject) error {
	var bRuns []stats.Run
	var bRPS []float64
	for _, r := range baseRuns {
		bRuns = append(bRuns, r.run)
		bRPS = append(bRPS, r.run.RPS())
	}
	h.checkCPU(baseName, bRuns)
	for _, s := range subjects {
		var runs []stats.Run
		var rps []float64
		var path pathDelta
		hasPath := false
		var repeats, reqs int64
		for _, r := range s.results {
			runs = append(runs, r.run)
			rps = append(rps, r.run.RPS())
			path = path.add(r.path)
			hasPath = hasPath || r.hasPath
			repeats += max(r.run.Repeats, 0)
			reqs += r.run.Requests
		}
		ratios, err := stats.BracketRatios(bRPS, rps)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		note := ""
		if hasPath {
			note = pathNote(path, h.o.conns*len(s.results))
		}
		if s.name == "cold" && reqs > 0 && (path.localHit > 0.01*float64(reqs) || path.redisHit > 0.01*float64(reqs)) {
			note += "; NOT cold: the verifier found some tokens in its cache or in Redis"
			h.note("cold: %.0f local and %.0f Redis hits over %d requests: the scenario was partly cached.", path.localHit, path.redisHit, reqs)
		}
		if s.name == "cold" {
			if repeats > 0 {
				note += fmt.Sprintf("; NOT cold: %d requests repeated a token (the pool was too small)", repeats)
				h.note("cold: %d of %d requests repeated a token: raise the pool (the scenario is then partly cached).", repeats, reqs)
			} else {
				note += "; no token repeated"
			}
		}
		h.rep.Scenarios = append(h.rep.Scenarios, report.Scenario{
			Name: s.name, What: s.what, Baseline: baseName, Runs: runs, BaseRuns: bRuns, Ratios: ratios, Target: s.goal, Note: note,
		})
	}
	return nil
}

// checkCPU notes where a baseline's CPU went, and says so when it did not have
// its core to itself: the load generator near a full core means it, not the
// server, set the pace; CPU time of other processes, or hypervisor steal, on the
// server's CPU means the machine is shared and the rounds are noisy.
func (h *harness) checkCPU(name string, runs []stats.Run) {
	med := func(f func(stats.Run) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return stats.Median(xs)
	}
	s := med(func(r stats.Run) float64 { return r.ServerCPU })
	g := med(func(r stats.Run) float64 { return r.LoadCPU })
	other := med(func(r stats.Run) float64 { return r.OtherCPU })
	steal := med(func(r stats.Run) float64 { return r.StealCPU })
	msg := fmt.Sprintf("%s (median of its runs): the server used %.0f %% of its CPU, the load generator %.0f %% of its own; other processes used %.0f %% of the server's CPU and the hypervisor stole %.0f %%.",
		name, 100*s, 100*g, 100*other, 100*steal)
	switch {
	case g >= 0.9:
		msg += " The load generator was the limit: the baseline ran below its peak, so the ratios against it are upper bounds."
	case other+steal >= 0.05:
		msg += " This machine is shared: the absolute numbers are low and the rounds noisy."
	}
	h.note("%s", msg)
}

// pathNote says, per decision, which layers the verifier consulted, from its own
// metrics. abandoned is how many requests the load generator may have left in
// flight when its runs stopped (the verifier counts those as errors: their
// clients went away).
func pathNote(p pathDelta, abandoned int) string {
	decisions := p.allow + p.deny + p.errs
	if decisions == 0 {
		return "the verifier counted no decisions"
	}
	per := func(lookups, hits float64) string {
		if lookups == 0 {
			return "none"
		}
		return fmt.Sprintf("%.2f, hit %.1f %%", lookups/decisions, 100*hits/lookups)
	}
	parts := []string{
		fmt.Sprintf("allowed %.2f %%", 100*p.allow/decisions),
		"local cache lookups " + per(p.localHit+p.localMiss, p.localHit),
		"Redis lookups " + per(p.redisHit+p.redisMiss, p.redisHit),
	}
	if p.firstSight > 0 {
		parts = append(parts, fmt.Sprintf("first sight from the window %.2f", p.firstSight/decisions))
	}
	if p.deny > 0 {
		parts = append(parts, fmt.Sprintf("%.0f denied", p.deny))
	}
	switch {
	case p.errs > float64(abandoned):
		parts = append(parts, fmt.Sprintf("%.0f errors", p.errs))
	case p.errs > 0:
		parts = append(parts, fmt.Sprintf("%.0f errors (requests in flight when the load generator stopped)", p.errs))
	}
	return "per decision (verifier metrics): " + strings.Join(parts, ", ")
}

// verifier is a running verifier process.
type verifier struct {
	p              *proc
	addr, grpcAddr string
}

func (v *verifier) target(name, path string, extra ...int) target {
	return target{name: name, addr: v.addr, path: path, pids: append([]int{v.p.pid()}, extra...), metrics: "http://" + v.addr + "/metrics"}
}

// startVerifier starts a verifier on a free port with args after --listen.
func (h *harness) startVerifier(ctx context.Context, name, cpus, bin string, env []string, grpc bool, args ...string) (*verifier, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	v := &verifier{addr: addr}
	all := []string{bin, "--listen", addr}
	if grpc {
		if v.grpcAddr, err = freePort(); err != nil {
			return nil, err
		}
		all = append(all, "--grpc-listen", v.grpcAddr)
	}
	all = append(all, args...)
	if v.p, err = h.start(name, cpus, env, all...); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, v.p, "http://"+addr+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}
	return v, nil
}

// verifierArgs are the flags every verifier of the main deployment shares.
func (h *harness) verifierArgs(e *env, extra ...string) []string {
	return append([]string{"--jwks-url", e.issuerURL + "/.well-known/jwks.json", "--issuer", e.issuerURL,
		"--database-url", e.dbURL, "--redis-url", h.o.redis, "--redis-prefix", e.prefix, "--log-level", "warn"}, extra...)
}

// scenarios runs the HTTP group (cached, redis, cold, strict against the bare
// net/http server), the open-loop latency, the nginx group and the gRPC group.
func (h *harness) scenarios(ctx context.Context, e *env) error {
	o := h.o
	cpu := o.serverCPU

	app, appAddr, err := h.startBaseline(ctx, "baseline-http", nil, "serve-http")
	if err != nil {
		return err
	}
	bare := target{name: "bare net/http", addr: appAddr, path: "/auth", pids: []int{app.pid()}}
	loginTokens := func(int) string { return e.tokenFile }

	needCached := o.has("cached") || o.has("nginx") || o.has("grpc") || o.openLoop
	var cached *verifier
	if needCached {
		if cached, err = h.startVerifier(ctx, "verifier-cached", cpu, h.bins.verifier, nil, true, h.verifierArgs(e)...); err != nil {
			return err
		}
		// Every token once, so that the local cache holds them all before the warm-up.
		if err := h.touch(ctx, cached.addr, e.tokens); err != nil {
			return err
		}
	}

	var subjects []*subject
	if o.has("cached") {
		subjects = append(subjects, &subject{name: "cached", what: "local cache", t: cached.target("verifier (cached)", "/auth"), tokens: loginTokens, goal: 0.9})
	}
	if o.has("redis") {
		v, err := h.startVerifier(ctx, "verifier-redis", cpu, h.bins.verifier, nil, false, h.verifierArgs(e, "--no-local-cache")...)
		if err != nil {
			return err
		}
		subjects = append(subjects, &subject{name: "redis", what: "Redis (--no-local-cache)", t: v.target("verifier (redis)", "/auth"), tokens: loginTokens, goal: 0.5})
	}
	type coldRun struct {
		k    coldKind
		sub  *subject
		pool string
		done func(context.Context) error
	}
	var colds []coldRun
	kinds := e.coldKinds()
	for _, name := range []string{"cold", "cold-eddsa"} {
		if !o.has(name) {
			continue
		}
		sub, pool, done, err := h.coldSubject(ctx, e, cpu, kinds[name])
		if err != nil {
			return err
		}
		colds = append(colds, coldRun{kinds[name], sub, pool, done})
	}
	if o.has("yardstick") {
		p, addr, err := h.startYardstick(ctx)
		if err != nil {
			return err
		}
		defer p.stop()
		subjects = append(subjects, &subject{name: "yardstick", what: "nginx return 200 (the load generator's yardstick)",
			t: target{name: "nginx return 200", addr: addr, path: "/auth", pids: []int{p.pid()}}, tokens: loginTokens})
	}
	if o.has("strict") {
		v, err := h.startVerifier(ctx, "verifier-strict", cpu, h.bins.verifier, nil, false, h.verifierArgs(e, "--revocation", "strict")...)
		if err != nil {
			return err
		}
		subjects = append(subjects, &subject{name: "strict", what: "local cache + Redis revocation check", t: v.target("verifier (strict)", "/auth"), tokens: loginTokens})
	}
	var baseRuns []runResult
	if len(subjects) > 0 {
		if baseRuns, err = h.group(ctx, "http", h.wrkRunner, bare, e.tokenFile, subjects); err != nil {
			return err
		}
		if err := h.addScenarios("bare net/http", baseRuns, subjects); err != nil {
			return err
		}
	}
	for _, c := range colds {
		if err := h.coldGroup(ctx, c.k, c.sub, c.pool); err != nil {
			return err
		}
		if err := c.done(ctx); err != nil {
			return err
		}
	}

	if o.openLoop && o.has("cached") {
		i := slices.IndexFunc(subjects, func(s *subject) bool { return s.name == "cached" })
		if err := h.openLoopP99(ctx, e, bare, cached, baseRuns, subjects[i].results); err != nil {
			return err
		}
	}
	if o.profile != "" {
		if err := h.profiles(ctx, e); err != nil {
			return err
		}
	}
	if o.has("nginx") {
		if err := h.nginxGroup(ctx, e, cached, app, appAddr); err != nil {
			return err
		}
	}
	if o.has("grpc") {
		if err := h.grpcGroup(ctx, e, cached); err != nil {
			return err
		}
	}
	if o.has("peers") {
		if err := h.peersGroups(ctx, e, bare, app, appAddr); err != nil {
			return err
		}
	}
	return nil
}

// ownPeakServer names the open-loop row of the cached verifier at 70 % of its own peak.
const ownPeakServer = "verifier (cached), 70 % of its own peak"

// touch sends each token once to a verifier, so its cache holds them all.
func (h *harness) touch(ctx context.Context, addr string, toks []string) error {
	reqs := load.BearerRequests(addr, "/auth", toks)
	var mu sync.Mutex
	i := 0
	counts, err := load.Drive(ctx, addr, 8, 10*time.Second, func() []byte {
		mu.Lock()
		defer mu.Unlock()
		if i >= len(reqs) {
			return nil
		}
		i++
		return reqs[i-1]
	})
	if err != nil {
		return err
	}
	if counts.Failed > 0 {
		return fmt.Errorf("verifier at %s refused %d of %d signed-in tokens (first: %s)", addr, counts.Failed, len(toks), counts.FirstFailure)
	}
	return nil
}

// es256VerifyCost measures the fastest an ECDSA P-256 signature check runs on this
// machine (crypto/ecdsa, which jwx uses): the verifier cannot check signatures
// faster than one per this much CPU time.
func es256VerifyCost() time.Duration {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sum := sha256.Sum256([]byte("vexenbench"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, sum[:])
	return fastest(func() { ecdsa.VerifyASN1(&k.PublicKey, sum[:], sig) })
}

// ed25519VerifyCost is es256VerifyCost for Ed25519 (crypto/ed25519).
func ed25519VerifyCost() time.Duration {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("vexenbench")
	sig := ed25519.Sign(k, msg)
	pub := k.Public().(ed25519.PublicKey)
	return fastest(func() { ed25519.Verify(pub, msg, sig) })
}

// fastest is the least time f took, of five batches of 100 calls.
func fastest(f func()) time.Duration {
	best := time.Duration(math.MaxInt64)
	for range 5 {
		t0 := time.Now()
		for range 100 {
			f()
		}
		best = min(best, time.Since(t0)/100)
	}
	return best
}

// coldKind is one signature algorithm of the cold scenario: cold (ES256, the
// issuer's own key and the target) and cold-eddsa (the harness's Ed25519 key,
// published by the issuer beside it), each against a baseline verifying the same
// algorithm.
type coldKind struct {
	name, alg string
	signer    tokens.Signer
	tmpl      *tokens.Template
	pub       any // the baseline verifies with it
	cost      func() time.Duration
	goal      float64
	bursts    bool // run the single-flight check on this kind's last verifier
}

func (e *env) coldKinds() map[string]coldKind {
	return map[string]coldKind{
		"cold": {name: "cold", alg: "ES256", signer: tokens.ES256(e.key), tmpl: e.tmpl, pub: &e.key.PublicKey,
			cost: es256VerifyCost, goal: 0.8, bursts: true},
		"cold-eddsa": {name: "cold-eddsa", alg: "EdDSA", signer: tokens.EdDSA(e.edKey), tmpl: e.edTmpl, pub: e.edKey.Public(),
			cost: ed25519VerifyCost, goal: 0.8},
	}
}

// coldSubject prepares a cold scenario: every request a token the verifier has
// never seen, so each is a local miss and a signature check, then first sight
// from the revocation window (or a Redis miss and a PostgreSQL lookup). The pool
// holds more distinct tokens (each of its own new session) than one core could
// check in a run even if checking a signature were all it did, and rotate.lua
// counts any repeat. Each round starts a fresh verifier process and first deletes
// the access_token:{h} entries the previous round's verifier filled in Redis, so
// the same pool is new to every round. It returns the pool's file too (the
// baseline verifies those tokens).
//
// It also returns what to do after the group: stop the last verifier, having run
// on it, for the kind with bursts, the single-flight check: burstCount tokens the
// pool does not hold, each sent by burstSize connections at once.
func (h *harness) coldSubject(ctx context.Context, e *env, cpu string, k coldKind) (*subject, string, func(context.Context) error, error) {
	o := h.o
	cost := k.cost()
	pool := int(math.Ceil(o.duration.Seconds()/cost.Seconds()*1.25)) + o.conns
	n := pool
	if k.bursts {
		n += burstCount
	}
	t0 := time.Now()
	now := time.Now()
	sids, err := createSessions(ctx, e.pool, e.users, n, now.Add(24*time.Hour))
	if err != nil {
		return nil, "", nil, err
	}
	toks := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				u := e.users[i%len(e.users)]
				t, err := k.tmpl.Mint(tokens.Claims{Subject: u.id, SessionID: sids[i], Email: u.email, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, k.signer)
				if err != nil {
					errs[w] = err
					return
				}
				toks[i] = t
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, "", nil, err
		}
	}
	burstToks := toks[pool:]
	toks = toks[:pool]
	file := filepath.Join(h.work, k.name+".txt")
	if err := tokens.WriteFile(file, toks); err != nil {
		return nil, "", nil, err
	}
	keys := make([]string, len(toks))
	for i, t := range toks {
		keys[i] = e.prefix + "access_token:{" + tokens.Hash(t) + "}"
	}
	h.logf("%s: an %s check costs ≥ %s here: %d tokens, each of its own session, minted in %s",
		k.name, k.alg, cost.Round(time.Microsecond), pool, time.Since(t0).Round(100*time.Millisecond))
	h.rep.Settings = append(h.rep.Settings, fmt.Sprintf(
		"%s: a pool of %d tokens, each of its own session (created in PostgreSQL in bulk), signed by the harness with %s in the shape of the issuer's tokens. "+
			"An %s check costs at least %s here, so one core cannot get through the pool in %s. Every round starts a fresh verifier process and first deletes the "+
			"access_token:{h} entries any previous verifier wrote to Redis, so each request is a local miss and a signature check; with the revocation window loaded and the feed fresh "+
			"(the default) the verifier then decides from its tombstones (first sight), else a Redis miss and a PostgreSQL lookup follow "+
			"(the row is in PostgreSQL's buffer cache, as a recent login's would be). Its baseline is the bare net/http server plus one %s verification per request of the same pool's tokens (jwx jws.Verify with the key given)",
		k.name, pool, map[bool]string{true: "the issuer's own ES256 key", false: "an Ed25519 key the issuer publishes in its JWKS (kid " + edKid + ", placed in its key directory before it started)"}[k.alg == "ES256"],
		k.alg, cost.Round(time.Microsecond), o.duration, k.alg))

	sub := &subject{name: k.name, what: k.alg + " check + revocation window (first sight)", goal: k.goal,
		tokens: func(r int) string {
			if r < 0 {
				return e.tokenFile // the warm-up: tokens the measured runs never carry
			}
			return file
		}}
	var cur *verifier
	sub.prepare = func(ctx context.Context, r int) error {
		if cur != nil {
			cur.p.stop()
		}
		if r >= 0 {
			for i := 0; i < len(keys); i += 1000 {
				if err := e.rdb.Unlink(ctx, keys[i:min(i+1000, len(keys))]...).Err(); err != nil {
					return fmt.Errorf("%s: delete the previous round's Redis entries: %w", k.name, err)
				}
			}
		}
		v, err := h.startVerifier(ctx, fmt.Sprintf("verifier-%s-%d", k.name, r+1), cpu, h.bins.verifier, nil, false, h.verifierArgs(e)...)
		if err != nil {
			return err
		}
		cur = v
		sub.t = v.target("verifier ("+k.name+")", "/auth")
		return nil
	}
	done := func(ctx context.Context) error {
		if cur != nil {
			cur.p.stop()
		}
		if !k.bursts {
			return nil
		}
		// First sight is CPU alone: on one core the first of a burst's requests is
		// decided before the others run, so nothing overlaps. With the session
		// checked in Redis and the store, a resolution waits on I/O and the burst's
		// other requests pile up behind it, which is what single flight is for.
		v, err := h.startVerifier(ctx, "verifier-single-flight", cpu, h.bins.verifier, nil, false, h.verifierArgs(e, "--first-sight-session-check")...)
		if err != nil {
			return err
		}
		defer v.p.stop()
		sf, err := h.singleFlight(ctx, v, burstToks)
		if err != nil {
			return err
		}
		h.rep.SingleFlight = sf
		return nil
	}
	return sub, file, done, nil
}

// coldGroup measures a cold scenario against its own baseline: the bare net/http
// server plus one signature verification of each request's bearer token with the
// kind's key (issue 17, target 1: cold ≥ 0.8× of it). The baseline is fed the
// pool's tokens: its cost does not depend on having seen a token before.
func (h *harness) coldGroup(ctx context.Context, k coldKind, cold *subject, pool string) error {
	keyFile := filepath.Join(h.work, k.name+".pub.pem")
	if err := writePublicKey(keyFile, k.pub); err != nil {
		return err
	}
	p, addr, err := h.startBaseline(ctx, "baseline-"+k.name, nil, "serve-http", "-verify-key", keyFile)
	if err != nil {
		return err
	}
	defer p.stop()
	name := "bare net/http + " + k.alg + " verify"
	base := target{name: name, addr: addr, path: "/auth", pids: []int{p.pid()}}
	runs, err := h.group(ctx, k.name, h.wrkRunner, base, pool, []*subject{cold})
	if err != nil {
		return err
	}
	return h.addScenarios(name, runs, []*subject{cold})
}

// The single-flight check: burstCount new tokens, each sent by burstSize
// connections at the same moment.
const burstCount, burstSize = 20, 64

// singleFlight sends each token from burstSize connections released together and
// counts the verifier's Redis lookups for the burst. The verifier looks a token up
// in Redis once per resolution of a local miss, and a token Redis does not know is
// then checked in full (signature, session), so one lookup per burst means one
// signature check for the burst's concurrent requests.
func (h *harness) singleFlight(ctx context.Context, v *verifier, toks []string) (*report.SingleFlight, error) {
	conns := make([]*load.Conn, burstSize)
	for i := range conns {
		c, err := load.Dial(v.addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conns[i] = c
	}
	metrics := "http://" + v.addr + "/metrics"
	sf := &report.SingleFlight{Size: burstSize}
	for _, tok := range toks {
		req := load.Request("GET", v.addr, "/auth", "Authorization", "Bearer "+tok)
		before, err := scrape(ctx, metrics)
		if err != nil {
			return nil, err
		}
		start := make(chan struct{})
		statuses := make([]int, len(conns))
		errs := make([]error, len(conns))
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i], errs[i] = c.Do(req)
			}()
		}
		close(start)
		wg.Wait()
		for i := range conns {
			if errs[i] != nil {
				return nil, fmt.Errorf("single flight: %w", errs[i])
			}
			if statuses[i] != 200 {
				sf.Refused++
			}
		}
		after, err := scrape(ctx, metrics)
		if err != nil {
			return nil, err
		}
		b, a := pathOf(before), pathOf(after)
		// A resolution either looks Redis up or is decided from the window.
		sf.Resolutions = append(sf.Resolutions, int(math.Round(a.redisHit+a.redisMiss-b.redisHit-b.redisMiss+a.firstSight-b.firstSight)))
		sf.Misses = append(sf.Misses, int(math.Round(a.localMiss-b.localMiss)))
	}
	if sf.MinMisses() <= 1 {
		h.note("single flight: a burst had only %d local miss: its requests did not overlap, so it does not test single flight.", sf.MinMisses())
	}
	h.logf("single flight: %d bursts of %d concurrent requests, one new token each: local misses %v, resolutions %v", len(toks), burstSize, sf.Misses, sf.Resolutions)
	return sf, nil
}

// openLoopP99 measures p99 at 70 % of the baseline's median peak, open loop, for
// the baseline and the cached verifier, alternating, one run each per round; and
// the cached verifier at 70 % of its own median peak, the same load relative to
// its capacity as the baseline's: whatever is left of the difference in p99 there
// is not queueing.
func (h *harness) openLoopP99(ctx context.Context, e *env, bare target, cached *verifier, baseRuns, cachedRuns []runResult) error {
	peak := func(runs []runResult) float64 {
		var rps []float64
		for _, r := range runs {
			rps = append(rps, r.run.RPS())
		}
		return stats.Median(rps)
	}
	rate := math.Round(0.7 * peak(baseRuns))
	own := math.Round(0.7 * peak(cachedRuns))
	vt := cached.target("verifier (cached)", "/auth")
	targets := []target{bare, vt, vt}
	rates := []float64{rate, rate, own}
	ols := make([]report.OpenLoop, len(targets))
	for i, t := range targets {
		ols[i] = report.OpenLoop{Server: t.name, Rate: rates[i]}
	}
	ols[2].Server = ownPeakServer
	for r := range h.o.rounds {
		line := fmt.Sprintf("open loop, round %d: p99", r+1)
		for i, t := range targets {
			rate := rates[i]
			var late time.Duration
			res, err := h.measure(ctx, t, h.o.duration, func() (stats.Run, error) {
				out, cpu, err := runLoad(ctx, "taskset", "-c", h.o.loadCPU, h.bins.self, "openloop",
					"-addr", t.addr, "-path", t.path, "-tokens", e.tokenFile, "-rate", fmt.Sprint(rate),
					"-duration", h.o.duration.String(), "-conns", strconv.Itoa(h.o.conns))
				if err != nil {
					return stats.Run{}, err
				}
				var ol load.OpenLoopResult
				if err := json.Unmarshal([]byte(out), &ol); err != nil {
					return stats.Run{}, fmt.Errorf("openloop output %q: %w", out, err)
				}
				ol.Run.LoadCPU = cpu.Seconds() / ol.Elapsed.Seconds()
				late = ol.Late
				return ol.Run, nil
			})
			if err != nil {
				return err
			}
			ols[i].Runs = append(ols[i].Runs, res.run)
			ols[i].Late = append(ols[i].Late, late)
			line += fmt.Sprintf(" %s at %.0f/s %s", ols[i].Server, rate, report.FmtDur(res.run.Latency.P99))
		}
		h.logf("%s", line)
	}
	h.rep.OpenLoop = append(h.rep.OpenLoop, ols...)
	return nil
}
