package postgres

// Lock order of the account operations, fitting the one in queries.go (refresh_tokens
// → users → sessions → revocation_counter): password_resets rows come after their
// user's row and before its sessions. DeleteUser locks the user's token rows first
// (the cascade deletes them, and Rotate holds a token before its session);
// UsePasswordReset finds the link's user without a lock, then locks the user, then
// the link, and checks the link again.

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

// ListUsers returns every user, ordered by lower-cased email.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY email_key")
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	defer rows.Close()
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return users, nil
}

// SetUserRoles replaces the user's roles.
func (s *Store) SetUserRoles(ctx context.Context, userID string, roles []string) error {
	if roles == nil {
		roles = []string{}
	}
	tag, err := s.pool.Exec(ctx, "UPDATE users SET roles = $1 WHERE id = $2", roles, userID)
	if err != nil {
		return fmt.Errorf("postgres: set user roles: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: set user roles: %w", store.ErrNotFound)
	}
	return nil
}

// SetPassword stores a new hash, revokes every live session but keepSession and
// deletes the user's reset links, in one transaction.
func (s *Store) SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: set password: begin: %w", err)
	}
	defer rollback(tx)
	rr, err := setPassword(ctx, tx, userID, hash, keepSession, "", now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: set password: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: set password: commit: %w", err)
	}
	return rr, nil
}

// setPassword is SetPassword inside tx; it deletes the user's reset links but
// keepLink.
func setPassword(ctx context.Context, tx pgx.Tx, userID, hash, keepSession, keepLink string, now time.Time) (store.RevokeResult, error) {
	tag, err := tx.Exec(ctx, "UPDATE users SET password_hash = $1 WHERE id = $2", hash, userID)
	if err != nil {
		return store.RevokeResult{}, err
	}
	if tag.RowsAffected() == 0 {
		return store.RevokeResult{}, store.ErrNotFound
	}
	if _, err := tx.Exec(ctx, "DELETE FROM password_resets WHERE user_id = $1 AND hash <> $2", userID, keepLink); err != nil {
		return store.RevokeResult{}, fmt.Errorf("delete reset links: %w", err)
	}
	sessions, err := lockLiveSessions(ctx, tx, userID, now)
	if err != nil {
		return store.RevokeResult{}, err
	}
	others := sessions[:0]
	for _, sess := range sessions {
		if sess.ID != keepSession {
			others = append(others, sess)
		}
	}
	return revoke(ctx, tx, others, store.ReasonPasswordChanged, now)
}

// UpgradePasswordHash swaps oldHash for newHash if the row still holds oldHash.
func (s *Store) UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3", newHash, userID, oldHash)
	if err != nil {
		return false, fmt.Errorf("postgres: upgrade password hash: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteUser revokes the user's live sessions (so the log tells verifiers) and
// deletes the user with its sessions, tokens and reset links.
//
// It takes two transactions. The first disables the user and revokes every live
// session (as SetUserDisabled, reason ReasonUserDeleted): from its commit on, no
// rotation succeeds and no session is created. The second deletes the rows: the
// tokens first, so that a rotation in flight, which holds its token and then waits
// for the session, finds the session revoked and lets go before the sessions are
// locked (deleting them in one transaction with the revocation can deadlock with such
// a rotation). Should the second fail, the user stays disabled with every session
// revoked, and DeleteUser can be run again.
func (s *Store) DeleteUser(ctx context.Context, userID string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	rr, err := s.disableForDelete(ctx, userID, now)
	if err != nil {
		return store.RevokeResult{}, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: begin: %w", err)
	}
	defer rollback(tx)
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", userID).Scan(&one); err != nil {
		return store.RevokeResult{}, notFound("delete user", err)
	}
	for _, q := range []string{
		"DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
		"DELETE FROM sessions WHERE user_id = $1",
		"DELETE FROM password_resets WHERE user_id = $1",
		"DELETE FROM users WHERE id = $1",
	} {
		if _, err := tx.Exec(ctx, q, userID); err != nil {
			return store.RevokeResult{}, fmt.Errorf("postgres: delete user: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: commit: %w", err)
	}
	return rr, nil
}

// disableForDelete is DeleteUser's first transaction.
func (s *Store) disableForDelete(ctx context.Context, userID string, now time.Time) (store.RevokeResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: begin: %w", err)
	}
	defer rollback(tx)
	tag, err := tx.Exec(ctx, "UPDATE users SET disabled = true WHERE id = $1", userID)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: %w", store.ErrNotFound)
	}
	sessions, err := lockLiveSessions(ctx, tx, userID, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: %w", err)
	}
	rr, err := revoke(ctx, tx, sessions, store.ReasonUserDeleted, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: delete user: commit: %w", err)
	}
	return rr, nil
}

// CreatePasswordReset stores r and deletes the user's other links.
func (s *Store) CreatePasswordReset(ctx context.Context, r store.PasswordReset) error {
	if r.Hash == "" || r.UserID == "" || r.ExpiresAt.IsZero() {
		return fmt.Errorf("postgres: create password reset: hash, user id and expiry are required")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: create password reset: begin: %w", err)
	}
	defer rollback(tx)
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", r.UserID).Scan(&one); err != nil {
		return notFound("create password reset", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM password_resets WHERE user_id = $1", r.UserID); err != nil {
		return fmt.Errorf("postgres: create password reset: %w", err)
	}
	if _, err := tx.Exec(ctx,
		"INSERT INTO password_resets (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
		r.Hash, r.UserID, rules.Norm(r.CreatedAt), rules.Norm(r.ExpiresAt)); err != nil {
		return insertError("create password reset", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: create password reset: commit: %w", err)
	}
	return nil
}

// UsePasswordReset spends the link named by hash and sets the user's password.
func (s *Store) UsePasswordReset(ctx context.Context, hash, newPasswordHash string, now time.Time) (store.User, store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("postgres: use password reset: begin: %w", err)
	}
	defer rollback(tx)
	var (
		userID  string
		expires time.Time
		used    pgtype.Timestamptz
	)
	if err := tx.QueryRow(ctx, "SELECT user_id FROM password_resets WHERE hash = $1", hash).Scan(&userID); err != nil {
		return store.User{}, store.RevokeResult{}, notFound("use password reset", err)
	}
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", userID).Scan(&one); err != nil {
		return store.User{}, store.RevokeResult{}, notFound("use password reset", err)
	}
	// Again under the lock: the link may have been used or deleted meanwhile.
	if err := tx.QueryRow(ctx, "SELECT expires_at, used_at FROM password_resets WHERE hash = $1 AND user_id = $2 FOR UPDATE", hash, userID).
		Scan(&expires, &used); err != nil {
		return store.User{}, store.RevokeResult{}, notFound("use password reset", err)
	}
	switch {
	case used.Valid:
		return store.User{}, store.RevokeResult{}, fmt.Errorf("postgres: use password reset: %w", store.ErrTokenReused)
	case !now.Before(expires):
		return store.User{}, store.RevokeResult{}, fmt.Errorf("postgres: use password reset: %w", store.ErrTokenExpired)
	}
	if _, err := tx.Exec(ctx, "UPDATE password_resets SET used_at = $1 WHERE hash = $2", now, hash); err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("postgres: use password reset: %w", err)
	}
	// The spent link is kept, marked used, so that presenting it again is told
	// apart from an unknown one; the user's other links go.
	rr, err := setPassword(ctx, tx, userID, newPasswordHash, "", hash, now)
	if err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("postgres: use password reset: %w", err)
	}
	u, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", userID))
	if err != nil {
		return store.User{}, store.RevokeResult{}, notFound("use password reset", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.User{}, store.RevokeResult{}, fmt.Errorf("postgres: use password reset: commit: %w", err)
	}
	return u, rr, nil
}
