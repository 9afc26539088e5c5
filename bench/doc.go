// Command vexenbench is the load benchmark of vexen-auth: it starts the issuer and
// verifiers against the real PostgreSQL and Redis, signs users in, drives load with
// wrk (and its own Go generators where wrk cannot), compares every scenario with a
// bare baseline server under the same conditions, and writes docs/benchmarks.md
// and its chart. `make bench` runs it through scripts/bench.sh.
//
//	go run ./bench run [flags]         the benchmark (see -help)
//	go run ./bench run -quick          a smaller, faster run to try the harness
//
// The other subcommands are the harness's own helper processes, started pinned to
// a CPU with taskset: serve-http (the bare net/http baseline), serve-grpc (the bare
// ext_authz baseline), openloop and grpc-load (load generators).
//
//	go run ./bench redis-capacity [flags]   what each operation costs Redis
//
// redis-capacity (scripts/redis-capacity.sh) is a measurement of its own, for the
// capacity model of docs/scaling.md: on a throwaway redis-server it drives the
// issuer's and the verifier's Redis calls (pkg/rediscache) and reports Redis CPU
// time, commands and memory per operation, per revocation event and subscribed verifier,
// and per idle verifier and second.
//
// How each figure is made, and why, is written next to the code that makes it and
// summarized in the report's Setup section; docs/benchmarks.md is this program's
// output.
package main
