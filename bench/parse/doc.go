// Package parse reads the text formats the load benchmark consumes: the output of
// wrk (with the summary line the harness's Lua script prints), of `go test -bench`,
// Prometheus' text exposition format, and the /proc files that give a process's
// resident memory and CPU time.
//
// Every parser is strict about what it needs and tolerant of what it does not: a
// missing required figure is an error (a benchmark must never report a zero it did
// not measure), unknown lines are ignored.
package parse
