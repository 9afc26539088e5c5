package rediscache

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lookup is what Redis knows about an access token.
type Lookup struct {
	Claims  []byte // the access_token:{h} value; nil on a miss. Read-only: it may share memory with the reply
	Revoked bool   // revoked:{h} exists
}

// fillScript sets access_token:{h} (KEYS[1]) to ARGV[1] for ARGV[2] milliseconds
// unless revoked:{h} (KEYS[2]) exists. It answers 1 when it wrote, 0 when refused.
var fillScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
	return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Fill caches a verified token's claims in access_token:{h} until exp. It never writes
// while revoked:{h} exists (the check and the write are one Lua script, so a refill
// that races a revocation cannot resurrect the token). exp in the past (under a
// millisecond away) is a no-op, and so is a refusal.
func (c *Cache) Fill(ctx context.Context, h string, claims []byte, exp time.Time) error {
	if len(claims) == 0 {
		return c.fail(opFill, ErrEmptyClaims)
	}
	ttl := c.ttlUntil(exp)
	if ttl <= 0 {
		return nil
	}
	err := fillScript.Run(ctx, c.rdb, []string{c.AccessKey(h), c.RevokedKey(h)}, claims, ttl.Milliseconds()).Err()
	if err != nil {
		return c.fail(opFill, err)
	}
	return nil
}

// MarkRevoked records that the token hashed h is revoked: SET revoked:{h} "1" until exp
// (skipped when exp has passed) and DEL access_token:{h}, in one transaction.
func (c *Cache) MarkRevoked(ctx context.Context, h string, exp time.Time) error {
	var t tx
	c.queueRevoked(ctx, &t, h, exp)
	err := c.exec(ctx, &t, nil)
	if err != nil {
		return c.fail(opMarkRevoked, err)
	}
	return nil
}
