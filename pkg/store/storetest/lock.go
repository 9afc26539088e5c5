package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// testLock holds two instances to store.Locker: of goroutines spread over both
// taking one lock, never two run at once; fn's error comes back and the lock is
// free again after it.
func testLock(t *testing.T, a, b store.Store) {
	migrate(t, a)
	la, okA := a.(store.Locker)
	lb, okB := b.(store.Locker)
	if !okA || !okB {
		t.Fatalf("the backend does not implement store.Locker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var inside, most, runs atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := la
			if i%2 == 1 {
				l = lb
			}
			for range 5 {
				err := l.WithLock(ctx, "storetest", func(context.Context) error {
					n := inside.Add(1)
					if n > most.Load() {
						most.Store(n)
					}
					time.Sleep(2 * time.Millisecond)
					inside.Add(-1)
					runs.Add(1)
					return nil
				})
				if err != nil {
					t.Errorf("WithLock: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 || runs.Load() != 40 {
		t.Fatalf("%d runs, at most %d inside the lock at once; want 40 runs, 1 at a time", runs.Load(), most.Load())
	}

	boom := errors.New("boom")
	if err := la.WithLock(ctx, "storetest", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("WithLock returned %v, want fn's error", err)
	}
	done := make(chan error, 1)
	go func() { done <- lb.WithLock(ctx, "storetest", func(context.Context) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WithLock after a failed fn: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lock stayed held after fn failed")
	}
}
