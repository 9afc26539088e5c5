package load_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vexen/vexen-auth/bench/load"
)

// A p99 at a fixed request rate, measured from when each request was due.
func ExampleOpenLoop() {
	srv := httptest.NewServer(load.Baseline())
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	res, err := load.OpenLoop(context.Background(), load.OpenLoopOptions{
		Addr:     addr,
		Requests: load.BearerRequests(addr, "/auth", []string{"token-1", "token-2"}),
		Rate:     500, // requests/s
		Duration: 200 * time.Millisecond,
		Conns:    4,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Requests, "requests,", res.Failures, "failures")
	// Output: 100 requests, 0 failures
}
