package sqlite

import (
	"context"
	"fmt"
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
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke federated: provider and subject or sid required")
	}
	now = rules.Norm(now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke federated: begin: %w", err)
	}
	defer tx.rollback()
	rows, err := tx.query(
		"SELECT "+prefixed("s.", sessionColumns)+` FROM sessions s
		 JOIN federated_sessions f ON f.session_id = s.id
		 WHERE f.provider = ?1
		   AND (?3 = '' OR f.provider_sid = ?3)
		   AND (?2 = '' OR f.subject = ?2)
		   AND s.revoked_at IS NULL AND s.expires_at > ?4
		 ORDER BY s.created_at, s.id`, idp, subject, sid, micros(now))
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke federated: %w", err)
	}
	sessions, err := collectSessions(rows)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke federated: %w", err)
	}
	rr, err := revoke(tx, sessions, reason, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke federated: %w", err)
	}
	if err := tx.commit(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke federated: commit: %w", err)
	}
	return rr, nil
}

// UseLogoutJTI records a logout token's jti; a replay is store.ErrConflict.
func (s *Store) UseLogoutJTI(ctx context.Context, idp, jti string, expires, now time.Time) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: use logout jti: begin: %w", err)
	}
	defer tx.rollback()
	if _, err := tx.exec("DELETE FROM logout_jtis WHERE expires_at <= ?", micros(now)); err != nil {
		return fmt.Errorf("sqlite: use logout jti: %w", err)
	}
	res, err := tx.exec("INSERT INTO logout_jtis (provider, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		idp, jti, micros(expires))
	if err != nil {
		return fmt.Errorf("sqlite: use logout jti: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: logout token replayed: %w", store.ErrConflict)
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("sqlite: use logout jti: commit: %w", err)
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
	err := s.r.queryRow(ctx, `SELECT COALESCE(f.provider, '') FROM refresh_tokens t
		 LEFT JOIN federated_sessions f ON f.session_id = t.session_id WHERE t.hash = ?`, refreshHash).Scan(&idp)
	if err != nil {
		return "", notFound("idp of refresh token", err)
	}
	return idp, nil
}
