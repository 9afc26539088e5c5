package stats_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/bench/stats"
)

// Three verifier rounds interleaved with four baseline runs; each round is compared
// with the baseline runs on either side of it, and the median ratio is the result.
func ExampleBracketRatios() {
	baseline := []float64{70000, 68000, 72000, 70000} // requests/s: B0 B1 B2 B3
	verifier := []float64{63000, 61000, 66500}        // requests/s: S0 S1 S2
	ratios, err := stats.BracketRatios(baseline, verifier)
	if err != nil {
		panic(err)
	}
	for _, r := range ratios {
		fmt.Printf("%.3f\n", r)
	}
	fmt.Printf("median %.3f\n", stats.Median(ratios))
	// Output:
	// 0.913
	// 0.871
	// 0.937
	// median 0.913
}
