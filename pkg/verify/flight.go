package verify

import (
	"context"
	"sync"
)

// flights runs one piece of work per token hash at a time: concurrent callers
// with the same key share the first caller's result (single flight). The first
// caller runs the work on its own goroutine (no new goroutine, no fresh stack),
// with a context detached from its own cancellation and bounded by
// flightTimeout, so that one impatient client cannot fail the others; the
// others wait for the result or for their own context.
type flights[T any] struct {
	mu sync.Mutex
	m  map[[32]byte]*flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	val  T
	ok   bool // false if the work panicked
}

// do returns fn's result and true, or false when ctx ended first (or the work
// panicked: the panic goes on in the caller that ran it).
func (g *flights[T]) do(ctx context.Context, key [32]byte, fn func(context.Context) T) (T, bool) {
	g.mu.Lock()
	if c, ok := g.m[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.val, c.ok
		case <-ctx.Done():
			var zero T
			return zero, false
		}
	}
	c := &flightCall[T]{done: make(chan struct{})}
	if g.m == nil {
		g.m = make(map[[32]byte]*flightCall[T])
	}
	g.m[key] = c
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(c.done)
	}()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flightTimeout)
	defer cancel()
	c.val = fn(fctx)
	c.ok = true
	return c.val, true
}
