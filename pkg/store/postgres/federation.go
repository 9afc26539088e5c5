package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

var _ store.Federation = (*Store)(nil)

// RevokeFederated revokes the live sessions of provider idp matching a
// back-channel logout (store.Federation).
func (s *Store) RevokeFederated(ctx context.Context, idp, subject, sid, reason string, now time.Time) (store.RevokeResult, error) {
	if idp == "" || (subject == "" && sid == "") {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke federated: provider and subject or sid required")
	}
	now = rules.Norm(now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke federated: begin: %w", err)
	}
	defer rollback(tx)
	// Same lock order as lockLiveSessions: sessions by id.
	rows, err := tx.Query(ctx,
		"SELECT "+prefixed("s.", sessionColumns)+` FROM sessions s
		 JOIN federated_sessions f ON f.session_id = s.id
		 WHERE f.provider = $1
		   AND ($3 = '' OR f.provider_sid = $3)
		   AND ($2 = '' OR f.subject = $2)
		   AND s.revoked_at IS NULL AND s.expires_at > $4
		 ORDER BY s.id FOR UPDATE OF s`, idp, subject, sid, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke federated: %w", err)
	}
	sessions, err := collectSessions(rows)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke federated: %w", err)
	}
	slices.SortFunc(sessions, func(a, b store.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	rr, err := revoke(ctx, tx, sessions, reason, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke federated: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke federated: commit: %w", err)
	}
	return rr, nil
}

// UseLogoutJTI records a logout token's jti; a replay is store.ErrConflict.
func (s *Store) UseLogoutJTI(ctx context.Context, idp, jti string, expires, now time.Time) error {
	now = rules.Norm(now)
	if _, err := s.pool.Exec(ctx, "DELETE FROM logout_jtis WHERE expires_at <= $1", now); err != nil {
		return fmt.Errorf("postgres: use logout jti: %w", err)
	}
	tag, err := s.pool.Exec(ctx,
		"INSERT INTO logout_jtis (provider, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		idp, jti, rules.Norm(expires))
	if err != nil {
		return fmt.Errorf("postgres: use logout jti: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: logout token replayed: %w", store.ErrConflict)
	}
	return nil
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// IdPOfRefresh is the provider of the session a refresh token belongs to ("" for a
// password session).
func (s *Store) IdPOfRefresh(ctx context.Context, refreshHash string) (string, error) {
	var idp string
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(f.provider, '') FROM refresh_tokens t
		 LEFT JOIN federated_sessions f ON f.session_id = t.session_id WHERE t.hash = $1`, refreshHash).Scan(&idp)
	if err != nil {
		return "", notFound("idp of refresh token", err)
	}
	return idp, nil
}
