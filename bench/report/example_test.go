package report_test

import (
	"os"
	"time"

	"github.com/vexen/vexen-auth/bench/report"
	"github.com/vexen/vexen-auth/bench/stats"
)

func ExampleReport_Text() {
	r := func(rps float64) stats.Run {
		return stats.Run{Requests: int64(rps), Elapsed: time.Second, Latency: stats.Latency{P50: 800 * time.Microsecond, P90: time.Millisecond, P99: 2 * time.Millisecond}}
	}
	base := []float64{70000, 70000}
	ratios, _ := stats.BracketRatios(base, []float64{63000})
	rep := &report.Report{
		Date: time.Date(2025, 11, 28, 12, 0, 0, 0, time.UTC),
		Scenarios: []report.Scenario{{
			Name: "cached", What: "local cache", Baseline: "bare net/http",
			Runs: []stats.Run{r(63000)}, BaseRuns: []stats.Run{r(70000), r(70000)}, Ratios: ratios, Target: 0.9,
		}},
	}
	rep.Text(os.Stdout)
	// Output:
	// vexen-auth load benchmark, 2025-11-28 12:00 UTC
	//
	// scenario  answered by  req/s  baseline       baseline req/s  ratio  target  p50     p90      p99      baseline p99  server CPU  baseline CPU  failed
	// cached    local cache  63000  bare net/http  70000           0.90   ≥ 0.9   800 µs  1.00 ms  2.00 ms  2.00 ms       –           –             0
}
