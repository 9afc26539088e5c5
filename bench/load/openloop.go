package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vexen/vexen-auth/bench/stats"
)

// OpenLoopOptions configure OpenLoop.
type OpenLoopOptions struct {
	Addr     string        // host:port
	Requests [][]byte      // rendered requests, sent in turn (see Request)
	Rate     float64       // requests per second over all connections; required
	Duration time.Duration // how long requests are scheduled; required
	Conns    int           // connections, each with at most one request in flight; default 64
	Timeout  time.Duration // connect and per-answer timeout; default 5s
}

// OpenLoopResult is what an open-loop run measured.
type OpenLoopResult struct {
	stats.Run
	Rate float64 // the scheduled rate
	// Late is the 99th percentile of how late the pacer released a request it had
	// waited for (its own wake-up delay). It is part of the latencies measured; a
	// large value means the generator, not the server, was slow.
	Late time.Duration
}

// OpenLoop sends requests at a fixed rate for Duration and measures each one's
// latency from the moment it was due. Request k is due at start + k/Rate and goes
// to connection k mod Conns; a pacer releases each at its time (to the
// microsecond: see pacer). When a connection's previous answer arrives after its
// next request was due, that request goes at once and its latency includes the
// wait, so a server stall shows in the percentiles as it would to clients arriving
// independently (no coordinated omission). An answer other than 2xx or 3xx, or a
// connection error, counts as a failure; a failed connection is redialed.
func OpenLoop(ctx context.Context, o OpenLoopOptions) (OpenLoopResult, error) {
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if !(o.Rate > 0) || o.Duration <= 0 || len(o.Requests) == 0 {
		return OpenLoopResult{}, errors.New("load: OpenLoop needs a rate, a duration and requests")
	}
	pc, err := newPacer()
	if err != nil {
		return OpenLoopResult{}, err
	}
	defer pc.Close()
	conns := make([]*Conn, o.Conns)
	for i := range conns {
		c, err := Dial(o.Addr, o.Timeout)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return OpenLoopResult{}, fmt.Errorf("load: dial %s: %w", o.Addr, err)
		}
		conns[i] = c
	}
	total := int(math.Ceil(o.Rate * o.Duration.Seconds()))
	perConn := total/o.Conns + 1
	interval := float64(time.Second) / o.Rate
	start := time.Now().Add(50 * time.Millisecond) // let every goroutine reach its first wait
	due := func(k int) time.Time { return start.Add(time.Duration(float64(k) * interval)) }

	type result struct {
		lat      []time.Duration
		failures int64
	}
	results := make([]result, o.Conns)
	queues := make([]chan int, o.Conns)
	var wg sync.WaitGroup
	for ci := range o.Conns {
		queues[ci] = make(chan int, perConn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[ci]
			r.lat = make([]time.Duration, 0, perConn)
			c := conns[ci]
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for k := range queues[ci] {
				d := due(k)
				if c == nil {
					nc, err := Dial(o.Addr, o.Timeout)
					if err != nil {
						r.failures++
						r.lat = append(r.lat, time.Since(d))
						continue
					}
					c = nc
				}
				st, err := c.Do(o.Requests[k%len(o.Requests)])
				r.lat = append(r.lat, time.Since(d))
				if err != nil && !errors.Is(err, ErrClosed) {
					r.failures++
					c.Close()
					c = nil
					continue
				}
				if errors.Is(err, ErrClosed) {
					c.Close()
					c = nil
				}
				if st < 200 || st > 399 {
					r.failures++
				}
			}
		}()
	}
	// The pacer: release each request at its time. Requests due within 20µs of
	// each other go together (a timer cannot be armed more finely than that is
	// worth).
	late := make([]time.Duration, 0, total)
	var perr error
	for k := 0; k < total && ctx.Err() == nil; k++ {
		d := due(k)
		if wait := time.Until(d); wait > 20*time.Microsecond {
			if perr = pc.sleep(wait); perr != nil {
				break
			}
			late = append(late, time.Since(d))
		}
		queues[k%o.Conns] <- k
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if perr != nil {
		return OpenLoopResult{}, perr
	}
	elapsed := max(time.Since(start), o.Duration) // the schedule spans Duration
	var lat []time.Duration
	res := OpenLoopResult{Rate: o.Rate}
	for _, r := range results {
		lat = append(lat, r.lat...)
		res.Failures += r.failures
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if len(lat) == 0 {
		return res, stats.ErrEmpty
	}
	res.Requests = int64(len(lat))
	res.Elapsed = elapsed
	res.Latency, _ = stats.Summarize(lat)
	if len(late) > 0 {
		ll, _ := stats.Summarize(late)
		res.Late = ll.P99
	}
	return res, nil
}
