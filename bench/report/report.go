package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vexen/vexen-auth/bench/parse"
	"github.com/vexen/vexen-auth/bench/stats"
)

// Scenario is one subject compared with its baseline over interleaved rounds.
type Scenario struct {
	Name     string // "cached"
	What     string // what answers, e.g. "local cache"
	Baseline string // the baseline's name, e.g. "bare net/http"
	// Runs of the subject (one per round) and of its baseline (one more than the
	// subject: the group opens and closes with a baseline run).
	Runs, BaseRuns []stats.Run
	Ratios         []float64 // per round, bracketed (stats.BracketRatios)
	Target         float64   // minimum ratio wanted; 0 = none
	Note           string    // e.g. which cache layer answered, repeats
}

// Ratio is the median of the per-round ratios (NaN when there are none).
func (s Scenario) Ratio() float64 { return stats.Median(s.Ratios) }

// RPS is the median of the subject's runs' requests/s.
func (s Scenario) RPS() float64 { return medianOf(s.Runs, stats.Run.RPS) }

// BaseRPS is the median of the baseline runs' requests/s.
func (s Scenario) BaseRPS() float64 { return medianOf(s.BaseRuns, stats.Run.RPS) }

// Lat returns the median over the subject's runs of each latency percentile.
func (s Scenario) Lat() stats.Latency { return medianLatency(s.Runs) }

// BaseLat is Lat for the baseline runs.
func (s Scenario) BaseLat() stats.Latency { return medianLatency(s.BaseRuns) }

// CPU is the median server CPU of the subject's runs (cores busy).
func (s Scenario) CPU() float64 {
	return medianOf(s.Runs, func(r stats.Run) float64 { return r.ServerCPU })
}

// BaseCPU is CPU for the baseline runs.
func (s Scenario) BaseCPU() float64 {
	return medianOf(s.BaseRuns, func(r stats.Run) float64 { return r.ServerCPU })
}

// CPUPerRequest is the median over the subject's runs of the server-side CPU time
// per request (0 when CPU was not measured).
func (s Scenario) CPUPerRequest() time.Duration { return cpuPerRequest(s.Runs) }

// BaseCPUPerRequest is CPUPerRequest for the baseline runs.
func (s Scenario) BaseCPUPerRequest() time.Duration { return cpuPerRequest(s.BaseRuns) }

func cpuPerRequest(runs []stats.Run) time.Duration {
	sec := medianOf(runs, func(r stats.Run) float64 {
		if r.Requests == 0 {
			return 0
		}
		return r.ServerCPU * r.Elapsed.Seconds() / float64(r.Requests)
	})
	if math.IsNaN(sec) {
		return 0
	}
	return time.Duration(sec * float64(time.Second))
}

// Failures is the total of failed requests over the subject's runs.
func (s Scenario) Failures() int64 {
	var n int64
	for _, r := range s.Runs {
		n += r.Failures
	}
	return n
}

func medianOf(runs []stats.Run, f func(stats.Run) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return stats.Median(xs)
}

func medianLatency(runs []stats.Run) stats.Latency {
	pick := func(f func(stats.Latency) time.Duration) time.Duration {
		ds := make([]time.Duration, len(runs))
		for i, r := range runs {
			ds[i] = f(r.Latency)
		}
		return stats.MedianDuration(ds)
	}
	return stats.Latency{
		P50: pick(func(l stats.Latency) time.Duration { return l.P50 }),
		P90: pick(func(l stats.Latency) time.Duration { return l.P90 }),
		P99: pick(func(l stats.Latency) time.Duration { return l.P99 }),
		Max: pick(func(l stats.Latency) time.Duration { return l.Max }),
	}
}

// OpenLoop is one server's open-loop runs at a fixed rate.
type OpenLoop struct {
	Server string // "bare net/http", "verifier (cached)"
	Rate   float64
	Runs   []stats.Run     // one per round
	Late   []time.Duration // the generator's own p99 lateness, per round
}

// Lat is the median over rounds of each latency percentile.
func (o OpenLoop) Lat() stats.Latency { return medianLatency(o.Runs) }

// P99s are the rounds' p99 latencies, in round order.
func (o OpenLoop) P99s() []time.Duration {
	out := make([]time.Duration, len(o.Runs))
	for i, r := range o.Runs {
		out[i] = r.Latency.P99
	}
	return out
}

// Revocation is the propagation measurement.
type Revocation struct {
	Verifiers, Logouts int
	Delays             []time.Duration // one per logout and verifier, from the logout's answer to the first 401
	Early              int             // 401s seen before the logout's answer arrived (counted as 0)
	Missed             int             // verifiers that still said 200 at the deadline
	Deadline           time.Duration
}

// Summary returns the median, p99 and maximum delay.
func (r Revocation) Summary() (median, p99, max time.Duration) {
	if len(r.Delays) == 0 {
		return 0, 0, 0
	}
	l, _ := stats.Summarize(append([]time.Duration(nil), r.Delays...))
	return stats.MedianDuration(r.Delays), l.P99, l.Max
}

// Memory is the resident-memory measurement.
type Memory struct {
	Sessions              int
	RSSBefore, RSSAfter   int64   // bytes
	HeapBefore, HeapAfter float64 // go_memstats_heap_inuse_bytes; NaN when not exported
	// LiveBefore, LiveAfter: go_gc_heap_live_bytes (the heap the last GC found
	// live, without the garbage awaiting the next one); NaN when not exported.
	LiveBefore, LiveAfter float64
	Entries               float64 // the verifier's vexen_verifier_local_cache_entries after the fill; NaN when absent
	Replayed, ReplayHits  int64   // a sample sent again afterwards, and the local hits it produced
	Fill                  time.Duration
	// The heap one cached token costs by part, from pkg/verify's FootprintOf for
	// the run's token shape: the entry and its strings (allocations), and the
	// map slot before the map's load factor. 0 when not known.
	EntryBytes, StringBytes, MapSlotBytes int
}

// Breakdown splits the live heap per session into the entry, its strings, and the
// rest (the shard maps' slots with their spare capacity and control bytes, and
// anything else the fill left live); ok is false without the parts or the live heap.
func (m Memory) Breakdown() (entry, strs, rest float64, ok bool) {
	live := m.LivePerSession()
	if m.EntryBytes == 0 || math.IsNaN(live) {
		return 0, 0, 0, false
	}
	entry, strs = float64(m.EntryBytes), float64(m.StringBytes)
	return entry, strs, live - entry - strs, true
}

// PerSession is the RSS growth per cached session, in bytes.
func (m Memory) PerSession() float64 {
	if m.Sessions == 0 {
		return math.NaN()
	}
	return float64(m.RSSAfter-m.RSSBefore) / float64(m.Sessions)
}

// HeapPerSession is the growth of the in-use heap per session, in bytes.
func (m Memory) HeapPerSession() float64 {
	if m.Sessions == 0 {
		return math.NaN()
	}
	return (m.HeapAfter - m.HeapBefore) / float64(m.Sessions)
}

// LivePerSession is the growth of the live heap (as of the last GC) per session.
func (m Memory) LivePerSession() float64 {
	if m.Sessions == 0 {
		return math.NaN()
	}
	return (m.LiveAfter - m.LiveBefore) / float64(m.Sessions)
}

// SingleFlight is the burst check: bursts of Size concurrent requests carrying one
// new token each, and how many times the verifier resolved each burst's token.
type SingleFlight struct {
	Size        int
	Resolutions []int // one per burst
	// Misses are the burst's requests that missed the local cache (one per burst):
	// how many were in flight together before the token was cached. A burst with
	// one miss did not overlap and proves nothing.
	Misses  []int
	Refused int // requests not answered 200
}

// MinMisses is the smallest number of concurrent local misses of one burst.
func (s SingleFlight) MinMisses() int {
	if len(s.Misses) == 0 {
		return 0
	}
	m := s.Misses[0]
	for _, x := range s.Misses {
		m = min(m, x)
	}
	return m
}

// Max is the largest number of resolutions of one burst.
func (s SingleFlight) Max() int {
	m := 0
	for _, r := range s.Resolutions {
		m = max(m, r)
	}
	return m
}

// Profile is a CPU profile of one server under closed-loop load: the shares of its
// samples (0..1) in the functions that matter for the comparison, and its top
// entries by own (flat) time.
type Profile struct {
	Server string             // "bare net/http", "verifier (cached)", …
	Shares map[string]float64 // category label → cumulative share; absent = no sample
	Top    []ProfileEntry     // by flat share, largest first
}

// ProfileEntry is one function of a profile.
type ProfileEntry struct {
	Func      string
	Flat, Cum float64 // shares of the profile's samples
}

// ProfileCategories are the rows of the profile comparison, in order, each with
// what it counts.
var ProfileCategories = []struct{ Label, Counts string }{
	{"HTTP handler", "the verifier's (*handler).ServeHTTP; the baseline's http.HandlerFunc"},
	{"of it: Decide", "pkg/verify (*Verifier).Decide"},
	{"Redis (pkg/rediscache, go-redis)", "any function of pkg/rediscache or go-redis"},
	{"metrics (client_golang)", "any function of client_golang"},
	{"write syscalls", "bufio.(*Writer).Flush"},
	{"read path", "bufio.(*Reader).fill"},
	{"GC background marking", "runtime.gcBgMarkWorker"},
	{"connection deadlines", "internal/poll.setDeadlineImpl"},
}

// Target is one goal of the performance issue and how it went.
type Target struct {
	Name     string // "cached ≥ 0.9 of baseline"
	Measured string // "0.93"
	Met      bool
	Missed   string // by how much, when not met ("by 0.12 (0.78 of 0.9)")
	Unknown  bool   // not measured in this run
	Why      string // what this run's measurements say about the result ("" = nothing to add)
}

// Report is a whole run.
type Report struct {
	Date         time.Time
	Command      string   // the command that reproduces it
	Settings     []string // one line each: "rounds: 3 × 10s, interleaved", …
	Machine      string   // lscpu summary
	Scenarios    []Scenario
	OpenLoop     []OpenLoop
	Revocation   *Revocation
	Memory       *Memory
	SingleFlight *SingleFlight
	GoBench      []parse.GoBench
	Profiles     []Profile // CPU profiles taken under load, the baseline's first
	Targets      []Target
	Notes        []string // method notes, caveats
	Chart        string   // the chart's file name, relative to the Markdown file ("" = none)
}

func fmtRPS(v float64) string {
	if math.IsNaN(v) || v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

// FmtDur prints a latency with three significant figures in µs or ms.
func FmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// FmtDelay is FmtDur for a measured delay, where zero is a value ("0 µs"), not
// "not measured".
func FmtDelay(d time.Duration) string {
	if d <= 0 {
		return "0 µs"
	}
	return FmtDur(d)
}

func fmtCPU(v float64) string {
	if math.IsNaN(v) || v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", v*100)
}

func fmtBytes(b float64) string {
	switch {
	case math.IsNaN(b):
		return "–"
	case math.Abs(b) >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case math.Abs(b) >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

func fmtTarget(t float64) string {
	if t == 0 {
		return ""
	}
	return fmt.Sprintf("≥ %.1f", t)
}

// scenarioRows is the main table: header and one row per scenario.
func (r *Report) scenarioRows() [][]string {
	rows := [][]string{{"scenario", "answered by", "req/s", "baseline", "baseline req/s", "ratio", "target", "p50", "p90", "p99", "baseline p99", "server CPU", "baseline CPU", "failed"}}
	for _, s := range r.Scenarios {
		l, bl := s.Lat(), s.BaseLat()
		rows = append(rows, []string{
			s.Name, s.What, fmtRPS(s.RPS()), s.Baseline, fmtRPS(s.BaseRPS()), fmtRatio(s.Ratio()), fmtTarget(s.Target),
			FmtDur(l.P50), FmtDur(l.P90), FmtDur(l.P99), FmtDur(bl.P99), fmtCPU(s.CPU()), fmtCPU(s.BaseCPU()),
			fmt.Sprint(s.Failures()),
		})
	}
	return rows
}

func mdTable(w io.Writer, rows [][]string) {
	for i, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(escapeCells(row), " | "))
		if i == 0 {
			seps := make([]string, len(row))
			for j := range seps {
				seps[j] = "---"
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(seps, " | "))
		}
	}
	fmt.Fprintln(w)
}

func escapeCells(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return out
}

func textTable(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func (r *Report) openLoopRows() [][]string {
	rows := [][]string{{"server", "rate (req/s)", "p50", "p90", "p99", "max", "p99 per round", "failed", "server CPU", "other processes on its CPU", "generator lateness p99"}}
	for _, o := range r.OpenLoop {
		l := o.Lat()
		var failed int64
		p99s := make([]string, len(o.Runs))
		for i, run := range o.Runs {
			failed += run.Failures
			p99s[i] = FmtDur(run.Latency.P99)
		}
		rows = append(rows, []string{o.Server, fmtRPS(o.Rate), FmtDur(l.P50), FmtDur(l.P90), FmtDur(l.P99), FmtDur(l.Max),
			strings.Join(p99s, ", "), fmt.Sprint(failed),
			fmtCPU(medianOf(o.Runs, func(r stats.Run) float64 { return r.ServerCPU })),
			fmtCPU(medianOf(o.Runs, func(r stats.Run) float64 { return r.OtherCPU })),
			FmtDur(stats.MedianDuration(o.Late))})
	}
	return rows
}

// ShortFunc shortens a profile's function name for the report: the module path
// of this repository dropped, a generic's type arguments elided.
func ShortFunc(name string) string {
	name = strings.ReplaceAll(name, "github.com/vexen/vexen-auth/", "")
	var b strings.Builder
	depth := 0
	for _, r := range name {
		switch {
		case r == '[':
			if depth == 0 {
				b.WriteString("[…]")
			}
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (r *Report) profileRows() [][]string {
	head := []string{"where", "counts"}
	for _, p := range r.Profiles {
		head = append(head, p.Server)
	}
	rows := [][]string{head}
	for _, c := range ProfileCategories {
		row := []string{c.Label, c.Counts}
		for _, p := range r.Profiles {
			v, ok := p.Shares[c.Label]
			if !ok {
				row = append(row, "–")
				continue
			}
			row = append(row, fmt.Sprintf("%.1f %%", 100*v))
		}
		rows = append(rows, row)
	}
	return rows
}

func (r *Report) targetRows() [][]string {
	rows := [][]string{{"target", "measured", "result", "why (from this run)"}}
	for _, t := range r.Targets {
		res := "met"
		switch {
		case t.Unknown:
			res = "not measured"
		case !t.Met:
			res = "missed " + t.Missed
		}
		rows = append(rows, []string{t.Name, t.Measured, res, t.Why})
	}
	return rows
}

func (r *Report) goBenchRows() [][]string {
	rows := [][]string{{"benchmark", "ns/op", "B/op", "allocs/op"}}
	for _, b := range r.GoBench {
		pkg := b.Pkg[strings.LastIndexByte(b.Pkg, '/')+1:]
		rows = append(rows, []string{pkg + "." + strings.TrimPrefix(b.Name, "Benchmark"), fmt.Sprintf("%.1f", b.NsPerOp), num(b.BytesPerOp), num(b.AllocsPerOp)})
	}
	return rows
}

func num(v float64) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// Text writes the plain-text summary printed at the end of a run.
func (r *Report) Text(w io.Writer) {
	fmt.Fprintf(w, "\nvexen-auth load benchmark, %s\n\n", r.Date.UTC().Format("2006-01-02 15:04 UTC"))
	textTable(w, r.scenarioRows())
	if len(r.OpenLoop) > 0 {
		fmt.Fprintln(w, "\nopen loop, 70 % of the baseline's peak:")
		textTable(w, r.openLoopRows())
	}
	if rv := r.Revocation; rv != nil {
		med, p99, mx := rv.Summary()
		fmt.Fprintf(w, "\nrevocation propagation (%d verifiers, %d logouts): median %s, p99 %s, max %s; missed %d\n",
			rv.Verifiers, rv.Logouts, FmtDelay(med), FmtDelay(p99), FmtDelay(mx), rv.Missed)
	}
	if sf := r.SingleFlight; sf != nil {
		fmt.Fprintf(w, "single flight: %d bursts of %d concurrent requests with one new token: at most %d resolution per burst, %d refused\n",
			len(sf.Resolutions), sf.Size, sf.Max(), sf.Refused)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "memory: %d cached sessions: RSS %s → %s, %s per session (heap %s per session)\n",
			m.Sessions, fmtBytes(float64(m.RSSBefore)), fmtBytes(float64(m.RSSAfter)), fmtBytes(m.PerSession()), fmtBytes(m.HeapPerSession()))
		if e, st, rest, ok := m.Breakdown(); ok {
			fmt.Fprintf(w, "memory: live heap per session %s = entry %s + strings %s + map slot (%d B) with spare capacity and other %s\n",
				fmtBytes(m.LivePerSession()), fmtBytes(e), fmtBytes(st), m.MapSlotBytes, fmtBytes(rest))
		}
	}
	if len(r.GoBench) > 0 {
		fmt.Fprintln(w)
		textTable(w, r.goBenchRows())
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w)
		textTable(w, r.targetRows())
	}
}

// Markdown writes docs/benchmarks.md.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintln(w, "# Benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "<!-- Generated by the load benchmark (bench/, `make bench`); edits are overwritten. -->")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Measured on %s with:\n\n```sh\n%s\n```\n\n", r.Date.UTC().Format("2006-01-02 15:04 UTC"), r.Command)
	fmt.Fprintln(w, "The machine is shared and noisy: **the ratios to the baseline are the result**, not the absolute numbers. "+
		"Each scenario runs interleaved with its baseline in the same invocation, with the same load generator settings and CPU placement; "+
		"a ratio is the median over rounds of the scenario's requests/s divided by the mean of the baseline runs just before and just after it.")
	fmt.Fprintln(w)
	if r.Chart != "" {
		fmt.Fprintf(w, "![Throughput and p99 latency per scenario against its baseline](%s)\n\n", r.Chart)
	}
	fmt.Fprintln(w, "## Throughput and latency")
	fmt.Fprintln(w)
	mdTable(w, r.scenarioRows())
	fmt.Fprintln(w, "Latencies are the median over rounds of each round's percentile, as the load generator measured them (wrk: from the request's send; closed loop). "+
		"Server CPU is the CPU time of the server-side processes over the run (100 % = one core). A baseline well below 100 % did not have its core to itself: the notes below say whether the load generator was the limit or other processes were running on that CPU.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per-round ratios:")
	fmt.Fprintln(w)
	for _, s := range r.Scenarios {
		parts := make([]string, len(s.Ratios))
		for i, x := range s.Ratios {
			parts[i] = fmt.Sprintf("%.3f", x)
		}
		note := ""
		if s.Note != "" {
			note = " — " + s.Note
		}
		fmt.Fprintf(w, "- `%s`: %s%s\n", s.Name, strings.Join(parts, ", "), note)
	}
	fmt.Fprintln(w)
	if len(r.OpenLoop) > 0 {
		fmt.Fprintln(w, "## p99 at 70 % of the baseline's peak (open loop)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "wrk2 is not packaged in Debian, so this is measured with the harness's own open-loop generator "+
			"(bench/load.OpenLoop): requests are sent on a fixed schedule (released by a timerfd, to the microsecond) at 70 % of the baseline's median peak requests/s, "+
			"and each latency is counted from the moment the request was due, so a stall shows for every request it delays "+
			"(no coordinated omission). The generator is pinned to the other core, as wrk is. The runs alternate, one of each row per round; the figures are medians over rounds. "+
			"The last row runs the cached verifier at 70 % of its own closed-loop peak instead: as loaded, relative to what it can do, as the baseline is in the first row. "+
			"On one core the wait behind other requests grows as ρ/(1−ρ) with the load ρ, so the gap between the first two rows that this row closes is queueing, and what it leaves is the rest (GC, timers, locks).")
		fmt.Fprintln(w)
		mdTable(w, r.openLoopRows())
	}
	if rv := r.Revocation; rv != nil {
		med, p99, mx := rv.Summary()
		fmt.Fprintln(w, "## Revocation propagation")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%d verifier processes (push mode, one Redis), %d logouts. For each logout, every verifier has the token cached "+
			"(it answered 200), and one goroutine per verifier asks it again and again over a kept-alive connection; the delay is from the "+
			"moment the issuer's `204` arrived to the first `401` from that verifier; a `401` that came before the `204` counts as 0.\n\n", rv.Verifiers, rv.Logouts)
		mdTable(w, [][]string{
			{"samples", "median", "p99", "max", "401 before the logout's answer", "still 200 after " + rv.Deadline.String()},
			{fmt.Sprint(len(rv.Delays)), FmtDelay(med), FmtDelay(p99), FmtDelay(mx), fmt.Sprint(rv.Early), fmt.Sprint(rv.Missed)},
		})
	}
	if sf := r.SingleFlight; sf != nil {
		fmt.Fprintln(w, "## Single flight")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%d bursts on a fresh verifier with --first-sight-session-check after the cold rounds: each a token it never saw (of a new session, not in Redis), sent by %d kept-alive connections released at the same moment. "+
			"(With first sight alone a resolution is CPU only, so on one core a burst's first request is decided before the others run and nothing overlaps; the session check makes it wait on Redis and the store.) "+
			"Each resolution of a local miss either is decided from the revocation window after one signature check (first sight, vexen_verifier_first_sight_known_total) or looks the token up in Redis once, "+
			"and a token Redis does not know is then checked in full (signature, then session), "+
			"so the first-sight decisions plus the Redis lookups a burst caused (from its metrics) count the signature checks of the burst.\n\n", len(sf.Resolutions), sf.Size)
		ints := func(xs []int) string {
			out := make([]string, len(xs))
			for i, n := range xs {
				out[i] = fmt.Sprint(n)
			}
			return strings.Join(out, " ")
		}
		mdTable(w, [][]string{
			{"bursts", "requests per burst", "local misses per burst (requests in flight together)", "resolutions per burst", "most in one burst", "requests not answered 200"},
			{fmt.Sprint(len(sf.Resolutions)), fmt.Sprint(sf.Size), ints(sf.Misses), ints(sf.Resolutions), fmt.Sprint(sf.Max()), fmt.Sprint(sf.Refused)},
		})
	}
	if m := r.Memory; m != nil {
		fmt.Fprintln(w, "## Memory per cached session")
		fmt.Fprintln(w)
		mdTable(w, [][]string{
			{"sessions", "RSS before", "RSS after", "RSS per session", "heap in use per session", "live heap per session", "cache entries after", "replayed sample: local hits", "fill time"},
			{fmt.Sprint(m.Sessions), fmtBytes(float64(m.RSSBefore)), fmtBytes(float64(m.RSSAfter)), fmtBytes(m.PerSession()), fmtBytes(m.HeapPerSession()), fmtBytes(m.LivePerSession()),
				num(m.Entries), fmt.Sprintf("%d of %d", m.ReplayHits, m.Replayed), m.Fill.Round(time.Second).String()},
		})
		fmt.Fprintln(w, "RSS is what the operating system gives the process; the heap in use includes garbage the next GC will free (with Go's default GOGC=100 the heap may grow to twice the live data before it runs); the live heap is what the last GC kept, \"–\" when the verifier does not export go_gc_heap_live_bytes.")
		if e, st, rest, ok := m.Breakdown(); ok {
			fmt.Fprintln(w)
			mdTable(w, [][]string{
				{"live heap per session", "entry (identity, expiry, last check)", "strings (user ID, email, session ID)", "map slot (key + pointer) with the map's spare capacity, and other"},
				{fmtBytes(m.LivePerSession()), fmtBytes(e), fmtBytes(st), fmt.Sprintf("%s (slot %d B)", fmtBytes(rest), m.MapSlotBytes)},
			})
			fmt.Fprintln(w, "The entry and string sizes are the allocator's size classes for the run's token shape (pkg/verify FootprintOf, checked against the allocator in its tests); the rest is the measured live heap less those two. Role and amr lists with their header values are shared between identities and cost nothing per session.")
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	if len(r.GoBench) > 0 {
		fmt.Fprintln(w, "## In-process (go test -bench)")
		fmt.Fprintln(w)
		mdTable(w, r.goBenchRows())
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintln(w, "## Where the CPU goes (profiles)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CPU profiles (pprof, 100 Hz) of each server under the same closed-loop load as its scenario, taken in an extra unrecorded run after the groups; each figure is the share of that process's own samples with the named function on the stack (pprof -focus: the function and what it calls, each sample once).")
		fmt.Fprintln(w)
		mdTable(w, r.profileRows())
		for _, p := range r.Profiles {
			fmt.Fprintf(w, "Top entries of %s by own time (flat, cumulative):\n\n", p.Server)
			var parts []string
			for _, e := range p.Top {
				parts = append(parts, fmt.Sprintf("`%s` %.1f %% (%.1f %%)", ShortFunc(e.Func), 100*e.Flat, 100*e.Cum))
			}
			fmt.Fprintln(w, strings.Join(parts, "; ")+".")
			fmt.Fprintln(w)
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "## Targets")
		fmt.Fprintln(w)
		mdTable(w, r.targetRows())
	}
	fmt.Fprintln(w, "## Setup")
	fmt.Fprintln(w)
	for _, s := range r.Settings {
		fmt.Fprintf(w, "- %s\n", s)
	}
	fmt.Fprintln(w)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "## Notes")
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "## Machine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "```\n%s\n```\n", strings.TrimRight(r.Machine, "\n"))
}
