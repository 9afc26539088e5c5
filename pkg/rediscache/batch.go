package rediscache

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"unsafe"

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
// The per-call costs of the client were checked (go-redis v9.22, RESP2 as Open sets
// it): no hooks on a standalone or Sentinel client (the cluster's reloadOnNodeFailure
// hook is one call per command), no push-notification or maintenance-notification
// processing (RESP3 only), and the idle-time check is a comparison. What is left per
// command is the pool's liveness probe of the connection it hands out (a deadline
// reset and a non-blocking MSG_PEEK recvfrom, about 1 % of a Redis-bound verifier's
// CPU in the load benchmark's profile). No option turns it off, and it is worth
// keeping: it is what finds connections that Redis closed while they sat idle (a
// restart, a failover, a server timeout) before a lookup is lost on one. Batching
// pays it once per pipeline instead of once per lookup.
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

// lookupCall is one Lookup: its keys, the MGET's arguments, and its answer. Calls are
// pooled, so that a lookup allocates only what go-redis does for the command and its
// reply: both keys are cut from one string, and the arguments point at them (a
// *string goes into an interface without a copy; go-redis writes it as the string).
// done is buffered: the drain goroutine never blocks on a caller that left.
type lookupCall struct {
	keys [2]string // access_token:{h}, revoked:{h}
	args [3]any    // "mget", &keys[0], &keys[1]
	l    Lookup
	err  error
	done chan struct{}
}

// reset prepares a pooled call for h.
func (call *lookupCall) reset(c *Cache, h string) {
	a, r := "access_token:{", "revoked:{"
	both := c.prefix + a + h + "}" + c.prefix + r + h + "}"
	n := len(c.prefix) + len(a) + len(h) + 1
	call.keys = [2]string{both[:n], both[n:]}
	call.args = [3]any{"mget", &call.keys[0], &call.keys[1]}
	call.l, call.err = Lookup{}, nil
}

// cmd is the call's MGET.
func (call *lookupCall) cmd(ctx context.Context) *redis.SliceCmd {
	return redis.NewSliceCmd(ctx, call.args[:]...)
}

// free returns a call no pipeline holds any more to the pool.
func (call *lookupCall) free() {
	call.keys, call.args = [2]string{}, [3]any{}
	call.l, call.err = Lookup{}, nil
	lookupCalls.Put(call)
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
	call := lookupCalls.Get().(*lookupCall)
	call.reset(c, h)
	b := &c.lookups
	b.mu.Lock()
	if b.flights < maxLookupFlights {
		b.flights++
		b.mu.Unlock()
		c.lookup(ctx, call)
		b.release(c)
		l, err := call.l, call.err
		call.free()
		return l, err
	}
	b.queue = append(b.queue, call)
	b.mu.Unlock()
	select {
	case <-call.done:
		l, err := call.l, call.err
		call.free()
		return l, err
	case <-ctx.Done():
		b.mu.Lock()
		i := slices.Index(b.queue, call)
		if i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
		}
		b.mu.Unlock()
		if i >= 0 {
			call.free() // never sent: nobody else holds it
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
	yielded := false
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			if !yielded {
				// The callers just answered are runnable, and under load most of
				// them come back with their next request's lookup within
				// microseconds: let them queue (one pass of the scheduler, no
				// timer; when nothing else is runnable it returns at once)
				// rather than leave the next lookup to go out alone.
				b.mu.Unlock()
				runtime.Gosched()
				yielded = true
				continue
			}
			b.flights--
			b.mu.Unlock()
			return
		}
		yielded = false
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
		c.lookup(ctx, calls[0])
		return cmds
	}
	pipe := c.rdb.Pipeline()
	for _, call := range calls {
		cmd := call.cmd(ctx)
		_ = pipe.Process(ctx, cmd) // queues it: a pipeline's Process never fails
		cmds = append(cmds, cmd)
	}
	// Exec's error is the first command's that failed: each call reads its own.
	_, _ = pipe.Exec(ctx)
	for i, call := range calls {
		call.l, call.err = c.lookupReply(cmds[i].Result())
	}
	return cmds
}

// lookup sends call's MGET on its own.
func (c *Cache) lookup(ctx context.Context, call *lookupCall) {
	cmd := call.cmd(ctx)
	_ = c.rdb.Process(ctx, cmd)
	call.l, call.err = c.lookupReply(cmd.Result())
}

// lookupReply reads an MGET's answer: [claims or nil, revoked marker or nil].
// Claims alias the reply's string (no copy): Lookup's callers only read them.
func (c *Cache) lookupReply(vals []any, err error) (Lookup, error) {
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return Lookup{}, nil
		}
		return Lookup{}, c.fail(opLookup, err)
	}
	var l Lookup
	if len(vals) == 2 {
		if s, ok := vals[0].(string); ok && s != "" {
			l.Claims = unsafe.Slice(unsafe.StringData(s), len(s))
		} else if ok {
			l.Claims = []byte{}
		}
		l.Revoked = vals[1] != nil
	}
	return l, nil
}
