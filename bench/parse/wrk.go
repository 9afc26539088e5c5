package parse

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoResult: the text holds no result of the expected kind.
var ErrNoResult = errors.New("parse: no result in output")

// Wrk is one wrk run, as printed by wrk 4 with --latency.
type Wrk struct {
	Requests int64
	Duration time.Duration
	RPS      float64 // wrk's "Requests/sec"

	// Latency percentiles and maximum.
	P50, P75, P90, P99, Max time.Duration

	Non2xx                        int64 // "Non-2xx or 3xx responses" (status > 399)
	Connect, Read, Write, Timeout int64 // "Socket errors"
	Repeats                       int64 // from the Lua summary line; -1 when absent
	Exact                         bool  // figures come from the Lua summary line (µs precision)
}

// Failures is every request that did not get a 2xx or 3xx answer: error statuses,
// socket errors and timeouts.
func (w Wrk) Failures() int64 { return w.Non2xx + w.Connect + w.Read + w.Write + w.Timeout }

// SummaryPrefix starts the machine-readable line the harness's Lua script prints
// from done(): "vexenbench-wrk key=value ...", with integer values and times in µs.
const SummaryPrefix = "vexenbench-wrk"

// ParseWrk reads wrk's output. The human-readable report gives the request count,
// duration, requests/s, latency distribution and error counts; when the Lua summary
// line (SummaryPrefix) is present its exact microsecond figures replace the rounded
// ones of the report. A report without a request count, requests/s or a latency
// distribution (wrk run without --latency) is an error.
func ParseWrk(out string) (Wrk, error) {
	w := Wrk{Repeats: -1}
	var haveRequests, haveRPS, havePercentile bool
	var summary []string // the Lua summary line's fields, applied last
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	inDist := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			inDist = false
		case line == "Latency Distribution":
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			p, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
			if err != nil {
				return w, fmt.Errorf("parse: wrk percentile %q: %w", line, err)
			}
			d, err := WrkDuration(f[1])
			if err != nil {
				return w, fmt.Errorf("parse: wrk percentile %q: %w", line, err)
			}
			switch p {
			case 50:
				w.P50 = d
			case 75:
				w.P75 = d
			case 90:
				w.P90 = d
			case 99:
				w.P99 = d
			}
			havePercentile = true
		case f[0] == "Latency" && len(f) >= 4:
			inDist = false
			d, err := WrkDuration(f[3])
			if err != nil {
				return w, fmt.Errorf("parse: wrk latency line %q: %w", line, err)
			}
			w.Max = d
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return w, fmt.Errorf("parse: wrk request count %q: %w", line, err)
			}
			d, err := WrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return w, fmt.Errorf("parse: wrk duration %q: %w", line, err)
			}
			w.Requests, w.Duration, haveRequests = n, d, true
		case strings.HasPrefix(line, "Socket errors:"):
			if err := w.socketErrors(strings.TrimPrefix(line, "Socket errors:")); err != nil {
				return w, err
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return w, fmt.Errorf("parse: wrk non-2xx line %q: %w", line, err)
			}
			w.Non2xx = n
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return w, fmt.Errorf("parse: wrk requests/sec %q: %w", line, err)
			}
			w.RPS, haveRPS = v, true
		case f[0] == SummaryPrefix:
			summary = f[1:]
		}
	}
	if err := sc.Err(); err != nil {
		return w, fmt.Errorf("parse: wrk output: %w", err)
	}
	if summary != nil {
		if err := w.summary(summary); err != nil {
			return w, err
		}
		haveRequests, haveRPS, havePercentile = true, true, true
	}
	if !haveRequests || !haveRPS {
		return w, fmt.Errorf("%w: wrk printed no request count or requests/sec", ErrNoResult)
	}
	if !havePercentile {
		return w, fmt.Errorf("%w: wrk printed no latency distribution (run it with --latency)", ErrNoResult)
	}
	return w, nil
}

func (w *Wrk) socketErrors(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return fmt.Errorf("parse: wrk socket errors %q", s)
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("parse: wrk socket errors %q: %w", s, err)
		}
		switch f[0] {
		case "connect":
			w.Connect = n
		case "read":
			w.Read = n
		case "write":
			w.Write = n
		case "timeout":
			w.Timeout = n
		default:
			return fmt.Errorf("parse: wrk socket errors: unknown kind %q", f[0])
		}
	}
	return nil
}

// summary applies the key=value fields of the Lua summary line.
func (w *Wrk) summary(fields []string) error {
	vals := map[string]int64{}
	for _, kv := range fields {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("parse: wrk summary field %q is not key=value", kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("parse: wrk summary field %q: %w", kv, err)
		}
		vals[k] = n
	}
	for _, k := range []string{"requests", "duration_us", "p50_us", "p90_us", "p99_us", "max_us"} {
		if _, ok := vals[k]; !ok {
			return fmt.Errorf("parse: wrk summary line lacks %s", k)
		}
	}
	us := func(k string) time.Duration { return time.Duration(vals[k]) * time.Microsecond }
	w.Requests = vals["requests"]
	w.Duration = us("duration_us")
	if w.Duration > 0 {
		w.RPS = float64(w.Requests) / w.Duration.Seconds()
	}
	w.P50, w.P90, w.P99, w.Max = us("p50_us"), us("p90_us"), us("p99_us"), us("max_us")
	if v, ok := vals["p75_us"]; ok {
		w.P75 = time.Duration(v) * time.Microsecond
	}
	if v, ok := vals["status_errors"]; ok {
		w.Non2xx = v
	}
	for k, dst := range map[string]*int64{"connect_errors": &w.Connect, "read_errors": &w.Read, "write_errors": &w.Write, "timeout_errors": &w.Timeout} {
		if v, ok := vals[k]; ok {
			*dst = v
		}
	}
	if v, ok := vals["repeats"]; ok {
		w.Repeats = v
	}
	w.Exact = true
	return nil
}

// WrkDuration parses a duration as wrk prints it: a decimal number with the unit
// us, ms, s, m or h ("850.12us", "1.50ms", "10.00s", "1.00m").
func WrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("parse: wrk duration %q", s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("parse: wrk duration %q has no unit", s)
}
