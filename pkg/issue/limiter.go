package issue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter is the login throttle's store of rate-limit state: a GCRA bucket per key.
// Allow checks key against rate; with spend it also counts one event when allowed.
// Without spend it only reports whether one more event would be allowed now. The
// answer is how long to wait: zero means allowed.
//
// NewMemoryLimiter and NewRedisLimiter are the two implementations; an error from a
// Limiter makes the Service fall back to its in-memory limiter for that request.
type Limiter interface {
	Allow(ctx context.Context, key string, rate Rate, spend bool) (retryAfter time.Duration, err error)
}

var (
	_ Limiter = (*MemoryLimiter)(nil)
	_ Limiter = (*RedisLimiter)(nil)
)

// MemoryLimiter is an in-process GCRA limiter with a bounded number of keys. A key
// whose bucket is full again holds no state; when the table is full, such keys are
// swept first and then, if it is still full, arbitrary keys are forgotten (which can
// only let a client through sooner, never lock one out).
type MemoryLimiter struct {
	mu      sync.Mutex
	tat     map[string]time.Time // theoretical arrival time of the next event
	maxKeys int
	now     func() time.Time
}

// NewMemoryLimiter returns a limiter holding at most maxKeys keys (0: 100000), on the
// clock now (nil: time.Now).
func NewMemoryLimiter(maxKeys int, now func() time.Time) *MemoryLimiter {
	if maxKeys <= 0 {
		maxKeys = DefaultRateLimits().MaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{tat: make(map[string]time.Time), maxKeys: maxKeys, now: now}
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string, r Rate, spend bool) (time.Duration, error) {
	emission := r.emission()
	burst := time.Duration(r.burst()) * emission
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(emission)
	if allowAt := next.Add(-burst); now.Before(allowAt) {
		return allowAt.Sub(now), nil
	}
	if spend {
		if !ok && len(l.tat) >= l.maxKeys {
			l.evict(now)
		}
		l.tat[key] = next
	}
	return 0, nil
}

// evict makes room: first every key whose bucket is full again, then, if that freed
// less than a tenth of the table, arbitrary keys (map order) down to 90%.
func (l *MemoryLimiter) evict(now time.Time) {
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
	target := l.maxKeys - l.maxKeys/10 - 1
	for k := range l.tat {
		if len(l.tat) <= target {
			break
		}
		delete(l.tat, k)
	}
}

// Len is the number of keys held.
func (l *MemoryLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

// RedisLimiter keeps the buckets in Redis with go-redis/redis_rate (GCRA in a Lua
// script, on Redis's clock), so that every issuer replica shares them. Keys are
// "rate:" + prefix + key (redis_rate puts its "rate:" first: an ACL must allow it).
type RedisLimiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewRedisLimiter returns a Limiter over rdb (a *redis.Client, ClusterClient or any
// UniversalClient).
func NewRedisLimiter(rdb redis.UniversalClient) *RedisLimiter {
	return &RedisLimiter{l: redis_rate.NewLimiter(rdb)}
}

// WithPrefix returns a copy that puts prefix (e.g. --redis-prefix) before every key.
func (l *RedisLimiter) WithPrefix(prefix string) *RedisLimiter {
	c := *l
	c.prefix = prefix
	return &c
}

// Allow implements Limiter. A peek (spend false) asks redis_rate for zero events and
// reads Remaining, the events allowed right now; ResetAfter, the time until the bucket
// is full, minus burst-1 emission intervals is the time until one event is allowed.
func (l *RedisLimiter) Allow(ctx context.Context, key string, r Rate, spend bool) (time.Duration, error) {
	lim := redis_rate.Limit{Rate: r.Events, Burst: r.burst(), Period: r.Per}
	n := 0
	if spend {
		n = 1
	}
	res, err := l.l.AllowN(ctx, l.prefix+key, lim, n)
	if err != nil {
		return 0, err
	}
	if spend {
		if res.Allowed > 0 {
			return 0, nil
		}
		return max(res.RetryAfter, time.Millisecond), nil
	}
	if res.Remaining >= 1 {
		return 0, nil
	}
	wait := res.ResetAfter - time.Duration(lim.Burst-1)*r.emission()
	return max(wait, time.Millisecond), nil
}

// Limiter keys. An IPv6 client is keyed by its /64 (one host usually owns the whole
// prefix); an account by a hash of its lower-cased email, so that Redis holds no
// addresses of users.
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "login:ip:" + p.String()
	}
	return "login:ip:" + ip.String()
}

func accountKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return "login:acct:" + hex.EncodeToString(sum[:16])
}
