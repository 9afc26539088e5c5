package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

// pruneLockKey is the session-level advisory lock PruneExpired holds ("vxpr"): issuer
// replicas sharing the database prune one at a time, the others skip their turn.
const pruneLockKey int64 = 0x76787072

// Prune statements, in order: each deletes at most $2 rows older than $1. Tokens go
// first, so that sessions without tokens can go, so that their log rows can go.
var pruneSteps = []struct {
	kind  func(*store.Pruned) *int64
	query string
}{
	{func(p *store.Pruned) *int64 { return &p.Tokens },
		`DELETE FROM refresh_tokens WHERE hash IN (
		   SELECT hash FROM refresh_tokens
		   WHERE expires_at < $1 AND (access_expires_at IS NULL OR access_expires_at < $1)
		   LIMIT $2)`},
	{func(p *store.Pruned) *int64 { return &p.Tokens },
		`DELETE FROM refresh_tokens WHERE hash IN (
		   SELECT t.hash FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
		   WHERE s.revoked_at < $1 AND (t.access_expires_at IS NULL OR t.access_expires_at < $1)
		   LIMIT $2)`},
	{func(p *store.Pruned) *int64 { return &p.Sessions },
		`DELETE FROM sessions WHERE id IN (
		   SELECT s.id FROM sessions s
		   WHERE (s.expires_at < $1 OR s.revoked_at < $1)
		     AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)
		   LIMIT $2)`},
	{func(p *store.Pruned) *int64 { return &p.Revocations },
		`DELETE FROM revocations WHERE seq IN (
		   SELECT r.seq FROM revocations r
		   WHERE r.at < $1 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id)
		   LIMIT $2)`},
	{func(p *store.Pruned) *int64 { return &p.Challenges },
		`DELETE FROM mfa_challenges WHERE hash IN (
		   SELECT hash FROM mfa_challenges WHERE expires_at < $1 LIMIT $2)`},
	{func(p *store.Pruned) *int64 { return &p.Challenges },
		`DELETE FROM webauthn_ceremonies WHERE hash IN (
		   SELECT hash FROM webauthn_ceremonies WHERE expires_at < $1 LIMIT $2)`},
}

// PruneExpired deletes what no longer decides anything as of before (see
// store.Store), rules.PruneBatch rows per statement, each batch committed on its own:
// a large backlog never holds row locks for long, and an interrupted run leaves a
// consistent database (the next one goes on). It runs on one connection holding the
// advisory lock pruneLockKey; when another instance holds it, nothing is done and the
// result is Skipped.
func (s *Store) PruneExpired(ctx context.Context, before time.Time) (store.Pruned, error) {
	before = rules.Norm(before)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return store.Pruned{}, fmt.Errorf("postgres: prune: %w", err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", pruneLockKey).Scan(&locked); err != nil {
		conn.Release()
		return store.Pruned{}, fmt.Errorf("postgres: prune: lock: %w", err)
	}
	if !locked {
		conn.Release()
		return store.Pruned{Skipped: true}, nil
	}
	defer unlockPrune(conn)
	var p store.Pruned
	for _, step := range pruneSteps {
		for {
			tag, err := conn.Exec(ctx, step.query, before, rules.PruneBatch)
			if err != nil {
				return p, fmt.Errorf("postgres: prune: %w", err)
			}
			*step.kind(&p) += tag.RowsAffected()
			if tag.RowsAffected() < rules.PruneBatch {
				break
			}
		}
	}
	return p, nil
}

// unlockPrune releases the advisory lock and gives the connection back to the pool;
// a connection that may still hold the lock (the unlock failed) is closed instead,
// which releases it on the server.
func unlockPrune(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var released bool
	if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", pruneLockKey).Scan(&released); err != nil || !released {
		_ = conn.Hijack().Close(ctx)
		return
	}
	conn.Release()
}
