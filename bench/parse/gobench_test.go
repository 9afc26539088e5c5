package parse

import (
	"reflect"
	"testing"
)

const goBenchOut = `goos: linux
goarch: amd64
pkg: github.com/vexen/vexen-auth/pkg/verify
cpu: AMD EPYC
BenchmarkDecide/cached-2         	 5000000	       231.5 ns/op	       0 B/op	       0 allocs/op
BenchmarkDecide/cold_es256-2     	   10000	    105321 ns/op	    6120 B/op	      71 allocs/op
BenchmarkHandler               	 2000000	       612 ns/op
BenchmarkThroughput-2            	 1000	   1000000 ns/op	  95.50 MB/s	 3.000 hits/op
--- BENCH: BenchmarkSomething
    bench_test.go:12: a log line
PASS
ok  	github.com/vexen/vexen-auth/pkg/verify	4.512s
`

func TestParseGoBench(t *testing.T) {
	got, err := ParseGoBench(goBenchOut)
	if err != nil {
		t.Fatal(err)
	}
	pkg := "github.com/vexen/vexen-auth/pkg/verify"
	want := []GoBench{
		{Pkg: pkg, Name: "BenchmarkDecide/cached", Procs: 2, N: 5000000, NsPerOp: 231.5, BytesPerOp: 0, AllocsPerOp: 0},
		{Pkg: pkg, Name: "BenchmarkDecide/cold_es256", Procs: 2, N: 10000, NsPerOp: 105321, BytesPerOp: 6120, AllocsPerOp: 71},
		{Pkg: pkg, Name: "BenchmarkHandler", Procs: 1, N: 2000000, NsPerOp: 612, BytesPerOp: -1, AllocsPerOp: -1},
		{Pkg: pkg, Name: "BenchmarkThroughput", Procs: 2, N: 1000, NsPerOp: 1e6, BytesPerOp: -1, AllocsPerOp: -1,
			Extra: map[string]float64{"MB/s": 95.5, "hits/op": 3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseGoBench =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseGoBenchErrors(t *testing.T) {
	for _, bad := range []string{
		"BenchmarkX-2 100 12 ns/op 5\n",          // value without unit
		"BenchmarkX-2 100 twelve ns/op\n",        // not a number
		"BenchmarkX-2 100 12 B/op 0 allocs/op\n", // no ns/op
	} {
		if _, err := ParseGoBench(bad); err == nil {
			t.Errorf("ParseGoBench(%q): no error", bad)
		}
	}
	got, err := ParseGoBench("BenchmarkX is skipped\nFAIL\n")
	if err != nil || len(got) != 0 {
		t.Errorf("non-result lines: got %v, %v; want nothing", got, err)
	}
}
