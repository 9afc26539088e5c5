package grpcbench_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/vexen/vexen-auth/bench/grpcbench"
)

func ExampleLoad() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpcbench.NewBaselineServer()
	go srv.Serve(ln)
	defer srv.Stop()

	run, err := grpcbench.Load(context.Background(), grpcbench.LoadOptions{
		Target:   ln.Addr().String(),
		Tokens:   []string{"token-1", "token-2"},
		Duration: 100 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(run.Requests > 0, run.Failures)
	// Output: true 0
}
