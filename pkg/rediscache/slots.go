package rediscache

import (
	"context"
	"errors"
	"strings"

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
		_, err := c.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, f := range g {
				f(pipe)
			}
			return nil
		})
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if publish != nil {
		_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			publish(pipe)
			return nil
		})
		return err
	}
	return nil
}

// publish queues one revocation event: PUBLISH on one server, SPUBLISH (sharded
// pub/sub: the channel's slot decides its node) on a cluster, where a plain PUBLISH
// would be relayed over the cluster bus with no ordering against a PING on another
// node's connection.
func (c *Cache) publish(ctx context.Context, pipe redis.Pipeliner, payload []byte) {
	if c.cluster {
		pipe.SPublish(ctx, c.Channel(), payload)
		return
	}
	pipe.Publish(ctx, c.Channel(), payload)
}
