package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

const credentialColumns = `id, user_id, name, public_key, sign_count, transports, aaguid, attestation_format,
	user_verified, backup_eligible, backup_state, created_at, last_used_at`

// WebAuthnCredentials lists the user's passkeys, oldest first.
func (s *Store) WebAuthnCredentials(ctx context.Context, userID string) ([]store.WebAuthnCredential, error) {
	rows, err := s.r.query(ctx,
		"SELECT "+credentialColumns+" FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webauthn credentials: %w", err)
	}
	defer rows.Close()
	var list []store.WebAuthnCredential
	for rows.Next() {
		var (
			c              store.WebAuthnCredential
			count, created int64
			transports     string
			uv, be, bs     bool
			lastUsed       sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.UserID, &c.Name, &c.PublicKey, &count, &transports, &c.AAGUID,
			&c.AttestationFormat, &uv, &be, &bs, &created, &lastUsed); err != nil {
			return nil, fmt.Errorf("sqlite: webauthn credentials: %w", err)
		}
		c.SignCount = uint32(count)
		if transports != "" {
			c.Transports = strings.Split(transports, ",")
		}
		c.UserVerified, c.BackupEligible, c.BackupState = uv, be, bs
		c.CreatedAt, c.LastUsedAt = fromMicros(created), fromNullMicros(lastUsed)
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: webauthn credentials: %w", err)
	}
	return list, nil
}

// AddWebAuthnCredential stores a new passkey.
func (s *Store) AddWebAuthnCredential(ctx context.Context, c store.WebAuthnCredential) error {
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	_, err := s.w.exec(ctx,
		`INSERT INTO webauthn_credentials (`+credentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		c.ID, c.UserID, c.Name, c.PublicKey, int64(c.SignCount), strings.Join(c.Transports, ","), aaguid,
		c.AttestationFormat, c.UserVerified, c.BackupEligible, c.BackupState, micros(c.CreatedAt))
	if err != nil {
		return insertError("add webauthn credential", err)
	}
	return nil
}

// UseWebAuthnCredential records a sign-in when the counter grew (one writer: the
// UPDATE's check and write are atomic).
func (s *Store) UseWebAuthnCredential(ctx context.Context, userID string, id []byte, signCount uint32, backupState bool, now time.Time) error {
	n := int64(signCount)
	res, err := s.w.exec(ctx,
		`UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
		 WHERE id = ? AND user_id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`,
		n, backupState, micros(now), id, userID, n, n)
	if err != nil {
		return fmt.Errorf("sqlite: use webauthn credential: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return nil
	}
	var one int
	if err := s.r.queryRow(ctx, "SELECT 1 FROM webauthn_credentials WHERE id = ? AND user_id = ?", id, userID).Scan(&one); err != nil {
		return notFound("use webauthn credential", err)
	}
	return fmt.Errorf("sqlite: use webauthn credential: counter did not grow: %w", store.ErrConflict)
}

// DeleteWebAuthnCredential removes one of the user's passkeys.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, userID string, id []byte) error {
	res, err := s.w.exec(ctx, "DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("sqlite: delete webauthn credential: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("sqlite: delete webauthn credential: %w", store.ErrNotFound)
	}
	return nil
}

// CreateWebAuthnCeremony stores a ceremony begun.
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c store.WebAuthnCeremony) error {
	_, err := s.w.exec(ctx,
		"INSERT INTO webauthn_ceremonies (hash, purpose, user_id, ref, data, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		c.Hash, c.Purpose, c.UserID, c.Ref, c.Data, micros(c.ExpiresAt))
	if err != nil {
		return insertError("create webauthn ceremony", err)
	}
	return nil
}

// TakeWebAuthnCeremony removes and returns a live ceremony.
func (s *Store) TakeWebAuthnCeremony(ctx context.Context, hash string, now time.Time) (store.WebAuthnCeremony, error) {
	var (
		c   store.WebAuthnCeremony
		exp int64
	)
	err := s.w.queryRow(ctx,
		"DELETE FROM webauthn_ceremonies WHERE hash = ? AND expires_at > ? RETURNING hash, purpose, user_id, ref, data, expires_at",
		hash, micros(now)).Scan(&c.Hash, &c.Purpose, &c.UserID, &c.Ref, &c.Data, &exp)
	if err != nil {
		return store.WebAuthnCeremony{}, notFound("take webauthn ceremony", err)
	}
	c.ExpiresAt = fromMicros(exp)
	return c, nil
}
