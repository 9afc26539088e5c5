package rediscache

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// hashTag is the part of key Redis Cluster hashes to pick its slot: the text between
// the first '{' and the first '}' after it when that is not empty, else the whole key.
// Keys with the same tag are in the same slot.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// tx is a transaction under construction: commands queued per key. On one server
// (or Sentinel) exec runs them all in one MULTI/EXEC, in the order queued; on a
// cluster it runs one MULTI/EXEC per hash tag (so per slot), the groups in the order
// their first command was queued. Keyless commands (PUBLISH) must not be queued here.
type tx struct {
	groups map[string]int // hash tag → index in steps
	steps  [][]func(redis.Pipeliner)
}

func (t *tx) add(key string, f func(redis.Pipeliner)) {
	if t.groups == nil {
		t.groups = map[string]int{}
	}
	tag := hashTag(key)
	i, ok := t.groups[tag]
	if !ok {
		i = len(t.steps)
		t.groups[tag] = i
		t.steps = append(t.steps, nil)
	}
	t.steps[i] = append(t.steps[i], f)
}

// exec runs the transaction; after it, on one server, the publish callback runs in
// the same MULTI/EXEC (last), and on a cluster after every slot's transaction, as its
// own command. It returns the first error; on a cluster every slot is tried.
func (c *Cache) exec(ctx context.Context, t *tx, publish func(redis.Pipeliner)) error {
	if !c.cluster {
		_, err := c.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, g := range t.steps {
				for _, f := range g {
					f(pipe)
				}
			}
			if publish != nil {
				publish(pipe)
			}
			return nil
		})
		return err
	}
	var errs []error
	for _, g := range t.steps {
		run := func(pipe redis.Pipeliner) error {
			for _, f := range g {
				f(pipe)
			}
			return nil
		}
		_, err := c.rdb.TxPipelined(ctx, run)
		if err != nil && !isRedisError(err) && ctx.Err() == nil {
			// A node that cannot be reached: go-redis retries a transaction on the
			// same node only. Re-read the slot map and try once more, on the slot's
			// master now (after a failover, its former replica).
			c.rdb.(*redis.ClusterClient).ReloadState(ctx)
			t := time.NewTimer(clusterRetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
				_, err = c.rdb.TxPipelined(ctx, run)
			}
		}
		errs = append(errs, err)
	}
	// The events go out even when a slot's writes failed: they reach the verifiers
	// (which tombstone the session whatever Redis holds), and the issuer's resync
	// writes the missing keys from the store's log later.
	if publish != nil {
		_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			publish(pipe)
			return nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// clusterRetryDelay is how long exec waits, after a node failed, for the slot map to
// be read again before it retries that slot's transaction.
const clusterRetryDelay = 100 * time.Millisecond

// isRedisError reports whether err is an answer of the server (including redis.Nil)
// rather than a failure to reach it.
func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// publish queues one revocation event (PUBLISH). On a cluster a PUBLISH to any node
// reaches the subscribers of every node (the cluster bus relays it), so an event
// still goes out while the master of some slot is down; the price is that a PONG
// on the subscriber's connection no longer proves that events published through
// another node have arrived (FeedHandler.Fresh), which the verifier does not rely
// on: its freshness comes from reading the store's log.
func (c *Cache) publish(ctx context.Context, pipe redis.Pipeliner, payload []byte) {
	pipe.Publish(ctx, c.Channel(), payload)
}
