package rediscache

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Lookups batching. Under load many requests each want one MGET of their own token's
// two keys; sent one by one, each costs a round trip, a connection taken from the
// pool (with go-redis's liveness probe of the socket, a syscall) and a write and a
// read syscall on each side. The lookupBatcher sends them in pipelines instead:
//
//   - A caller that finds fewer than maxLookupFlights round trips in flight sends its
//     own MGET at once, on its own goroutine and with its own context: at low load a
//     lookup costs what it did before batching, and no timer ever delays it.
//   - Otherwise it queues its lookup and waits. The caller whose round trip ends
//     first hands the queue to a drain goroutine, which keeps the flight slot, sends
//     the queued lookups as one pipeline (at most maxLookupBatch MGETs), hands each
//     caller its own answer, and repeats while lookups are waiting; it ends as soon
//     as the queue is empty. Nothing runs in the background when nothing is asked,
//     so there is nothing to stop on shutdown.
//   - A waiting caller whose context ends gets its context's error at once; its
//     lookup is taken out of the queue, or, if already sent, its answer is dropped.
//     A pipeline runs on a context of its own, bounded by the client's read and
//     write timeouts, so one caller's cancellation never fails the others' lookups.
//   - Each caller gets its own command's error: on a Redis Cluster go-redis splits a
//     pipeline by node, and a failing node fails only the lookups routed to it.
//
// The keys of one token share a hash tag (access_token:{h}, revoked:{h}), so each
// MGET stays on one slot and a pipeline of them is valid on a cluster.
const (
	// maxLookupFlights bounds the lookup round trips in flight at once. One: while
	// a round trip is out, every new lookup waits for the next pipeline, which makes
	// the batches as deep as the load allows (a pipeline of 64 costs Redis and the
	// verifier little more than one MGET).
	maxLookupFlights = 1
	// maxLookupBatch bounds the MGETs in one pipeline (about 40 KiB of replies for
	// an issuer's claims), so that one round trip's buffers stay small.
	maxLookupBatch = 128
)

// lookupCall is one waiting Lookup. done is buffered: the drain goroutine never
// blocks on a caller that left.
type lookupCall struct {
	h    string
	l    Lookup
	err  error
	done chan struct{}
}

var lookupCalls = sync.Pool{New: func() any { return &lookupCall{done: make(chan struct{}, 1)} }}

// lookupBatcher queues concurrent lookups (see above). The zero value is ready.
type lookupBatcher struct {
	mu      sync.Mutex
	queue   []*lookupCall
	flights int // round trips in flight, at most maxLookupFlights
}

// Lookup reads access_token:{h} and revoked:{h} (one MGET; concurrent lookups share
// pipelined round trips). A missing key is a miss, not an error. Revoked wins over
// Claims: a caller that sees Revoked must deny whatever Claims holds.
func (c *Cache) Lookup(ctx context.Context, h string) (Lookup, error) {
	if err := ctx.Err(); err != nil {
		return Lookup{}, c.fail(opLookup, context.Cause(ctx))
	}
	b := &c.lookups
	b.mu.Lock()
	if b.flights < maxLookupFlights {
		b.flights++
		b.mu.Unlock()
		l, err := c.lookup(ctx, h)
		b.release(c)
		return l, err
	}
	call := lookupCalls.Get().(*lookupCall)
	call.h = h
	b.queue = append(b.queue, call)
	b.mu.Unlock()
	select {
	case <-call.done:
		l, err := call.l, call.err
		*call = lookupCall{done: call.done}
		lookupCalls.Put(call)
		return l, err
	case <-ctx.Done():
		b.mu.Lock()
		i := slices.Index(b.queue, call)
		if i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
		}
		b.mu.Unlock()
		if i >= 0 {
			// Never sent: nobody else holds it.
			*call = lookupCall{done: call.done}
			lookupCalls.Put(call)
		}
		// Else its pipeline is out and will write to call: it is left to the GC.
		return Lookup{}, c.fail(opLookup, context.Cause(ctx))
	}
}

// release gives a flight slot back, or, when lookups are waiting, keeps it for a
// drain goroutine that sends them.
func (b *lookupBatcher) release(c *Cache) {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.flights--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go b.drain(c)
}

// drain sends the queued lookups, maxLookupBatch at a time, until none is left, then
// gives its flight slot back.
func (b *lookupBatcher) drain(c *Cache) {
	batch := make([]*lookupCall, 0, maxLookupBatch)
	cmds := make([]*redis.SliceCmd, 0, maxLookupBatch)
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.flights--
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), maxLookupBatch)
		batch = append(batch[:0], b.queue[:n]...)
		m := copy(b.queue, b.queue[n:])
		clear(b.queue[m:])
		b.queue = b.queue[:m]
		b.mu.Unlock()

		cmds = c.lookupPipeline(batch, cmds[:0])
		for _, call := range batch {
			call.done <- struct{}{}
		}
		clear(batch)
		clear(cmds)
	}
}

// lookupPipeline sends one MGET per call in a pipeline and sets each call's answer.
// The pipeline's context is its own (no caller's cancellation ends it); the client's
// read and write timeouts bound it.
func (c *Cache) lookupPipeline(calls []*lookupCall, cmds []*redis.SliceCmd) []*redis.SliceCmd {
	ctx := context.Background()
	if len(calls) == 1 {
		calls[0].l, calls[0].err = c.lookup(ctx, calls[0].h)
		return cmds
	}
	pipe := c.rdb.Pipeline()
	for _, call := range calls {
		cmds = append(cmds, pipe.MGet(ctx, c.AccessKey(call.h), c.RevokedKey(call.h)))
	}
	// Exec's error is the first command's that failed: each call reads its own.
	_, _ = pipe.Exec(ctx)
	for i, call := range calls {
		call.l, call.err = c.lookupReply(cmds[i].Result())
	}
	return cmds
}

// lookup is one MGET of h's keys.
func (c *Cache) lookup(ctx context.Context, h string) (Lookup, error) {
	return c.lookupReply(c.rdb.MGet(ctx, c.AccessKey(h), c.RevokedKey(h)).Result())
}

// lookupReply reads an MGET's answer: [claims or nil, revoked marker or nil].
func (c *Cache) lookupReply(vals []any, err error) (Lookup, error) {
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return Lookup{}, nil
		}
		return Lookup{}, c.fail(opLookup, err)
	}
	var l Lookup
	if len(vals) == 2 {
		if s, ok := vals[0].(string); ok {
			l.Claims = []byte(s)
		}
		l.Revoked = vals[1] != nil
	}
	return l, nil
}
