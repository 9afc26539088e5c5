package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

// Prune statements, in order: each deletes at most ?2 rows older than ?1. Tokens go
// first, so that sessions without tokens can go, so that their log rows can go.
var pruneSteps = []struct {
	kind  func(*store.Pruned) *int64
	query string
}{
	{func(p *store.Pruned) *int64 { return &p.Tokens },
		`DELETE FROM refresh_tokens WHERE hash IN (
		   SELECT hash FROM refresh_tokens
		   WHERE expires_at < ?1 AND coalesce(access_expires_at, 0) < ?1
		   LIMIT ?2)`},
	{func(p *store.Pruned) *int64 { return &p.Tokens },
		`DELETE FROM refresh_tokens WHERE hash IN (
		   SELECT t.hash FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
		   WHERE s.revoked_at < ?1 AND coalesce(t.access_expires_at, 0) < ?1
		   LIMIT ?2)`},
	{func(p *store.Pruned) *int64 { return &p.Sessions },
		`DELETE FROM sessions WHERE id IN (
		   SELECT s.id FROM sessions s
		   WHERE (s.expires_at < ?1 OR s.revoked_at < ?1)
		     AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)
		   LIMIT ?2)`},
	{func(p *store.Pruned) *int64 { return &p.Revocations },
		`DELETE FROM revocations WHERE seq IN (
		   SELECT r.seq FROM revocations r
		   WHERE r.at < ?1 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id)
		   LIMIT ?2)`},
	{func(p *store.Pruned) *int64 { return &p.Challenges },
		`DELETE FROM mfa_challenges WHERE hash IN (
		   SELECT hash FROM mfa_challenges WHERE expires_at < ?1 LIMIT ?2)`},
	{func(p *store.Pruned) *int64 { return &p.Challenges },
		`DELETE FROM webauthn_ceremonies WHERE hash IN (
		   SELECT hash FROM webauthn_ceremonies WHERE expires_at < ?1 LIMIT ?2)`},
}

// PruneExpired deletes what no longer decides anything as of before (see
// store.Store), rules.PruneBatch rows per statement. Each statement is its own
// transaction, so the write lock is held for one small delete at a time and logins
// and refreshes interleave with a large backlog; an interrupted run leaves a
// consistent database. SQLite is a single-host store: every process on the host
// that prunes takes the same write lock in turn, so the result is never Skipped.
func (s *Store) PruneExpired(ctx context.Context, before time.Time) (store.Pruned, error) {
	b := micros(rules.Norm(before))
	var p store.Pruned
	for _, step := range pruneSteps {
		for {
			res, err := s.w.exec(ctx, step.query, b, rules.PruneBatch)
			if err != nil {
				return p, fmt.Errorf("sqlite: prune: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return p, fmt.Errorf("sqlite: prune: %w", err)
			}
			*step.kind(&p) += n
			if n < rules.PruneBatch {
				break
			}
		}
	}
	return p, nil
}
