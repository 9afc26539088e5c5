package sqlite

import (
	"context"
	"fmt"

	"github.com/vexen/vexen-auth/pkg/store"
)

var _ store.Locker = (*Store)(nil)

// WithLock implements store.Locker with the database's write lock: fn runs inside a
// write transaction (BEGIN IMMEDIATE) that writes nothing. Every name shares that one
// lock, and writes by this and other processes on the file wait while fn runs.
// SQLite is single-node by nature: the lock orders processes on one host sharing
// the file, which is all an SQLite deployment can be.
func (s *Store) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: lock %s: %w", name, err)
	}
	defer tx.tx.Rollback()
	if err := fn(ctx); err != nil {
		return err
	}
	if err := tx.tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: unlock %s: %w", name, err)
	}
	return nil
}
