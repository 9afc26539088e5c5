package report

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/bench/parse"
	"github.com/vexen/vexen-auth/bench/stats"
)

func run(rps float64, p99 time.Duration, cpu float64) stats.Run {
	return stats.Run{Requests: int64(rps * 10), Elapsed: 10 * time.Second, ServerCPU: cpu,
		Latency: stats.Latency{P50: p99 / 4, P90: p99 / 2, P99: p99, Max: 2 * p99}}
}

func sampleReport() *Report {
	base := []stats.Run{run(70000, time.Millisecond, 1), run(68000, time.Millisecond, 1), run(72000, 2*time.Millisecond, 1), run(70000, time.Millisecond, 1)}
	cached := []stats.Run{run(63000, 1500*time.Microsecond, 1), run(61000, 1400*time.Microsecond, 1), run(66500, 1600*time.Microsecond, 1)}
	ratios, _ := stats.BracketRatios([]float64{70000, 68000, 72000, 70000}, []float64{63000, 61000, 66500})
	return &Report{
		Date:     time.Date(2025, 11, 28, 13, 0, 0, 0, time.UTC),
		Command:  "make bench",
		Settings: []string{"3 rounds × 10s"},
		Machine:  "Model name: AMD EPYC\nCPU(s): 2\n",
		Scenarios: []Scenario{
			{Name: "cached", What: "local cache", Baseline: "bare net/http", Runs: cached, BaseRuns: base, Ratios: ratios, Target: 0.9, Note: "local hits 100 %"},
		},
		OpenLoop: []OpenLoop{{Server: "verifier (cached)", Rate: 49000,
			Runs: []stats.Run{run(49000, 800*time.Microsecond, 0), run(49000, 900*time.Microsecond, 0), run(49000, 700*time.Microsecond, 0)},
			Late: []time.Duration{20 * time.Microsecond, 30 * time.Microsecond, 10 * time.Microsecond}}},
		Revocation:   &Revocation{Verifiers: 3, Logouts: 2, Delays: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond}, Deadline: 5 * time.Second},
		Memory:       &Memory{Sessions: 1000, RSSBefore: 10 << 20, RSSAfter: 10<<20 + 400_000, HeapBefore: 1e6, HeapAfter: 1.3e6, LiveBefore: math.NaN(), LiveAfter: math.NaN(), Entries: 1000, Replayed: 100, ReplayHits: 100, Fill: 3 * time.Second},
		SingleFlight: &SingleFlight{Size: 64, Resolutions: []int{1, 1, 2}, Misses: []int{64, 50, 63}},
		GoBench:      []parse.GoBench{{Pkg: "github.com/vexen/vexen-auth/pkg/verify", Name: "BenchmarkDecide/cached", NsPerOp: 231.5, BytesPerOp: 0, AllocsPerOp: 0}},
		Targets: []Target{
			{Name: "cached ≥ 0.9 of baseline", Measured: "0.91", Met: true},
			{Name: "≤ 512 B per session", Measured: "400 B", Met: true},
			{Name: "redis ≥ 0.5", Measured: "0.41", Missed: "by 0.09"},
			{Name: "nginx ≥ 0.8", Unknown: true},
		},
		Notes: []string{"a note | with a pipe"},
		Chart: "benchmarks.png",
	}
}

func TestScenarioFigures(t *testing.T) {
	s := sampleReport().Scenarios[0]
	if got := s.RPS(); got != 63000 {
		t.Errorf("RPS = %v, want the median run's 63000", got)
	}
	if got := s.BaseRPS(); got != 70000 {
		t.Errorf("BaseRPS = %v, want 70000", got)
	}
	if got := s.Ratio(); math.Abs(got-63000/69000.0) > 1e-9 {
		t.Errorf("Ratio = %v, want %v", got, 63000/69000.0)
	}
	if got := s.Lat().P99; got != 1500*time.Microsecond {
		t.Errorf("Lat().P99 = %v, want 1.5ms", got)
	}
	if got := s.BaseLat().P99; got != time.Millisecond {
		t.Errorf("BaseLat().P99 = %v, want 1ms (median of 1,1,2,1)", got)
	}
	if got := s.CPU(); got != 1 {
		t.Errorf("CPU = %v", got)
	}
	s.Runs[1].Failures = 7
	if got := s.Failures(); got != 7 {
		t.Errorf("Failures = %d, want 7", got)
	}
	if !math.IsNaN((Scenario{}).Ratio()) {
		t.Error("Ratio of no rounds is not NaN")
	}
}

func TestRevocationSummary(t *testing.T) {
	rv := sampleReport().Revocation
	med, p99, mx := rv.Summary()
	if med != 3500*time.Microsecond || p99 != 9*time.Millisecond || mx != 9*time.Millisecond {
		t.Errorf("Summary = %v %v %v", med, p99, mx)
	}
	if rv.Delays[5] != 9*time.Millisecond || rv.Delays[0] != time.Millisecond {
		t.Error("Summary reordered the delays")
	}
	if a, b, c := (Revocation{}).Summary(); a != 0 || b != 0 || c != 0 {
		t.Error("empty Summary is not zero")
	}
}

func TestMemoryPerSession(t *testing.T) {
	m := sampleReport().Memory
	if got := m.PerSession(); got != 400 {
		t.Errorf("PerSession = %v, want 400", got)
	}
	if got := m.HeapPerSession(); math.Abs(got-300) > 1e-9 {
		t.Errorf("HeapPerSession = %v, want 300", got)
	}
	if !math.IsNaN((Memory{}).PerSession()) {
		t.Error("PerSession of no sessions is not NaN")
	}
}

func TestMemoryBreakdown(t *testing.T) {
	m := Memory{Sessions: 1000, LiveBefore: 1e6, LiveAfter: 1e6 + 290_000, EntryBytes: 128, StringBytes: 96, MapSlotBytes: 40}
	e, st, rest, ok := m.Breakdown()
	if !ok || e != 128 || st != 96 || math.Abs(rest-66) > 1e-9 {
		t.Fatalf("Breakdown = %v %v %v %v, want 128 96 66 true", e, st, rest, ok)
	}
	var b bytes.Buffer
	(&Report{Memory: &m}).Markdown(&b)
	if !strings.Contains(b.String(), "| 290 B | 128 B | 96 B | 66 B (slot 40 B) |") {
		t.Errorf("no breakdown row in:\n%s", b.String())
	}
	m.LiveAfter = math.NaN()
	if _, _, _, ok := m.Breakdown(); ok {
		t.Error("a breakdown without the live heap")
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	sampleReport().Markdown(&b)
	md := b.String()
	for _, want := range []string{
		"# Benchmarks",
		"```sh\nmake bench\n```",
		"![Throughput and p99 latency per scenario against its baseline](benchmarks.png)",
		"| scenario | answered by | req/s |",
		"| cached | local cache | 63000 | bare net/http | 70000 | 0.91 | ≥ 0.9 | 375 µs | 750 µs | 1.50 ms | 1.00 ms | 100 % | 100 % | 0 |",
		"- `cached`: 0.913, 0.871, 0.937 — local hits 100 %",
		"| verifier (cached) | 49000 | 200 µs | 400 µs | 800 µs | 1.60 ms | 800 µs, 900 µs, 700 µs | 0 | – | – | 20 µs |",
		"| 6 | 3.50 ms | 9.00 ms | 9.00 ms | 0 | 0 |",
		"| 1000 | 10.0 MiB | 10.4 MiB | 400 B | 300 B | – | 1000 | 100 of 100 | 3s |",
		"| pkg/verify.Decide/cached |", // package-qualified
		"| 3 | 64 | 64 50 63 | 1 1 2 | 2 | 0 |",
		"| redis ≥ 0.5 | 0.41 | missed by 0.09 |",
		"| nginx ≥ 0.8 |  | not measured |",
		`- a note | with a pipe`,
		"Model name: AMD EPYC",
	} {
		if strings.Contains(want, "pkg/verify") {
			want = "| verify.Decide/cached | 231.5 | 0 | 0 |"
		}
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q\n---\n%s", want, md)
		}
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	sampleReport().Text(&b)
	out := b.String()
	for _, want := range []string{"cached", "0.91", "single flight: 3 bursts of 64 concurrent requests with one new token: at most 2 resolution per burst", "revocation propagation (3 verifiers, 2 logouts): median 3.50 ms, p99 9.00 ms", "400 B per session", "missed by 0.09"} {
		if !strings.Contains(out, want) {
			t.Errorf("Text lacks %q\n%s", want, out)
		}
	}
}

func TestFmtDelay(t *testing.T) {
	if got := FmtDelay(0); got != "0 µs" {
		t.Errorf("FmtDelay(0) = %q", got)
	}
	if got := FmtDelay(1500 * time.Microsecond); got != "1.50 ms" {
		t.Errorf("FmtDelay(1.5ms) = %q", got)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "–", 850 * time.Microsecond: "850 µs", 1500 * time.Microsecond: "1.50 ms",
		25 * time.Millisecond: "25.0 ms", 2 * time.Second: "2.00 s",
	} {
		if got := FmtDur(d); got != want {
			t.Errorf("FmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWriteChart(t *testing.T) {
	r := sampleReport()
	r.Scenarios = append(r.Scenarios, Scenario{Name: "empty"}) // no runs: drawn as zero, not a failure
	var b bytes.Buffer
	if err := r.WriteChart(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X < 800 || sz.Y < 300 {
		t.Errorf("chart is %v, too small to read", sz)
	}
	if err := (&Report{}).WriteChart(&b); err != ErrNoData {
		t.Errorf("no scenarios: err = %v, want ErrNoData", err)
	}
}

func TestShortMS(t *testing.T) {
	for v, want := range map[float64]string{175.7: "176", 12.04: "12", 1.57: "1.6", 0.853: "0.85", 0: "0.00"} {
		if got := shortMS(v); got != want {
			t.Errorf("shortMS(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestSingleFlightFigures(t *testing.T) {
	sf := SingleFlight{Resolutions: []int{1, 3, 1}, Misses: []int{40, 12, 64}}
	if sf.Max() != 3 || sf.MinMisses() != 12 {
		t.Errorf("Max %d, MinMisses %d; want 3, 12", sf.Max(), sf.MinMisses())
	}
	if (SingleFlight{}).MinMisses() != 0 {
		t.Error("MinMisses of nothing is not 0")
	}
}

func TestShortFunc(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/vexen/vexen-auth/pkg/verify.(*flights[go.shape.struct { e *github.com/vexen/vexen-auth/pkg/verify.entry; m map[string]int }]).do": "pkg/verify.(*flights[…]).do",
		"internal/runtime/syscall/linux.Syscall6": "internal/runtime/syscall/linux.Syscall6",
		"slices.Sort[[]string,string]":            "slices.Sort[…]",
	} {
		if got := ShortFunc(in); got != want {
			t.Errorf("ShortFunc(%q) = %q, want %q", in, got, want)
		}
	}
}
