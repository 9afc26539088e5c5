package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Sentinel errors.
var (
	// ErrEmpty: a statistic of no values was asked for.
	ErrEmpty = errors.New("stats: no values")
	// ErrRounds: the baseline runs do not bracket the subject's rounds.
	ErrRounds = errors.New("stats: baseline runs must number the subject's rounds plus one")
)

// Median returns the median of xs (the mean of the two middle values for an even
// count). xs is not modified. It returns NaN for an empty slice.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p percent of the
// values are less than or equal to it. It is what wrk and HdrHistogram report, and
// never a value that was not observed. sorted must be in ascending order.
func Percentile[T ~int64 | ~float64](sorted []T, p float64) (T, error) {
	var zero T
	if len(sorted) == 0 {
		return zero, ErrEmpty
	}
	if !(p > 0 && p <= 100) {
		return zero, fmt.Errorf("stats: percentile %v outside (0, 100]", p)
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1], nil
}

// Latency summarizes latency samples.
type Latency struct {
	P50, P90, P99, Max time.Duration
}

// Summarize sorts samples in place and returns their percentiles and maximum.
func Summarize(samples []time.Duration) (Latency, error) {
	if len(samples) == 0 {
		return Latency{}, ErrEmpty
	}
	slices.Sort(samples)
	var l Latency
	l.P50, _ = Percentile(samples, 50)
	l.P90, _ = Percentile(samples, 90)
	l.P99, _ = Percentile(samples, 99)
	l.Max = samples[len(samples)-1]
	return l, nil
}

// Run is the result of one load run against one server.
type Run struct {
	Requests int64         // completed requests (any status)
	Failures int64         // non-2xx answers, socket errors, RPC errors, timeouts
	Elapsed  time.Duration // how long the load ran
	Latency  Latency
	// ServerCPU is the CPU time the server-side processes used during the run,
	// divided by Elapsed: 1.0 is one core fully busy. Zero when not measured.
	ServerCPU float64
	// LoadCPU is the same for the load generator. A generator near 1.0 was the
	// limit of the run, not the server. Zero when not measured.
	LoadCPU float64
	// OtherCPU is the CPU time that processes other than the server's used on the
	// server's CPUs during the run, per second: another tenant of the machine
	// (or, for scenarios with Redis and PostgreSQL, those servers too).
	OtherCPU float64
	// StealCPU is the time the hypervisor gave the server's CPUs to someone else
	// while they wanted to run, per second.
	StealCPU float64
	// Repeats counts requests that carried a token already sent in this run (only
	// meaningful for scenarios that promise every token is new).
	Repeats int64
}

// RPS is the run's throughput in requests per second (0 for an empty run).
func (r Run) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// BracketRatios returns, for each subject round i, subject[i] divided by the mean of
// baseline[i] and baseline[i+1]: the baseline runs just before and just after it.
// len(baseline) must be len(subject)+1, and no baseline value may be zero.
func BracketRatios(baseline, subject []float64) ([]float64, error) {
	if len(subject) == 0 {
		return nil, ErrEmpty
	}
	if len(baseline) != len(subject)+1 {
		return nil, fmt.Errorf("%w (have %d baseline, %d subject)", ErrRounds, len(baseline), len(subject))
	}
	out := make([]float64, len(subject))
	for i, s := range subject {
		ref := (baseline[i] + baseline[i+1]) / 2
		if ref == 0 {
			return nil, fmt.Errorf("stats: baseline runs %d and %d are both zero", i, i+1)
		}
		out[i] = s / ref
	}
	return out, nil
}

// MedianDuration returns the median of ds (the mean of the middle two for an even
// count), or 0 for none.
func MedianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	f := make([]float64, len(ds))
	for i, d := range ds {
		f[i] = float64(d)
	}
	return time.Duration(math.Round(Median(f)))
}
