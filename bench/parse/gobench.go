package parse

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// GoBench is one result line of `go test -bench -benchmem`.
type GoBench struct {
	Pkg         string // from the preceding "pkg:" line
	Name        string // without the -GOMAXPROCS suffix, e.g. "BenchmarkDecide/cached"
	Procs       int    // the -N suffix (GOMAXPROCS); 1 when absent
	N           int64  // iterations
	NsPerOp     float64
	BytesPerOp  float64 // -1 without -benchmem
	AllocsPerOp float64 // -1 without -benchmem
	// Extra holds any other unit reported (b.ReportMetric, MB/s), by unit.
	Extra map[string]float64
}

// ParseGoBench reads the benchmark lines of `go test -bench` output (other lines are
// skipped). A line that starts like a result but does not parse is an error.
func ParseGoBench(out string) ([]GoBench, error) {
	var res []GoBench
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue // e.g. "BenchmarkX is skipped", or a log line
		}
		b := GoBench{Pkg: pkg, N: n, NsPerOp: -1, BytesPerOp: -1, AllocsPerOp: -1, Procs: 1}
		b.Name = f[0]
		if i := strings.LastIndexByte(f[0], '-'); i > 0 {
			if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
				b.Name, b.Procs = f[0][:i], p
			}
		}
		rest := f[2:]
		if len(rest)%2 != 0 {
			return nil, fmt.Errorf("parse: benchmark line %q: value without unit", line)
		}
		for i := 0; i < len(rest); i += 2 {
			v, err := strconv.ParseFloat(rest[i], 64)
			if err != nil {
				return nil, fmt.Errorf("parse: benchmark line %q: %w", line, err)
			}
			switch unit := rest[i+1]; unit {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			default:
				if b.Extra == nil {
					b.Extra = map[string]float64{}
				}
				b.Extra[unit] = v
			}
		}
		if b.NsPerOp < 0 {
			return nil, fmt.Errorf("parse: benchmark line %q has no ns/op", line)
		}
		res = append(res, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse: go test output: %w", err)
	}
	return res, nil
}
