package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

var _ store.Factors = (*Store)(nil)

// TOTP returns the user's factor, confirmed or pending.
func (s *Store) TOTP(ctx context.Context, userID string) (store.TOTP, error) {
	t := store.TOTP{UserID: userID}
	var confirmed pgtype.Timestamptz
	err := s.pool.QueryRow(ctx,
		"SELECT secret, confirmed_at, last_step, created_at FROM mfa_totp WHERE user_id = $1", userID).
		Scan(&t.Secret, &confirmed, &t.LastStep, &t.CreatedAt)
	if err != nil {
		return store.TOTP{}, notFound("totp", err)
	}
	t.ConfirmedAt, t.CreatedAt = fromNull(confirmed), t.CreatedAt.UTC()
	return t, nil
}

// PutPendingTOTP stores a pending enrolment, replacing a pending one.
func (s *Store) PutPendingTOTP(ctx context.Context, t store.TOTP) error {
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO mfa_totp (user_id, secret, confirmed_at, last_step, created_at) VALUES ($1, $2, NULL, 0, $3)
		 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		 WHERE mfa_totp.confirmed_at IS NULL`,
		t.UserID, t.Secret, rules.Norm(t.CreatedAt))
	if err != nil {
		return insertError("put totp", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: put totp: %w", store.ErrConflict)
	}
	return nil
}

// ConfirmTOTP confirms the pending factor and replaces the recovery codes.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, recoveryHashes []string, now time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: confirm totp: begin: %w", err)
	}
	defer rollback(tx)
	var last int64
	if err := tx.QueryRow(ctx,
		"SELECT last_step FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NULL FOR UPDATE", userID).Scan(&last); err != nil {
		return notFound("confirm totp", err)
	}
	if step <= last {
		return fmt.Errorf("postgres: confirm totp: %w", store.ErrConflict)
	}
	if _, err := tx.Exec(ctx, "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2 WHERE user_id = $3",
		rules.Norm(now), step, userID); err != nil {
		return fmt.Errorf("postgres: confirm totp: %w", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("postgres: confirm totp: %w", err)
	}
	for _, h := range recoveryHashes {
		if _, err := tx.Exec(ctx, "INSERT INTO mfa_recovery_codes (user_id, hash) VALUES ($1, $2)", userID, h); err != nil {
			return insertError("confirm totp: recovery code", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: confirm totp: commit: %w", err)
	}
	return nil
}

// UseTOTPStep accepts step once. The row's UPDATE re-checks last_step on the newest
// row version after waiting for a concurrent one, so of two racing callers with one
// step exactly one succeeds.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
		userID, step)
	if err != nil {
		return fmt.Errorf("postgres: use totp step: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	if err := s.pool.QueryRow(ctx,
		"SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL", userID).Scan(&one); err != nil {
		return notFound("use totp step", err)
	}
	return fmt.Errorf("postgres: use totp step: %w", store.ErrConflict)
}

// UseRecoveryCode marks an unused code used.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND hash = $2 AND used_at IS NULL",
		userID, hash, rules.Norm(now))
	if err != nil {
		return fmt.Errorf("postgres: use recovery code: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use recovery code: %w", store.ErrNotFound)
	}
	return nil
}

// RecoveryCodesLeft counts the unused codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx,
		"SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL", userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: recovery codes: %w", err)
	}
	return n, nil
}

// DeleteTOTP removes the factor and the recovery codes.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: delete totp: begin: %w", err)
	}
	defer rollback(tx)
	tag, err := tx.Exec(ctx, "DELETE FROM mfa_totp WHERE user_id = $1", userID)
	if err != nil {
		return fmt.Errorf("postgres: delete totp: %w", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("postgres: delete totp: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: delete totp: commit: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete totp: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteFactors removes every second factor of the user and its pending logins.
func (s *Store) DeleteFactors(ctx context.Context, userID string) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete factors: begin: %w", err)
	}
	defer rollback(tx)
	n := 0
	for _, d := range factorTables {
		tag, err := tx.Exec(ctx, "DELETE FROM "+d.table+" WHERE user_id = $1", userID)
		if err != nil {
			return 0, fmt.Errorf("postgres: delete factors: %w", err)
		}
		if d.factor {
			n += int(tag.RowsAffected())
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("postgres: delete factors: commit: %w", err)
	}
	return n, nil
}

// factorTables are what DeleteFactors empties of a user; factor: a row is a factor.
var factorTables = []struct {
	table  string
	factor bool
}{
	{"mfa_totp", true}, {"mfa_recovery_codes", false}, {"webauthn_credentials", true},
	{"mfa_challenges", false}, {"webauthn_ceremonies", false},
}

// CreateMFAChallenge stores a pending second step.
func (s *Store) CreateMFAChallenge(ctx context.Context, c store.MFAChallenge) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO mfa_challenges (hash, user_id, amr, session_id, user_agent, ip, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.Hash, c.UserID, rules.JoinAMR(c.AMR), c.SessionID, c.UserAgent, c.IP, rules.Norm(c.CreatedAt), rules.Norm(c.ExpiresAt))
	if err != nil {
		return insertError("create mfa challenge", err)
	}
	return nil
}

const challengeColumns = "hash, user_id, amr, session_id, user_agent, ip, created_at, expires_at"

func scanChallenge(row interface{ Scan(...any) error }) (store.MFAChallenge, error) {
	var (
		c   store.MFAChallenge
		amr string
	)
	if err := row.Scan(&c.Hash, &c.UserID, &amr, &c.SessionID, &c.UserAgent, &c.IP, &c.CreatedAt, &c.ExpiresAt); err != nil {
		return store.MFAChallenge{}, err
	}
	c.AMR = rules.SplitAMR(amr)
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return c, nil
}

// MFAChallenge returns a live, unused challenge.
func (s *Store) MFAChallenge(ctx context.Context, hash string, now time.Time) (store.MFAChallenge, error) {
	c, err := scanChallenge(s.pool.QueryRow(ctx,
		"SELECT "+challengeColumns+" FROM mfa_challenges WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
		hash, rules.Norm(now)))
	if err != nil {
		return store.MFAChallenge{}, notFound("mfa challenge", err)
	}
	return c, nil
}

// TakeMFAChallenge marks a live challenge used and returns it.
func (s *Store) TakeMFAChallenge(ctx context.Context, hash string, now time.Time) (store.MFAChallenge, error) {
	c, err := scanChallenge(s.pool.QueryRow(ctx,
		"UPDATE mfa_challenges SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING "+challengeColumns,
		hash, rules.Norm(now)))
	if err != nil {
		return store.MFAChallenge{}, notFound("take mfa challenge", err)
	}
	return c, nil
}
