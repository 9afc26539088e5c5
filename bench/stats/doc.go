// Package stats holds the arithmetic of the load benchmark: percentiles of latency
// samples, medians of rounds, and the bracketed ratio of a subject to its baseline.
//
// A benchmark group runs its rounds interleaved and closes with one more baseline run:
//
//	B0 S0 B1 S1 B2 S2 B3
//
// Subject round i is compared with the mean of the baseline runs on either side of it
// (B_i and B_i+1), so a slow drift of the machine's speed during the group (another
// tenant, thermal limits) affects the subject and its reference alike. The result of
// the group is the median of those per-round ratios: one noisy round cannot move it.
package stats
