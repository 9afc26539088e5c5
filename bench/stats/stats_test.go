package stats

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{3, 1, 2}, 2},
		{"even is the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"outlier does not move it", []float64{10, 11, 1e9}, 11},
		{"duplicates", []float64{5, 5, 1, 5}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := Median(in); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("Median modified its input: %v, was %v", in, tt.in)
			}
		})
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"p50 of 1..100", hundred, 50, 50},
		{"p90 of 1..100", hundred, 90, 90},
		{"p99 of 1..100", hundred, 99, 99},
		{"p100 is the max", hundred, 100, 100},
		{"tiny p is the min", hundred, 0.001, 1},
		{"p99.9 rounds up", hundred, 99.9, 100},
		{"one value", []int64{42}, 99, 42},
		{"p50 of two is the lower (nearest rank)", []int64{10, 20}, 50, 10},
		{"p51 of two is the upper", []int64{10, 20}, 51, 20},
		{"p99 of ten is the max", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 1000}, 99, 1000},
		{"p90 of ten", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 1000}, 90, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Percentile(tt.sorted, tt.p)
			if err != nil {
				t.Fatalf("Percentile: %v", err)
			}
			if got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileErrors(t *testing.T) {
	if _, err := Percentile([]float64(nil), 50); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: err = %v, want ErrEmpty", err)
	}
	for _, p := range []float64{0, -1, 100.1, math.NaN()} {
		if _, err := Percentile([]float64{1}, p); err == nil {
			t.Errorf("p=%v: no error", p)
		}
	}
}

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	// 1000 samples: 1..1000 µs, shuffled by a fixed stride.
	for i := range 1000 {
		samples = append(samples, time.Duration((i*337)%1000+1)*time.Microsecond)
	}
	l, err := Summarize(samples)
	if err != nil {
		t.Fatal(err)
	}
	want := Latency{P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond, Max: 1000 * time.Microsecond}
	if l != want {
		t.Errorf("Summarize = %+v, want %+v", l, want)
	}
	if _, err := Summarize(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Summarize(nil) err = %v, want ErrEmpty", err)
	}
}

func TestRunRPS(t *testing.T) {
	r := Run{Requests: 50_000, Elapsed: 10 * time.Second}
	if got := r.RPS(); got != 5000 {
		t.Errorf("RPS = %v, want 5000", got)
	}
	if got := (Run{Requests: 5}).RPS(); got != 0 {
		t.Errorf("RPS without elapsed = %v, want 0", got)
	}
}

func TestBracketRatios(t *testing.T) {
	tests := []struct {
		name     string
		baseline []float64
		subject  []float64
		want     []float64
	}{
		{"steady", []float64{100, 100, 100, 100}, []float64{90, 80, 95}, []float64{0.9, 0.8, 0.95}},
		{"drift is bracketed", []float64{100, 80, 60}, []float64{90, 70}, []float64{1, 1}},
		{"one round", []float64{50, 150}, []float64{100}, []float64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BracketRatios(tt.baseline, tt.subject)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-12 {
					t.Errorf("ratio %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestBracketRatiosErrors(t *testing.T) {
	if _, err := BracketRatios([]float64{1, 2, 3}, []float64{1, 2, 3}); !errors.Is(err, ErrRounds) {
		t.Errorf("same length: err = %v, want ErrRounds", err)
	}
	if _, err := BracketRatios([]float64{1}, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("no subject: err = %v, want ErrEmpty", err)
	}
	if _, err := BracketRatios([]float64{0, 0}, []float64{1}); err == nil {
		t.Error("zero baseline: no error")
	}
}

func TestMedianDuration(t *testing.T) {
	if got := MedianDuration([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}); got != 2*time.Millisecond {
		t.Errorf("MedianDuration = %v, want 2ms", got)
	}
	if got := MedianDuration([]time.Duration{time.Millisecond, 2 * time.Millisecond}); got != 1500*time.Microsecond {
		t.Errorf("MedianDuration even = %v, want 1.5ms", got)
	}
	if got := MedianDuration(nil); got != 0 {
		t.Errorf("MedianDuration(nil) = %v, want 0", got)
	}
}
