package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/bench/report"
	"github.com/vexen/vexen-auth/bench/stats"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-repo", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if o.users != 10000 || o.duration != 8*time.Second || o.rounds != 3 || o.memSessions != 1_000_000 || o.logouts != 100 {
		t.Errorf("defaults: %+v", o)
	}
	if !slices.Equal(o.scenarios, allScenarios) {
		t.Errorf("scenarios = %v, want all", o.scenarios)
	}
	q, err := parseOptions([]string{"-repo", t.TempDir(), "-quick", "-users", "500", "-scenarios", "cached, cold"})
	if err != nil {
		t.Fatal(err)
	}
	if q.users != 500 || q.duration != 3*time.Second || q.memSessions != 100_000 || q.logouts != 20 {
		t.Errorf("-quick with -users 500: %+v (an explicit flag must win over -quick)", q)
	}
	if !slices.Equal(q.scenarios, []string{"cached", "cold"}) || !q.has("cold") || q.has("nginx") {
		t.Errorf("scenarios = %v", q.scenarios)
	}
	for _, bad := range [][]string{
		{"-scenarios", "cached,bogus"},
		{"-rounds", "0"},
		{"-duration", "1500ms"},
		{"-duration", "0s"},
		{"-users", "10", "-logouts", "20"},
		{"-user-hash", "cheap"},
		{"-server-cpu", "zero"},
		{"-load-cpu", "2-1"},
		{"stray"},
	} {
		if _, err := parseOptions(append([]string{"-repo", t.TempDir()}, bad...)); err == nil {
			t.Errorf("parseOptions(%v): no error", bad)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"-quick", "-go-bench", "", "-command", "make bench", "it's"})
	want := ` -quick -go-bench '' -command 'make bench' 'it'\''s'`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestLscpuSummary(t *testing.T) {
	in := "Architecture:                            x86_64\nCPU op-mode(s):                          32-bit, 64-bit\nCPU(s):                                  2\n" +
		"On-line CPU(s) list:                     0,1\nModel name:                              AMD EPYC\nFlags:                                   fpu vme\nL3 cache:                                32 MiB (1 instance)\n"
	got := lscpuSummary(in)
	want := "Architecture:                            x86_64\nCPU(s):                                  2\nModel name:                              AMD EPYC\nL3 cache:                                32 MiB (1 instance)"
	if got != want {
		t.Errorf("lscpuSummary =\n%s\nwant\n%s", got, want)
	}
}

func TestChildEnv(t *testing.T) {
	in := []string{"PATH=/bin", "JWT_SECRET_KEY=s3cret", "REDIS_URL=redis://x", "VERIFIER_REVOCATION=strict", "GOMAXPROCS=8", "HOME=/root", "REDISCLI_AUTH=x"}
	got := childEnv(in, []string{"JWT_SECRET_KEY=mine"})
	want := []string{"PATH=/bin", "HOME=/root", "REDISCLI_AUTH=x", "JWT_SECRET_KEY=mine"}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv = %v, want %v", got, want)
	}
}

func TestPathNote(t *testing.T) {
	tests := []struct {
		name      string
		p         pathDelta
		abandoned int
		want      string
	}{
		{"cached", pathDelta{localHit: 1000, allow: 1000}, 64,
			"per decision (verifier metrics): allowed 100.00 %, local cache lookups 1.00, hit 100.0 %, Redis lookups none"},
		{"cold with abandoned requests", pathDelta{localMiss: 1010, redisMiss: 1010, allow: 1000, errs: 10}, 64,
			"per decision (verifier metrics): allowed 99.01 %, local cache lookups 1.00, hit 0.0 %, Redis lookups 1.00, hit 0.0 %, 10 errors (requests in flight when the load generator stopped)"},
		{"real errors", pathDelta{redisHit: 500, allow: 400, deny: 1, errs: 99}, 64,
			"per decision (verifier metrics): allowed 80.00 %, local cache lookups none, Redis lookups 1.00, hit 100.0 %, 1 denied, 99 errors"},
		{"nothing", pathDelta{}, 64, "the verifier counted no decisions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pathNote(tt.p, tt.abandoned); got != tt.want {
				t.Errorf("pathNote =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestVerifyCost(t *testing.T) {
	for name, f := range map[string]func() time.Duration{"ES256": es256VerifyCost, "Ed25519": ed25519VerifyCost} {
		if c := f(); c <= time.Microsecond || c > time.Second {
			t.Errorf("%s verify cost = %v, not a plausible signature check", name, c)
		}
	}
}

func TestGauge(t *testing.T) {
	if !math.IsNaN(gauge(nil, "absent")) {
		t.Error("absent gauge is not NaN")
	}
}

// TestRenderNginx renders the repository's nginx sample as the benchmark runs it.
func TestRenderNginx(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{o: &options{repo: repo}}
	for _, auth := range []bool{true, false} {
		prefix := t.TempDir()
		if err := h.renderNginx(prefix, "127.0.0.1:18080", "127.0.0.1:18081", "127.0.0.1:19000", auth); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(prefix, "conf", "nginx.conf"))
		if err != nil {
			t.Fatal(err)
		}
		conf := string(b)
		for _, want := range []string{"worker_processes 1;", "access_log off;", "listen 127.0.0.1:18080;", "server 127.0.0.1:18081;",
			"server 127.0.0.1:19000;", "include vexen-auth.conf;", "pid " + filepath.Join(prefix, "logs", "nginx.pid") + ";"} {
			if !strings.Contains(conf, want) {
				t.Errorf("auth=%v: nginx.conf lacks %q", auth, want)
			}
		}
		for _, gone := range []string{"/var/log/nginx", "/var/lib/nginx", "/run/nginx.pid", "listen 80;", "server 127.0.0.1:8081;", "server 127.0.0.1:9000;"} {
			if strings.Contains(conf, gone) {
				t.Errorf("auth=%v: nginx.conf still has %q", auth, gone)
			}
		}
		if off := strings.Contains(conf, "auth_request off;"); off == auth {
			t.Errorf("auth=%v: auth_request off present = %v", auth, off)
		}
		for _, inc := range []string{"vexen-auth.conf", "vexen-auth-headers.conf"} {
			got, err := os.ReadFile(filepath.Join(prefix, "conf", inc))
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := os.ReadFile(filepath.Join(repo, "nginx", inc))
			if string(got) != string(orig) {
				t.Errorf("%s was changed; the benchmark must run it as committed", inc)
			}
		}
	}
}

func TestCheckCPU(t *testing.T) {
	runs := func(r stats.Run) []stats.Run { return []stats.Run{r, r, r} }
	tests := []struct {
		name string
		run  stats.Run
		want string
	}{
		{"server saturated, machine quiet", stats.Run{ServerCPU: 0.99, LoadCPU: 0.7}, "bare (median of its runs): the server used 99 % of its CPU, the load generator 70 % of its own; other processes used 0 % of the server's CPU and the hypervisor stole 0 %."},
		{"generator saturated", stats.Run{ServerCPU: 0.6, LoadCPU: 0.98}, "The load generator was the limit"},
		{"another tenant", stats.Run{ServerCPU: 0.6, LoadCPU: 0.3, OtherCPU: 0.35}, "other processes used 35 % of the server's CPU and the hypervisor stole 0 %. This machine is shared"},
		{"steal", stats.Run{ServerCPU: 0.97, LoadCPU: 0.5, StealCPU: 0.08}, "the hypervisor stole 8 %. This machine is shared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &harness{}
			h.checkCPU("bare", runs(tt.run))
			got := strings.Join(h.notes, "\n")
			if !strings.Contains(got, tt.want) || strings.Contains(tt.name, "quiet") && strings.Contains(got, "shared") {
				t.Errorf("notes = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// TestKeptSection: a new report keeps the section scripts/policy-cost.sh wrote.
func TestKeptSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if got := keptSection(path); got != "" {
		t.Fatalf("missing file: %q", got)
	}
	sec := "<!-- policy-cost: x -->\n## Access policy\n\n| a |\n<!-- /policy-cost -->"
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nold\n\n"+sec+"\ntail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := keptSection(path); got != sec+"\n" {
		t.Fatalf("kept %q", got)
	}
}

// TestTargetsOfIssue17: the yardstick, every-round, tail and CPU-per-request rows
// read the run as their targets say.
func TestTargetsOfIssue17(t *testing.T) {
	run := func(rps float64, cpu, load float64, p99 time.Duration) stats.Run {
		return stats.Run{Requests: int64(rps * 10), Elapsed: 10 * time.Second, ServerCPU: cpu, LoadCPU: load, Latency: stats.Latency{P99: p99}}
	}
	base := []stats.Run{run(40000, 1, 0.5, 0), run(40000, 1, 0.5, 0), run(40000, 1, 0.5, 0), run(40000, 1, 0.5, 0)}
	h := &harness{o: &options{cachedBench: "x"}, rep: &report.Report{
		Scenarios: []report.Scenario{
			{Name: "yardstick", BaseRuns: base, Runs: []stats.Run{run(60000, 1, 0.7, 0), run(60000, 1, 0.7, 0), run(60000, 1, 0.7, 0)}, Ratios: []float64{1.5, 1.5, 1.5}},
			{Name: "cached", BaseRuns: base, Runs: []stats.Run{run(32000, 1, 0.4, 0), run(36000, 1, 0.4, 0), run(38000, 1, 0.4, 0)}, Ratios: []float64{0.8, 0.9, 0.95}},
		},
		OpenLoop: []report.OpenLoop{
			{Server: "bare net/http", Rate: 28000, Runs: []stats.Run{run(28000, 0.7, 0.3, 2*time.Millisecond), run(28000, 0.7, 0.3, 2*time.Millisecond)}},
			{Server: "verifier (cached)", Rate: 28000, Runs: []stats.Run{run(28000, 0.8, 0.3, 5*time.Millisecond), run(28000, 0.8, 0.3, 5*time.Millisecond)}},
			{Server: ownPeakServer, Rate: 25200, Runs: []stats.Run{run(25200, 0.7, 0.3, 3*time.Millisecond)}},
		},
	}}
	find := func(prefix string) report.Target {
		t.Helper()
		for _, tg := range h.targets() {
			if strings.HasPrefix(tg.Name, prefix) {
				return tg
			}
		}
		t.Fatalf("no target %q", prefix)
		return report.Target{}
	}
	if y := find("the load generator"); !y.Met || !strings.Contains(y.Measured, "1.50×") || !strings.Contains(y.Measured, "50 % of its core on the baseline") {
		t.Errorf("yardstick %+v", y)
	}
	c := find("`cached` ≥ 0.9 of its baseline's requests/s")
	if !c.Met || !strings.Contains(c.Why, "28 µs against the baseline's 25 µs (1.11×") {
		t.Errorf("cached %+v", c)
	}
	if r := find("`cached` ≥ 0.9 of its baseline's requests/s in every round"); r.Met || r.Measured != "lowest round 0.80" {
		t.Errorf("every round %+v", r)
	}
	tail := find("`cached` p99 ≤ 1.5×")
	if tail.Met || !strings.HasPrefix(tail.Measured, "2.50×") || !strings.Contains(tail.Why, "78 % of the verifier's own closed-loop peak") ||
		!strings.Contains(tail.Why, "At 70 % of its own peak (25200 req/s), as loaded as the baseline, the verifier's p99 is 3.00 ms: 1.50× the baseline's") {
		t.Errorf("tail %+v", tail)
	}
	if find("`redis`").Unknown != true {
		t.Error("redis not run, yet measured")
	}
}
