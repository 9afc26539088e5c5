package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

// ListUsers returns every user, ordered by lower-cased email.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.query(ctx, "SELECT "+userColumns+" FROM users ORDER BY email_key")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return users, nil
}

// SetUserRoles replaces the user's roles.
func (s *Store) SetUserRoles(ctx context.Context, userID string, roles []string) error {
	if roles == nil {
		roles = []string{}
	}
	b, err := json.Marshal(roles)
	if err != nil {
		return fmt.Errorf("sqlite: set user roles: %w", err)
	}
	res, err := s.w.exec(ctx, "UPDATE users SET roles = ? WHERE id = ?", string(b), userID)
	if err != nil {
		return fmt.Errorf("sqlite: set user roles: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: set user roles: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: set user roles: %w", store.ErrNotFound)
	}
	return nil
}

// SetPassword stores a new hash, revokes every live session but keepSession and
// deletes the user's reset links, in one transaction.
func (s *Store) SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set password: begin: %w", err)
	}
	defer tx.rollback()
	rr, err := setPassword(tx, userID, hash, keepSession, "", now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set password: %w", err)
	}
	if err := tx.commit(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set password: commit: %w", err)
	}
	return rr, nil
}

// setPassword is SetPassword inside tx; it deletes the user's reset links but keepLink.
func setPassword(tx *wtx, userID, hash, keepSession, keepLink string, now time.Time) (store.RevokeResult, error) {
	res, err := tx.exec("UPDATE users SET password_hash = ? WHERE id = ?", hash, userID)
	if err != nil {
		return store.RevokeResult{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.RevokeResult{}, err
	} else if n == 0 {
		return store.RevokeResult{}, store.ErrNotFound
	}
	if _, err := tx.exec("DELETE FROM password_resets WHERE user_id = ? AND hash <> ?", userID, keepLink); err != nil {
		return store.RevokeResult{}, fmt.Errorf("delete reset links: %w", err)
	}
	sessions, err := liveSessions(tx, userID, now)
	if err != nil {
		return store.RevokeResult{}, err
	}
	others := sessions[:0]
	for _, sess := range sessions {
		if sess.ID != keepSession {
			others = append(others, sess)
		}
	}
	return revoke(tx, others, store.ReasonPasswordChanged, now)
}

// UpgradePasswordHash swaps oldHash for newHash if the row still holds oldHash.
func (s *Store) UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) (bool, error) {
	res, err := s.w.exec(ctx, "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", newHash, userID, oldHash)
	if err != nil {
		return false, fmt.Errorf("sqlite: upgrade password hash: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: upgrade password hash: %w", err)
	}
	return n == 1, nil
}

// DeleteUser revokes the user's live sessions (so the log tells verifiers) and
// deletes the user; sessions, tokens and reset links go with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, userID string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: delete user: begin: %w", err)
	}
	defer tx.rollback()
	var one int
	if err := tx.queryRow("SELECT 1 FROM users WHERE id = ?", userID).Scan(&one); err != nil {
		return store.RevokeResult{}, notFound("delete user", err)
	}
	sessions, err := liveSessions(tx, userID, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: delete user: %w", err)
	}
	rr, err := revoke(tx, sessions, store.ReasonUserDeleted, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: delete user: %w", err)
	}
	if _, err := tx.exec("DELETE FROM users WHERE id = ?", userID); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: delete user: %w", err)
	}
	if err := tx.commit(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: delete user: commit: %w", err)
	}
	return rr, nil
}

// CreatePasswordReset stores r and deletes the user's other links.
func (s *Store) CreatePasswordReset(ctx context.Context, r store.PasswordReset) error {
	if r.Hash == "" || r.UserID == "" || r.ExpiresAt.IsZero() {
		return fmt.Errorf("sqlite: create password reset: hash, user id and expiry are required")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: create password reset: begin: %w", err)
	}
	defer tx.rollback()
	var one int
	if err := tx.queryRow("SELECT 1 FROM users WHERE id = ?", r.UserID).Scan(&one); err != nil {
		return notFound("create password reset", err)
	}
	if _, err := tx.exec("DELETE FROM password_resets WHERE user_id = ?", r.UserID); err != nil {
		return fmt.Errorf("sqlite: create password reset: %w", err)
	}
	_, err = tx.exec("INSERT INTO password_resets (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
		r.Hash, r.UserID, micros(rules.Norm(r.CreatedAt)), micros(rules.Norm(r.ExpiresAt)))
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create password reset: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create password reset: %w", err)
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("sqlite: create password reset: commit: %w", err)
	}
	return nil
}

// UsePasswordReset spends the link named by hash and sets the user's password.
func (s *Store) UsePasswordReset(ctx context.Context, hash, newPasswordHash string, now time.Time) (store.User, store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("sqlite: use password reset: begin: %w", err)
	}
	defer tx.rollback()
	var (
		userID  string
		expires int64
		used    sql.NullInt64
	)
	if err := tx.queryRow("SELECT user_id, expires_at, used_at FROM password_resets WHERE hash = ?", hash).
		Scan(&userID, &expires, &used); err != nil {
		return store.User{}, store.RevokeResult{}, notFound("use password reset", err)
	}
	switch {
	case used.Valid:
		return store.User{}, store.RevokeResult{}, fmt.Errorf("sqlite: use password reset: %w", store.ErrTokenReused)
	case micros(now) >= expires:
		return store.User{}, store.RevokeResult{}, fmt.Errorf("sqlite: use password reset: %w", store.ErrTokenExpired)
	}
	if _, err := tx.exec("UPDATE password_resets SET used_at = ? WHERE hash = ?", micros(now), hash); err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("sqlite: use password reset: %w", err)
	}
	rr, err := setPassword(tx, userID, newPasswordHash, "", hash, now)
	if err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("sqlite: use password reset: %w", err)
	}
	u, err := scanUser(tx.queryRow("SELECT "+userColumns+" FROM users WHERE id = ?", userID))
	if err != nil {
		return store.User{}, store.RevokeResult{}, notFound("use password reset", err)
	}
	if err := tx.commit(); err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("sqlite: use password reset: commit: %w", err)
	}
	return u, rr, nil
}
