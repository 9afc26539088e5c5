package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/vexen/vexen-auth/pkg/store"
)

var _ store.Locker = (*Store)(nil)

// WithLock implements store.Locker with a transaction-level advisory lock
// (pg_advisory_xact_lock) keyed by the 64-bit FNV-1a hash of "vexen:"+name: it is
// released when the transaction ends, and by the server if the connection drops.
func (s *Store) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	h := fnv.New64a()
	h.Write([]byte("vexen:" + name))
	key := int64(h.Sum64())
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: lock %s: %w", name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
		return fmt.Errorf("postgres: lock %s: %w", name, err)
	}
	if err := fn(ctx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: unlock %s: %w", name, err)
	}
	return nil
}
