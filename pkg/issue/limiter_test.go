package issue

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// limiterContract is what both limiters must do, on a clock the test can move
// (advance is nil for Redis, whose script reads Redis's clock; the test then sleeps).
func limiterContract(t *testing.T, l Limiter, advance func(time.Duration)) {
	ctx := context.Background()
	wait := func(d time.Duration) {
		if advance != nil {
			advance(d)
		} else {
			time.Sleep(d)
		}
	}
	// One event per 500ms, three at once. The refill interval is the slack Redis's
	// real clock has between two steps of the test that must see the same bucket:
	// on a loaded machine two round trips can be 100ms apart.
	rate := Rate{Events: 2, Per: time.Second, Burst: 3}
	key := testenv.RandomName("k")
	reserve := func() time.Duration {
		t.Helper()
		d, err := l.Reserve(ctx, key, rate)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	release := func() {
		t.Helper()
		if err := l.Release(ctx, key, rate); err != nil {
			t.Fatal(err)
		}
	}
	// Releasing what was never reserved gives nothing: the bucket stays at its burst.
	for range 5 {
		release()
	}
	for i := range 3 {
		if d := reserve(); d != 0 {
			t.Fatalf("event %d of the burst: wait %v", i+1, d)
		}
	}
	d := reserve()
	if d <= 0 || d > 500*time.Millisecond {
		t.Fatalf("fourth event: wait %v, want (0, 500ms]", d)
	}
	// A refused reservation took nothing; a released one can be taken again, once.
	release()
	if d := reserve(); d != 0 {
		t.Fatalf("event after a release: wait %v", d)
	}
	if d := reserve(); d <= 0 {
		t.Fatal("second event after one release allowed")
	}
	wait(d + 5*time.Millisecond)
	if d := reserve(); d != 0 {
		t.Fatalf("event after the wait: %v", d)
	}
	if d := reserve(); d <= 0 {
		t.Fatal("second event after one refill allowed")
	}
	// Another key has its own bucket.
	if d, _ := l.Reserve(ctx, key+"-other", rate); d != 0 {
		t.Fatalf("other key: wait %v", d)
	}
	// Concurrent reservations never take more than the burst.
	t.Run("concurrent", func(t *testing.T) {
		key := testenv.RandomName("c")
		rate := Rate{Events: 10, Per: time.Hour, Burst: 10}
		var granted atomic.Int64
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				d, err := l.Reserve(ctx, key, rate)
				if err != nil {
					t.Error(err)
				}
				if d == 0 {
					granted.Add(1)
				}
			})
		}
		wg.Wait()
		if n := granted.Load(); n != 10 {
			t.Errorf("%d of 30 concurrent reservations granted, want the burst, 10", n)
		}
	})
}

func TestMemoryLimiter(t *testing.T) {
	clock := newFakeClock()
	limiterContract(t, NewMemoryLimiter(0, clock.Now), clock.Advance)
}

func TestMemoryLimiterBounded(t *testing.T) {
	clock := newFakeClock()
	l := NewMemoryLimiter(100, clock.Now)
	ctx := context.Background()
	r := Rate{Events: 1, Per: time.Hour, Burst: 1}
	for i := range 1000 {
		if d, _ := l.Reserve(ctx, fmt.Sprint(i), r); d != 0 {
			t.Fatalf("new key %d throttled", i)
		}
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys held, bound 100", n)
		}
	}
	// Keys whose buckets refilled go first, so the state that matters survives.
	l = NewMemoryLimiter(100, clock.Now)
	for i := range 60 {
		l.Reserve(ctx, fmt.Sprint("old", i), r)
	}
	clock.Advance(time.Hour)
	for i := range 40 {
		l.Reserve(ctx, fmt.Sprint("live", i), r)
	}
	l.Reserve(ctx, "new", r)
	if n := l.Len(); n != 41 {
		t.Errorf("%d keys after the sweep, want 41 (40 live + new)", n)
	}
	// A released reservation that fills the bucket holds no state; releases of
	// unknown keys store nothing.
	l.Release(ctx, "new", r)
	for i := range 200 {
		l.Release(ctx, fmt.Sprint("unknown", i), r)
	}
	if n := l.Len(); n != 40 {
		t.Errorf("%d keys after releases, want 40", n)
	}
	for i := range 40 {
		if d, _ := l.Reserve(ctx, fmt.Sprint("live", i), r); d <= 0 {
			t.Fatalf("live%d lost its state", i)
		}
	}
}

func TestRedisLimiter(t *testing.T) {
	r := testenv.SharedRedis(t)
	l := NewRedisLimiter(r.Client).WithPrefix(r.Prefix)
	limiterContract(t, l, nil)
	ctx := context.Background()
	// A release that fills the bucket deletes the key (redis_rate's AllowN with a
	// negative cost would leave it one event short); one that does not, keeps it with
	// a TTL.
	key, rate := testenv.RandomName("full"), Rate{Events: 10, Per: time.Hour, Burst: 10}
	for range 2 {
		if d, err := l.Reserve(ctx, key, rate); d != 0 || err != nil {
			t.Fatalf("reserve: %v %v", d, err)
		}
	}
	if err := l.Release(ctx, key, rate); err != nil {
		t.Fatal(err)
	}
	if ttl := r.Client.TTL(ctx, "rate:"+r.Prefix+key).Val(); ttl <= 0 || ttl > 6*time.Minute+time.Second {
		t.Errorf("after one of two releases: TTL %v, want about 6m", ttl)
	}
	if err := l.Release(ctx, key, rate); err != nil {
		t.Fatal(err)
	}
	if n := r.Client.Exists(ctx, "rate:"+r.Prefix+key).Val(); n != 0 {
		t.Error("the key of a full bucket is still there")
	}
	for range 10 {
		if d, _ := l.Reserve(ctx, key, rate); d != 0 {
			t.Fatal("the bucket is not full after every reservation was released")
		}
	}
	if d, _ := l.Reserve(ctx, key, rate); d <= 0 {
		t.Fatal("eleventh reservation granted")
	}
	// The keys carry the prefix after redis_rate's own "rate:" and expire.
	keys, err := r.Client.Keys(context.Background(), "rate:"+r.Prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no rate:%s* keys: %v", r.Prefix, err)
	}
	for _, k := range keys {
		if ttl := r.Client.TTL(context.Background(), k).Val(); ttl <= 0 {
			t.Errorf("%s has TTL %v", k, ttl)
		}
		r.Client.Del(context.Background(), k)
	}
}

func TestLimiterKeys(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.1", "login:ip:192.0.2.1"},
		{"::ffff:192.0.2.1", "login:ip:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "login:ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "login:ip:2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		if got := ipKey("login", netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("ipKey(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
	if ipKey("refresh", netip.MustParseAddr("192.0.2.1")) == ipKey("login", netip.MustParseAddr("192.0.2.1")) {
		t.Error("refresh and login share an address bucket")
	}
	if accountKey("Ann@Example.com") != accountKey("ann@example.com") {
		t.Error("account keys differ by case")
	}
	if k := accountKey("ann@example.com"); len(k) != len("login:acct:")+32 || k == accountKey("bob@example.com") {
		t.Errorf("account key %s", k)
	}
}

// BenchmarkLimiter: one Reserve and one Release (a successful login's account
// bucket), in memory and on the shared Redis (one round trip each).
func BenchmarkLimiter(b *testing.B) {
	rate := Rate{Events: 1 << 30, Per: time.Second}
	run := func(b *testing.B, l Limiter) {
		ctx := context.Background()
		key := testenv.RandomName("bench")
		b.ReportAllocs()
		for b.Loop() {
			if d, err := l.Reserve(ctx, key, rate); d != 0 || err != nil {
				b.Fatal(d, err)
			}
			if err := l.Release(ctx, key, rate); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Memory", func(b *testing.B) { run(b, NewMemoryLimiter(0, nil)) })
	b.Run("Redis", func(b *testing.B) {
		r := testenv.SharedRedis(b)
		run(b, NewRedisLimiter(r.Client).WithPrefix(r.Prefix))
	})
}
