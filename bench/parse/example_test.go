package parse_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/bench/parse"
)

func ExampleParseWrk() {
	out := `Running 10s test @ http://127.0.0.1:8081/auth
  1 threads and 64 connections
  Latency Distribution
     50%  850.00us
     75%    1.02ms
     90%    1.27ms
     99%    2.10ms
  695512 requests in 10.00s, 80.26MB read
Requests/sec:  69549.87
`
	w, err := parse.ParseWrk(out)
	if err != nil {
		panic(err)
	}
	fmt.Println(w.Requests, w.RPS, w.P50, w.P99, w.Failures())
	// Output: 695512 69549.87 850µs 2.1ms 0
}

func ExampleSamples_Sum() {
	ss, err := parse.ParseMetrics(`vexen_verifier_cache_requests_total{layer="local",result="hit"} 990
vexen_verifier_cache_requests_total{layer="local",result="miss"} 10
`)
	if err != nil {
		panic(err)
	}
	hits := ss.Sum("vexen_verifier_cache_requests_total", map[string]string{"layer": "local", "result": "hit"})
	all := ss.Sum("vexen_verifier_cache_requests_total", map[string]string{"layer": "local"})
	fmt.Printf("local hit ratio %.2f\n", hits/all)
	// Output: local hit ratio 0.99
}
