// Package load holds the Go load generators of the benchmark harness and the bare
// HTTP server it compares the verifier with.
//
// wrk drives the closed-loop throughput runs. What wrk cannot do is done here:
//
//   - OpenLoop sends requests on a fixed schedule, whatever the server's answers, and
//     measures each latency from the moment the request was due (not from when it
//     happened to be sent), as wrk2 does. That is the only honest way to state a
//     p99 "at 70 % of peak": a closed-loop generator slows down with the server and
//     hides its stalls (coordinated omission). wrk2 is not packaged in Debian.
//   - Drive pushes a stream of distinct requests through a few connections as fast
//     as the server takes them (filling the verifier's cache with a million
//     sessions), counting answers by status.
//   - Conn.PollStatus asks the same question in a tight loop until the answer
//     changes (revocation propagation).
//
// Conn is a minimal HTTP/1.1 client: requests are rendered once (Request), written
// as they are, and answers are read with a small parser that allocates nothing per
// response, so that the generator costs the machine as little as possible.
//
// Baseline is the reference server: a bare net/http handler that reads the
// Authorization header and answers 200 with one header.
package load
