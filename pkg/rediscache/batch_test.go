package rediscache_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
)

// TestLookupConcurrent: many concurrent lookups, batched into pipelines, each get
// their own token's answer (hit, miss or revoked), and no goroutine outlives them.
func TestLookupConcurrent(t *testing.T) {
	c, _, _ := newCache(t)
	checkConcurrentLookups(t, c)
}

// checkConcurrentLookups fills 300 tokens (a third cached, a third revoked, a third
// unknown) and has 64 goroutines look them up at once, each checking its answers.
func checkConcurrentLookups(t *testing.T, c *rediscache.Cache) {
	t.Helper()
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	const tokens = 300
	for i := 0; i < tokens; i++ {
		h := "c" + strconv.Itoa(i)
		switch i % 3 {
		case 0:
			if err := c.Fill(ctx, h, []byte(`{"sub":"`+h+`"}`), exp); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := c.MarkRevoked(ctx, h, exp); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3*tokens; j++ {
				i := (g*7 + j) % tokens
				h := "c" + strconv.Itoa(i)
				l, err := c.Lookup(ctx, h)
				if err != nil {
					t.Error(err)
					return
				}
				var ok bool
				switch i % 3 {
				case 0:
					ok = string(l.Claims) == `{"sub":"`+h+`"}` && !l.Revoked
				case 1:
					ok = l.Claims == nil && l.Revoked
				default:
					ok = l.Claims == nil && !l.Revoked
				}
				if !ok {
					t.Errorf("Lookup(%s) = {%q, %v}", h, l.Claims, l.Revoked)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "drain goroutines to end", 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}

// TestLookupCancelWhileQueued: a caller whose context ends while its lookup waits
// for a pipeline gets its context's error at once; the lookups in flight and those
// queued behind it still get their answers.
func TestLookupCancelWhileQueued(t *testing.T) {
	c, p := proxiedCache(t)
	ctx := context.Background()
	if err := c.Fill(ctx, "hit", []byte(`{"sub":"u"}`), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	p.SetDelay(300 * time.Millisecond)

	type answer struct {
		l   rediscache.Lookup
		err error
	}
	lookup := func(ctx context.Context) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			l, err := c.Lookup(ctx, "hit")
			ch <- answer{l, err}
		}()
		return ch
	}
	first := lookup(ctx) // in flight: the slow round trip
	time.Sleep(50 * time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	cancelled := lookup(cctx) // queued behind it
	time.Sleep(20 * time.Millisecond)
	queued := lookup(ctx)
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	cancel()
	if a := <-cancelled; !errors.Is(a.err, context.Canceled) {
		t.Errorf("cancelled caller: %+v, want context.Canceled", a)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("cancelled caller returned after %v", d)
	}
	for name, ch := range map[string]<-chan answer{"in flight": first, "queued": queued} {
		if a := <-ch; a.err != nil || string(a.l.Claims) != `{"sub":"u"}` {
			t.Errorf("%s caller: %+v", name, a)
		}
	}
	p.SetDelay(0)
	waitFor(t, "drain goroutines to end", 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}

// TestLookupPipelineErrors: when Redis fails under a pipeline every caller in it
// gets an error (counted once per lookup), and lookups work again after.
func TestLookupPipelineErrors(t *testing.T) {
	c, p := proxiedCache(t)
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	p.SetDelay(200 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Lookup(ctx, "x"+strconv.Itoa(i))
			errs <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	p.Cut()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a lookup succeeded through a cut link")
		}
	}
	p.SetDelay(0)
	p.Restore()
	waitFor(t, "lookups to work again", 5*time.Second, func() bool {
		_, err := c.Lookup(ctx, "x")
		return err == nil
	})
}

// proxiedCache is a Cache on the shared Redis reached through a proxy the test can
// slow down or cut.
func proxiedCache(t *testing.T) (*rediscache.Cache, *testenv.Proxy) {
	t.Helper()
	srv := testenv.SharedRedis(t)
	p := testenv.StartProxy(t, srv.Client.Options().Addr)
	rdb, err := rediscache.Open("redis://" + p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rediscache.New(rdb, rediscache.Options{Prefix: srv.Prefix}), p
}
