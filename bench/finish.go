package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/bench/report"
	"github.com/vexen/vexen-auth/bench/stats"
)

// childEnvDrop are environment variables a child must not inherit from the
// operator's shell: every setting of the issuer and verifier (a stray
// JWT_SECRET_KEY or REDIS_URL would change what is measured) and the Go runtime's
// knobs (GOMAXPROCS must follow taskset).
var childEnvDrop = []string{"VERIFIER_", "ISSUER_", "JWT_SECRET_KEY=", "JWKS_URL=", "REDIS_URL=", "REDIS_PREFIX=", "DATABASE_URL=",
	"COOKIE_", "ACCESS_TOKEN_TTL=", "REFRESH_", "LOG_FORMAT=", "LOG_LEVEL=", "TRUSTED_PROXIES=", "ALLOWED_REDIRECT_HOSTS=",
	"DEFAULT_REDIRECT=", "SHUTDOWN_TIMEOUT=", "GOMAXPROCS=", "GOGC=", "GOMEMLIMIT=", "GODEBUG="}

// childEnv is the harness's environment less childEnvDrop, plus extra.
func childEnv(environ, extra []string) []string {
	var out []string
	for _, kv := range environ {
		drop := false
		for _, p := range childEnvDrop {
			if strings.HasPrefix(kv, p) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// finish fills in the report's settings, targets and notes.
func (h *harness) finish() {
	o, r := h.o, h.rep
	settings := []string{
		fmt.Sprintf("load: wrk 4 (Debian) with bench/rotate.lua, -t%d -c%d, %s per run; %d rounds, each scenario's runs interleaved with its baseline's and a closing baseline run; an unrecorded %s warm-up of every server before its group",
			o.threads, o.conns, o.duration, o.rounds, o.warmup),
		fmt.Sprintf("CPU placement: every server-side process (verifier, baseline server, nginx and its upstreams) pinned to CPU %s with taskset, so Go runs it with GOMAXPROCS=1; every load generator pinned to CPU %s",
			o.serverCPU, o.loadCPU),
		fmt.Sprintf("tokens: %d users signed in through the issuer's POST /v1/login (ES256, --access-ttl 1h, PostgreSQL and Redis); every request carries the next of their access tokens", o.users),
		userHashSetting(o.userHash),
		"verifiers: cached = defaults (push revocation, max-staleness 1s); redis = --no-local-cache; strict = --revocation strict; cold = defaults, fed never-seen tokens; all with the run's PostgreSQL and Redis",
		"nginx: the repository's nginx/nginx.conf, vexen-auth.conf and vexen-auth-headers.conf, rendered as the e2e test renders them (addresses, ports, paths) plus worker_processes 1 and access_log off; the baseline is the same nginx and config with auth_request off in the application's location. The upstream application is the bare net/http server",
		"yardstick: nginx (Debian, one worker, access_log off, keepalive_requests 10000000) answering every request `return 200` with the baseline's one header, in the bare net/http group, driven by the same wrk and rotate.lua: if the generator drives it well above the baseline, the generator is not what limits the baseline",
		fmt.Sprintf("grpc: bench/grpcbench (grpc-go, 2 connections, %d concurrent callers, closed loop), Envoy-shaped CheckRequests carrying the tokens, against the verifier's --grpc-listen and a bare ext_authz server answering OK with one header", o.conns),
	}
	r.Settings = append(settings, r.Settings...)
	if o.memSessions > 0 {
		r.Settings = append(r.Settings, fmt.Sprintf("memory: an HS256 deployment (JWT_SECRET_KEY) with a throwaway redis-server of its own: the HS256 issuer signs one user in for the token shape; "+
			"the harness mints %d tokens in that shape with the shared secret (one user and one session each) and writes each one's claims to access_token:{h}, as the issuer's write-through does at login; "+
			"a fresh verifier (--cache-entries above the count) gets every token once, each a local miss answered by Redis and then cached. RSS from /proc/PID/status after a warm-up and 2 s after the fill", o.memSessions))
	}
	r.Targets = h.targets()
	r.Notes = append(r.Notes, h.notes...)
	r.Notes = append(r.Notes, fmt.Sprintf("The whole run took %s.", time.Since(h.began).Round(time.Second)))
}

func userHashSetting(mode string) string {
	if mode == "production" {
		return "users' password hashes: the issuer's default argon2id cost (-user-hash production)"
	}
	return "users: created in bulk in PostgreSQL with an argon2id hash of reduced cost (m=1 MiB, t=1; -user-hash bench). The issuer verifies a password with the parameters recorded in its hash, " +
		"so every /v1/login is the full login (argon2id, session and refresh-token rows, Redis write-through) at ~1 ms instead of ~35 ms of argon2: login speed is not what this benchmark measures, " +
		"and 10,000 production-cost logins alone would take ~3 minutes of the 10-minute budget on 2 cores"
}

func (h *harness) scenario(name string) *report.Scenario {
	for i := range h.rep.Scenarios {
		if h.rep.Scenarios[i].Name == name {
			return &h.rep.Scenarios[i]
		}
	}
	return nil
}

// targets states every target of the performance issue against this run.
func (h *harness) targets() []report.Target {
	var out []report.Target
	out = append(out, h.yardstickTarget())
	for _, t := range []struct {
		name string
		min  float64
	}{{"cached", 0.9}, {"redis", 0.5}, {"cold", 0.8}, {"cold-eddsa", 0.8}, {"nginx", 0.6}} {
		tg := report.Target{Name: fmt.Sprintf("`%s` ≥ %.1f of its baseline's requests/s", t.name, t.min)}
		if t.name == "cold-eddsa" {
			tg.Name += " (reported beside `cold`)"
		}
		if s := h.scenario(t.name); s != nil && !math.IsNaN(s.Ratio()) {
			got := s.Ratio()
			tg.Measured = fmt.Sprintf("%.2f", got)
			tg.Met = got >= t.min
			tg.Missed = fmt.Sprintf("by %.2f (%.0f %% of the target)", t.min-got, 100*got/t.min)
			tg.Why = cpuWhy(s)
		} else {
			tg.Unknown = true
		}
		out = append(out, tg)
	}

	tg := report.Target{Name: "`cached` ≥ 0.9 of its baseline's requests/s in every round", Unknown: true}
	if s := h.scenario("cached"); s != nil && len(s.Ratios) > 0 {
		low := slices.Min(s.Ratios)
		tg = report.Target{Name: tg.Name, Measured: fmt.Sprintf("lowest round %.2f", low), Met: low >= 0.9,
			Missed: fmt.Sprintf("by %.2f in the lowest round", 0.9-low), Why: roundsWhy(s)}
	}
	out = append(out, tg)

	out = append(out, h.tailTarget())

	tg = report.Target{Name: "cached decision in-process: 0 allocs/op and < 1 µs/op", Unknown: true}
	if re, err := regexp.Compile(h.o.cachedBench); err == nil {
		for _, b := range h.rep.GoBench {
			if !re.MatchString(b.Name) {
				continue
			}
			tg = report.Target{Name: tg.Name, Measured: fmt.Sprintf("%s: %.0f ns/op, %s allocs/op", strings.TrimPrefix(b.Name, "Benchmark"), b.NsPerOp, allocs(b.AllocsPerOp)),
				Met: b.NsPerOp < 1000 && b.AllocsPerOp == 0}
			var miss []string
			if b.NsPerOp >= 1000 {
				miss = append(miss, fmt.Sprintf("%.0f ns over", b.NsPerOp-1000))
			}
			if b.AllocsPerOp != 0 {
				miss = append(miss, allocs(b.AllocsPerOp)+" allocs/op")
			}
			tg.Missed = strings.Join(miss, ", ")
			break
		}
	}
	out = append(out, tg)
	tg = report.Target{Name: "a burst of requests with one new token verifies its signature once (single flight)", Unknown: true}
	if sf := h.rep.SingleFlight; sf != nil && len(sf.Resolutions) > 0 {
		tg = report.Target{Name: tg.Name, Measured: fmt.Sprintf("%d bursts of %d (at least %d in flight together): at most %d check per burst", len(sf.Resolutions), sf.Size, sf.MinMisses(), sf.Max()),
			Met: sf.Max() == 1 && sf.Refused == 0 && sf.MinMisses() > 1, Missed: fmt.Sprintf("up to %d checks in one burst, %d requests refused", sf.Max(), sf.Refused)}
		if sf.MinMisses() <= 1 {
			tg.Met, tg.Unknown = false, true
		}
	}
	out = append(out, tg)

	tg = report.Target{Name: "revocation propagation (push) p99 ≤ 10 ms", Unknown: true}
	if rv := h.rep.Revocation; rv != nil && len(rv.Delays) > 0 {
		_, p99, _ := rv.Summary()
		tg = report.Target{Name: tg.Name, Measured: report.FmtDelay(p99), Met: p99 <= 10*time.Millisecond && rv.Missed == 0,
			Missed: "by " + report.FmtDur(p99-10*time.Millisecond)}
		if rv.Missed > 0 {
			tg.Missed = fmt.Sprintf("%d verifiers still answered 200 after %s", rv.Missed, rv.Deadline)
		}
	}
	out = append(out, tg)

	tg = report.Target{Name: "≤ 512 bytes of RSS per cached session", Unknown: true}
	if m := h.rep.Memory; m != nil {
		per := m.PerSession()
		tg = report.Target{Name: tg.Name, Measured: fmt.Sprintf("%.0f B", per), Met: per <= 512, Missed: fmt.Sprintf("by %.0f B", per-512)}
	}
	out = append(out, tg)
	out = append(out, h.peerTargets()...)
	return out
}

// tailTarget: the cached verifier's p99 at 70 % of the baseline's peak (open
// loop) within 1.5× the bare baseline's p99 at the same rate in the same run:
// the ratio of their medians over rounds.
func (h *harness) tailTarget() report.Target {
	tg := report.Target{Name: "`cached` p99 ≤ 1.5× the baseline's p99 at 70 % of the baseline's peak (open loop)", Unknown: true}
	var base, cached, own *report.OpenLoop
	for i, ol := range h.rep.OpenLoop {
		switch {
		case len(ol.Runs) == 0:
		case ol.Server == "verifier (cached)":
			cached = &h.rep.OpenLoop[i]
		case ol.Server == ownPeakServer:
			own = &h.rep.OpenLoop[i]
		case ol.Server == "bare net/http":
			base = &h.rep.OpenLoop[i]
		}
	}
	if base == nil || cached == nil || base.Lat().P99 <= 0 {
		return tg
	}
	bp, cp := base.Lat().P99, cached.Lat().P99
	ratio := float64(cp) / float64(bp)
	tg = report.Target{Name: tg.Name, Met: ratio <= 1.5,
		Measured: fmt.Sprintf("%.2f× (%s against %s at %.0f req/s)", ratio, report.FmtDur(cp), report.FmtDur(bp), cached.Rate),
		Missed:   fmt.Sprintf("by %.2f×", ratio-1.5)}
	if s := h.scenario("cached"); s != nil && s.Ratio() > 0.7 {
		// One server, one core: the time a request waits behind others grows as
		// ρ/(1−ρ) with the server's load ρ. The same rate loads each server by
		// rate ÷ its own peak: 0.7 for the baseline, 0.7 ÷ ratio for the verifier.
		rb, rv := 0.7, 0.7/s.Ratio()
		tg.Why = fmt.Sprintf("the rate is %.0f %% of the verifier's own closed-loop peak (ratio %.2f) against 70 %% of the baseline's; queueing on one core (wait ∝ ρ/(1−ρ)) alone makes the verifier's waits %.1f× the baseline's. "+
			"Rounds: verifier p99 %s, baseline %s; other processes took %.0f %% / %.0f %% of the server's CPU",
			100*rv, s.Ratio(), (rv/(1-rv))/(rb/(1-rb)), fmtDurs(cached.P99s()), fmtDurs(base.P99s()),
			100*medianRuns(cached.Runs, func(r stats.Run) float64 { return r.OtherCPU }), 100*medianRuns(base.Runs, func(r stats.Run) float64 { return r.OtherCPU }))
	}
	if own != nil {
		op := own.Lat().P99
		tg.Why += fmt.Sprintf("%sAt 70 %% of its own peak (%.0f req/s), as loaded as the baseline, the verifier's p99 is %s: %.2f× the baseline's",
			map[bool]string{true: ". ", false: ""}[tg.Why != ""], own.Rate, report.FmtDur(op), float64(op)/float64(bp))
	}
	return tg
}

// cpuWhy compares the CPU each request cost the subject and its baseline: on a
// server-bound run the ratio of requests/s is about the inverse of theirs.
func cpuWhy(s *report.Scenario) string {
	c, b := s.CPUPerRequest(), s.BaseCPUPerRequest()
	if c <= 0 || b <= 0 {
		return ""
	}
	return fmt.Sprintf("server CPU per request %s against the baseline's %s (%.2f×, so at most %.2f of its requests/s on the same core)",
		report.FmtDur(c), report.FmtDur(b), float64(c)/float64(b), float64(b)/float64(c))
}

// roundsWhy names the rounds' ratios and what else ran on the server's CPU in each.
func roundsWhy(s *report.Scenario) string {
	parts := make([]string, len(s.Ratios))
	for i, r := range s.Ratios {
		other := 0.0
		if i < len(s.Runs) {
			other = s.Runs[i].OtherCPU
		}
		parts[i] = fmt.Sprintf("%.2f (other processes %.0f %%)", r, 100*other)
	}
	return "rounds: " + strings.Join(parts, ", ")
}

func medianRuns(runs []stats.Run, f func(stats.Run) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return stats.Median(xs)
}

func fmtDurs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = report.FmtDur(d)
	}
	return strings.Join(parts, ", ")
}

// yardstickTarget: the load generator is not what sets the baseline's pace. The
// same generator drives nginx return 200 well above the bare net/http baseline
// (≥ 1.25×) in the same run, and stays below 90 % of its core on the baseline.
func (h *harness) yardstickTarget() report.Target {
	tg := report.Target{Name: "the load generator is not the limit: it drives nginx `return 200` ≥ 1.25× the bare net/http baseline, below 90 % of its core on the baseline", Unknown: true}
	s := h.scenario("yardstick")
	if s == nil || math.IsNaN(s.Ratio()) {
		return tg
	}
	load := func(r stats.Run) float64 { return r.LoadCPU }
	ratio, gBase, gY := s.Ratio(), medianRuns(s.BaseRuns, load), medianRuns(s.Runs, load)
	tg = report.Target{Name: tg.Name, Met: ratio >= 1.25 && gBase < 0.9,
		Measured: fmt.Sprintf("nginx %.2f× the baseline; generator at %.0f %% of its core on the baseline, %.0f %% on nginx", ratio, 100*gBase, 100*gY)}
	var miss []string
	if ratio < 1.25 {
		miss = append(miss, fmt.Sprintf("nginx only %.2f× the baseline", ratio))
	}
	if gBase >= 0.9 {
		miss = append(miss, fmt.Sprintf("generator at %.0f %% on the baseline", 100*gBase))
	}
	tg.Missed = strings.Join(miss, ", ")
	return tg
}

func allocs(v float64) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f", v)
}
