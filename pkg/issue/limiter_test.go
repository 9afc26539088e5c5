package issue

import (
	"context"
	"fmt"
	"net/netip"
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
	rate := Rate{Events: 10, Per: time.Second, Burst: 3} // one event per 100ms, three at once
	key := testenv.RandomName("k")
	allow := func(spend bool) time.Duration {
		t.Helper()
		d, err := l.Allow(ctx, key, rate, spend)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Peeking spends nothing.
	for range 10 {
		if d := allow(false); d != 0 {
			t.Fatalf("peek on a fresh key: wait %v", d)
		}
	}
	for i := range 3 {
		if d := allow(true); d != 0 {
			t.Fatalf("event %d of the burst: wait %v", i+1, d)
		}
	}
	d := allow(true)
	if d <= 0 || d > 100*time.Millisecond {
		t.Fatalf("fourth event: wait %v, want (0, 100ms]", d)
	}
	if p := allow(false); p <= 0 || p > 100*time.Millisecond {
		t.Fatalf("peek on an empty bucket: wait %v, want (0, 100ms]", p)
	}
	wait(d + 5*time.Millisecond)
	if p := allow(false); p != 0 {
		t.Fatalf("peek after the wait: %v", p)
	}
	if d := allow(true); d != 0 {
		t.Fatalf("event after the wait: %v", d)
	}
	if d := allow(true); d <= 0 {
		t.Fatal("second event after one refill allowed")
	}
	// Another key has its own bucket.
	if d, _ := l.Allow(ctx, key+"-other", rate, true); d != 0 {
		t.Fatalf("other key: wait %v", d)
	}
}

func TestMemoryLimiter(t *testing.T) {
	clock := newFakeClock()
	limiterContract(t, NewMemoryLimiter(0, clock.Now), clock.Advance)
}

func TestMemoryLimiterBounded(t *testing.T) {
	clock := newFakeClock()
	l := NewMemoryLimiter(100, clock.Now)
	r := Rate{Events: 1, Per: time.Hour, Burst: 1}
	for i := range 1000 {
		if d, _ := l.Allow(context.Background(), fmt.Sprint(i), r, true); d != 0 {
			t.Fatalf("new key %d throttled", i)
		}
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys held, bound 100", n)
		}
	}
	// Keys whose buckets refilled go first, so the state that matters survives.
	l = NewMemoryLimiter(100, clock.Now)
	ctx := context.Background()
	for i := range 60 {
		l.Allow(ctx, fmt.Sprint("old", i), r, true)
	}
	clock.Advance(time.Hour)
	for i := range 40 {
		l.Allow(ctx, fmt.Sprint("live", i), r, true)
	}
	l.Allow(ctx, "new", r, true)
	if n := l.Len(); n != 41 {
		t.Errorf("%d keys after the sweep, want 41 (40 live + new)", n)
	}
	for i := range 40 {
		if d, _ := l.Allow(ctx, fmt.Sprint("live", i), r, false); d <= 0 {
			t.Fatalf("live%d lost its state", i)
		}
	}
	// Peeks never store anything.
	for i := range 200 {
		l.Allow(ctx, fmt.Sprint("peek", i), r, false)
	}
	if n := l.Len(); n != 41 {
		t.Errorf("%d keys after peeks, want 41", n)
	}
}

func TestRedisLimiter(t *testing.T) {
	r := testenv.SharedRedis(t)
	l := NewRedisLimiter(r.Client).WithPrefix(r.Prefix)
	limiterContract(t, l, nil)
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
		if got := ipKey(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("ipKey(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
	if accountKey("Ann@Example.com") != accountKey("ann@example.com") {
		t.Error("account keys differ by case")
	}
	if k := accountKey("ann@example.com"); len(k) != len("login:acct:")+32 || k == accountKey("bob@example.com") {
		t.Errorf("account key %s", k)
	}
}
