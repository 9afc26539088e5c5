package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

var _ store.Factors = (*Store)(nil)

// TOTP returns the user's factor, confirmed or pending.
func (s *Store) TOTP(ctx context.Context, userID string) (store.TOTP, error) {
	t := store.TOTP{UserID: userID}
	var (
		confirmed sql.NullInt64
		created   int64
	)
	err := s.r.queryRow(ctx,
		"SELECT secret, confirmed_at, last_step, created_at FROM mfa_totp WHERE user_id = ?", userID).
		Scan(&t.Secret, &confirmed, &t.LastStep, &created)
	if err != nil {
		return store.TOTP{}, notFound("totp", err)
	}
	t.ConfirmedAt, t.CreatedAt = fromNullMicros(confirmed), fromMicros(created)
	return t, nil
}

// PutPendingTOTP stores a pending enrolment, replacing a pending one.
func (s *Store) PutPendingTOTP(ctx context.Context, t store.TOTP) error {
	res, err := s.w.exec(ctx,
		`INSERT INTO mfa_totp (user_id, secret, confirmed_at, last_step, created_at) VALUES (?, ?, NULL, 0, ?)
		 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		 WHERE mfa_totp.confirmed_at IS NULL`,
		t.UserID, t.Secret, micros(t.CreatedAt))
	if err != nil {
		return insertError("put totp", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: put totp: %w", store.ErrConflict)
	}
	return nil
}

// ConfirmTOTP confirms the pending factor and replaces the recovery codes.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, recoveryHashes []string, now time.Time) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: confirm totp: begin: %w", err)
	}
	defer tx.rollback()
	var last int64
	if err := tx.queryRow("SELECT last_step FROM mfa_totp WHERE user_id = ? AND confirmed_at IS NULL", userID).Scan(&last); err != nil {
		return notFound("confirm totp", err)
	}
	if step <= last {
		return fmt.Errorf("sqlite: confirm totp: %w", store.ErrConflict)
	}
	if _, err := tx.exec("UPDATE mfa_totp SET confirmed_at = ?, last_step = ? WHERE user_id = ?", micros(now), step, userID); err != nil {
		return fmt.Errorf("sqlite: confirm totp: %w", err)
	}
	if _, err := tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("sqlite: confirm totp: %w", err)
	}
	for _, h := range recoveryHashes {
		if _, err := tx.exec("INSERT INTO mfa_recovery_codes (user_id, hash) VALUES (?, ?)", userID, h); err != nil {
			return insertError("confirm totp: recovery code", err)
		}
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("sqlite: confirm totp: commit: %w", err)
	}
	return nil
}

// UseTOTPStep accepts step once (one writer: the UPDATE's check and write are atomic).
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	res, err := s.w.exec(ctx,
		"UPDATE mfa_totp SET last_step = ? WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?",
		step, userID, step)
	if err != nil {
		return fmt.Errorf("sqlite: use totp step: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var one int
	if err := s.r.queryRow(ctx, "SELECT 1 FROM mfa_totp WHERE user_id = ? AND confirmed_at IS NOT NULL", userID).Scan(&one); err != nil {
		return notFound("use totp step", err)
	}
	return fmt.Errorf("sqlite: use totp step: %w", store.ErrConflict)
}

// UseRecoveryCode marks an unused code used.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error {
	res, err := s.w.exec(ctx,
		"UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL",
		micros(now), userID, hash)
	if err != nil {
		return fmt.Errorf("sqlite: use recovery code: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: use recovery code: %w", store.ErrNotFound)
	}
	return nil
}

// RecoveryCodesLeft counts the unused codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.r.queryRow(ctx,
		"SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL", userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: recovery codes: %w", err)
	}
	return n, nil
}

// DeleteTOTP removes the factor and the recovery codes.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: delete totp: begin: %w", err)
	}
	defer tx.rollback()
	res, err := tx.exec("DELETE FROM mfa_totp WHERE user_id = ?", userID)
	if err != nil {
		return fmt.Errorf("sqlite: delete totp: %w", err)
	}
	if _, err := tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("sqlite: delete totp: %w", err)
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("sqlite: delete totp: commit: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: delete totp: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteFactors removes every second factor of the user and its pending logins.
func (s *Store) DeleteFactors(ctx context.Context, userID string) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete factors: begin: %w", err)
	}
	defer tx.rollback()
	n := 0
	for _, d := range factorTables {
		res, err := tx.exec("DELETE FROM "+d.table+" WHERE user_id = ?", userID)
		if err != nil {
			return 0, fmt.Errorf("sqlite: delete factors: %w", err)
		}
		if k, _ := res.RowsAffected(); d.factor {
			n += int(k)
		}
	}
	if err := tx.commit(); err != nil {
		return 0, fmt.Errorf("sqlite: delete factors: commit: %w", err)
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
	_, err := s.w.exec(ctx,
		`INSERT INTO mfa_challenges (hash, user_id, amr, session_id, user_agent, ip, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.UserID, rules.JoinAMR(c.AMR), c.SessionID, c.UserAgent, c.IP, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return insertError("create mfa challenge", err)
	}
	return nil
}

const challengeColumns = "hash, user_id, amr, session_id, user_agent, ip, created_at, expires_at"

func scanChallenge(row rowScanner) (store.MFAChallenge, error) {
	var (
		c                store.MFAChallenge
		amr              string
		created, expires int64
	)
	if err := row.Scan(&c.Hash, &c.UserID, &amr, &c.SessionID, &c.UserAgent, &c.IP, &created, &expires); err != nil {
		return store.MFAChallenge{}, err
	}
	c.AMR = rules.SplitAMR(amr)
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, nil
}

// MFAChallenge returns a live, unused challenge.
func (s *Store) MFAChallenge(ctx context.Context, hash string, now time.Time) (store.MFAChallenge, error) {
	c, err := scanChallenge(s.r.queryRow(ctx,
		"SELECT "+challengeColumns+" FROM mfa_challenges WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
		hash, micros(now)))
	if err != nil {
		return store.MFAChallenge{}, notFound("mfa challenge", err)
	}
	return c, nil
}

// TakeMFAChallenge marks a live challenge used and returns it.
func (s *Store) TakeMFAChallenge(ctx context.Context, hash string, now time.Time) (store.MFAChallenge, error) {
	c, err := scanChallenge(s.w.queryRow(ctx,
		"UPDATE mfa_challenges SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING "+challengeColumns,
		micros(now), hash, micros(now)))
	if err != nil {
		return store.MFAChallenge{}, notFound("take mfa challenge", err)
	}
	return c, nil
}
