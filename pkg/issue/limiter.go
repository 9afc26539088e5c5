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

// Limiter is the throttle's store of rate-limit state: a GCRA bucket per key.
//
// Reserve takes one event from key's bucket when the bucket has one now, and answers
// zero; otherwise it takes nothing and answers how long to wait. A caller reserves
// before the work it limits (a password hash, a second-factor check, a refresh), so
// that N concurrent attempts can never do more work than the bucket holds; Release
// gives a reserved event back when the attempt should not count after all (a login
// that succeeded). Releasing more than was reserved cannot fill a bucket above full.
//
// NewMemoryLimiter and NewRedisLimiter are the two implementations; an error from a
// Limiter makes the Service fall back to its in-memory limiter for that request.
type Limiter interface {
	Reserve(ctx context.Context, key string, rate Rate) (retryAfter time.Duration, err error)
	Release(ctx context.Context, key string, rate Rate) error
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

// Reserve implements Limiter.
func (l *MemoryLimiter) Reserve(_ context.Context, key string, r Rate) (time.Duration, error) {
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
	if !ok && len(l.tat) >= l.maxKeys {
		l.evict(now)
	}
	l.tat[key] = next
	return 0, nil
}

// Release implements Limiter.
func (l *MemoryLimiter) Release(_ context.Context, key string, r Rate) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[key]
	if !ok {
		return nil
	}
	if tat = tat.Add(-r.emission()); tat.After(l.now()) {
		l.tat[key] = tat
	} else {
		delete(l.tat, key) // full again
	}
	return nil
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
	rdb    redis.Scripter
	prefix string
}

// NewRedisLimiter returns a Limiter over rdb (a *redis.Client, ClusterClient or any
// UniversalClient).
func NewRedisLimiter(rdb redis.UniversalClient) *RedisLimiter {
	return &RedisLimiter{l: redis_rate.NewLimiter(rdb), rdb: rdb}
}

// WithPrefix returns a copy that puts prefix (e.g. --redis-prefix) before every key.
func (l *RedisLimiter) WithPrefix(prefix string) *RedisLimiter {
	c := *l
	c.prefix = prefix
	return &c
}

// Reserve implements Limiter with redis_rate's GCRA script.
func (l *RedisLimiter) Reserve(ctx context.Context, key string, r Rate) (time.Duration, error) {
	res, err := l.l.AllowN(ctx, l.prefix+key, redis_rate.Limit{Rate: r.Events, Burst: r.burst(), Period: r.Per}, 1)
	if err != nil {
		return 0, err
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return max(res.RetryAfter, time.Millisecond), nil
}

// Release implements Limiter. redis_rate has no give-back (AllowN with a negative
// cost leaves the bucket one event short when the refund would fill it), so a small
// script of our own moves the key's theoretical arrival time back by one emission
// interval, in redis_rate's format (seconds since 2017-01-01 on Redis's clock), and
// deletes the key when that makes the bucket full.
func (l *RedisLimiter) Release(ctx context.Context, key string, r Rate) error {
	return releaseScript.Run(ctx, l.rdb, []string{redisRatePrefix + l.prefix + key}, r.Per.Seconds(), r.Events).Err()
}

// redisRatePrefix is what redis_rate puts before every key.
const redisRatePrefix = "rate:"

var releaseScript = redis.NewScript(`
redis.replicate_commands()
local tat = tonumber(redis.call("GET", KEYS[1]))
if not tat then
  return 0
end
local now = redis.call("TIME")
now = (now[1] - 1483228800) + (now[2] / 1000000)
local new_tat = tat - tonumber(ARGV[1]) / tonumber(ARGV[2])
if new_tat <= now then
  redis.call("DEL", KEYS[1])
else
  redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(new_tat - now))
end
return 1
`)

// Limiter keys. scope names what is limited ("login", "refresh"). An IPv6 client is
// keyed by its /64 (one host usually owns the whole prefix); an account by a hash of
// its lower-cased email (the stores' own case folding), so that Redis holds no
// addresses of users, and a key exists for every email tried, whether or not it has
// an account.
func ipKey(scope string, ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return scope + ":ip:" + p.String()
	}
	return scope + ":ip:" + ip.String()
}

func accountKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return "login:acct:" + hex.EncodeToString(sum[:16])
}
