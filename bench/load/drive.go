package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Counts are the answers Drive received, by class.
type Counts struct {
	OK     int64 // 2xx
	Failed int64 // any other status, or a connection error
	// FirstFailure describes the first failure seen ("" when none), for the report.
	FirstFailure string
}

// Drive sends the requests next returns, over conns connections (default 8), as
// fast as the server answers, until next returns nil or ctx ends. next is called
// from several goroutines at once and must be safe for that. A connection that
// fails is redialed.
func Drive(ctx context.Context, addr string, conns int, timeout time.Duration, next func() []byte) (Counts, error) {
	if conns <= 0 {
		conns = 8
	}
	var ok, failed atomic.Int64
	var firstMu sync.Mutex
	first := ""
	fail := func(s string) {
		failed.Add(1)
		firstMu.Lock()
		if first == "" {
			first = s
		}
		firstMu.Unlock()
	}
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *Conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			dialFailures := 0
			for ctx.Err() == nil {
				if c == nil {
					nc, err := Dial(addr, timeout)
					if err != nil {
						if dialFailures++; dialFailures > 3 {
							errs[i] = fmt.Errorf("load: dial %s: %w", addr, err)
							return
						}
						time.Sleep(100 * time.Millisecond)
						continue
					}
					c, dialFailures = nc, 0
				}
				req := next()
				if req == nil {
					return
				}
				st, err := c.Do(req)
				if err != nil && !errors.Is(err, ErrClosed) {
					fail(err.Error())
					c.Close()
					c = nil
					continue
				}
				if errors.Is(err, ErrClosed) {
					c.Close()
					c = nil
				}
				if st >= 200 && st < 300 {
					ok.Add(1)
				} else {
					fail(fmt.Sprintf("status %d", st))
				}
			}
		}()
	}
	wg.Wait()
	res := Counts{OK: ok.Load(), Failed: failed.Load(), FirstFailure: first}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	return res, ctx.Err()
}
