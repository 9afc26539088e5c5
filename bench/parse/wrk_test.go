package parse

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseWrkPlain(t *testing.T) {
	w, err := ParseWrk(readTestdata(t, "wrk-plain.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := Wrk{
		Requests: 695512, Duration: 10 * time.Second, RPS: 69549.87,
		P50: 850 * time.Microsecond, P75: 1020 * time.Microsecond, P90: 1270 * time.Microsecond,
		P99: 2100 * time.Microsecond, Max: 12050 * time.Microsecond,
		Read: 3, Timeout: 12, Repeats: -1,
	}
	if w != want {
		t.Errorf("ParseWrk =\n%+v\nwant\n%+v", w, want)
	}
	if got := w.Failures(); got != 15 {
		t.Errorf("Failures = %d, want 15", got)
	}
}

func TestParseWrkLuaSummaryWins(t *testing.T) {
	w, err := ParseWrk(readTestdata(t, "wrk-lua.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := Wrk{
		Requests: 22041, Duration: 1034341 * time.Microsecond, RPS: 22041 / 1.034341,
		P50: 199 * time.Microsecond, P75: 1143 * time.Microsecond, P90: 5790 * time.Microsecond,
		P99: 20634 * time.Microsecond, Max: 33120 * time.Microsecond,
		Non2xx: 10, Repeats: 21041, Exact: true,
	}
	if w != want {
		t.Errorf("ParseWrk =\n%+v\nwant\n%+v", w, want)
	}
}

func TestParseWrkSummaryBeforeReport(t *testing.T) {
	// The exact figures win wherever the line appears.
	out := readTestdata(t, "wrk-lua.txt")
	i := strings.Index(out, SummaryPrefix)
	moved := out[i:] + out[:i]
	w, err := ParseWrk(moved)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Exact || w.P99 != 20634*time.Microsecond || w.Requests != 22041 {
		t.Errorf("summary first: got %+v", w)
	}
}

func TestParseWrkErrors(t *testing.T) {
	plain := readTestdata(t, "wrk-plain.txt")
	noDist := strings.Replace(plain, "  Latency Distribution\n", "", 1)
	noDist = strings.Join(filterLines(noDist, func(l string) bool { return !strings.Contains(l, "%  ") }), "\n")
	tests := []struct {
		name    string
		out     string
		wantErr error
	}{
		{"empty", "", ErrNoResult},
		{"connection refused", "unable to connect to 127.0.0.1:1 Connection refused\n", ErrNoResult},
		{"no --latency", noDist, ErrNoResult},
		{"no requests/sec", strings.Replace(plain, "Requests/sec:  69549.87", "", 1), ErrNoResult},
		{"bad percentile", strings.Replace(plain, "850.00us", "850.00xs", 1), nil},
		{"bad socket errors", strings.Replace(plain, "read 3", "read x", 1), nil},
		{"unknown socket error", strings.Replace(plain, "read 3", "lost 3", 1), nil},
		{"summary without p99", plain + "vexenbench-wrk requests=1 duration_us=1 p50_us=1 p90_us=1 max_us=1\n", nil},
		{"summary field not key=value", plain + "vexenbench-wrk requests\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWrk(tt.out)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func filterLines(s string, keep func(string) bool) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if keep(l) {
			out = append(out, l)
		}
	}
	return out
}

func TestWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"850.12us", 850120 * time.Nanosecond},
		{"1.50ms", 1500 * time.Microsecond},
		{"10.00s", 10 * time.Second},
		{"1.00m", time.Minute},
		{"2.00h", 2 * time.Hour},
		{"0.00us", 0},
	}
	for _, tt := range tests {
		got, err := WrkDuration(tt.in)
		if err != nil {
			t.Errorf("WrkDuration(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("WrkDuration(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "12", "ms", "-1ms", "1.2.3ms", "5ns"} {
		if _, err := WrkDuration(bad); err == nil {
			t.Errorf("WrkDuration(%q): no error", bad)
		}
	}
}
