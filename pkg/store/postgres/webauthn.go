package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

const credentialColumns = `id, user_id, name, public_key, sign_count, transports, aaguid, attestation_format,
	user_verified, backup_eligible, backup_state, created_at, last_used_at`

// WebAuthnCredentials lists the user's passkeys, oldest first.
func (s *Store) WebAuthnCredentials(ctx context.Context, userID string) ([]store.WebAuthnCredential, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT "+credentialColumns+" FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: webauthn credentials: %w", err)
	}
	defer rows.Close()
	var list []store.WebAuthnCredential
	for rows.Next() {
		var (
			c          store.WebAuthnCredential
			count      int64
			transports string
			lastUsed   pgtype.Timestamptz
		)
		if err := rows.Scan(&c.ID, &c.UserID, &c.Name, &c.PublicKey, &count, &transports, &c.AAGUID,
			&c.AttestationFormat, &c.UserVerified, &c.BackupEligible, &c.BackupState, &c.CreatedAt, &lastUsed); err != nil {
			return nil, fmt.Errorf("postgres: webauthn credentials: %w", err)
		}
		c.SignCount = uint32(count)
		if transports != "" {
			c.Transports = strings.Split(transports, ",")
		}
		c.CreatedAt, c.LastUsedAt = c.CreatedAt.UTC(), fromNull(lastUsed)
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: webauthn credentials: %w", err)
	}
	return list, nil
}

// AddWebAuthnCredential stores a new passkey.
func (s *Store) AddWebAuthnCredential(ctx context.Context, c store.WebAuthnCredential) error {
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO webauthn_credentials (`+credentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL)`,
		c.ID, c.UserID, c.Name, c.PublicKey, int64(c.SignCount), strings.Join(c.Transports, ","), aaguid,
		c.AttestationFormat, c.UserVerified, c.BackupEligible, c.BackupState, rules.Norm(c.CreatedAt))
	if err != nil {
		return insertError("add webauthn credential", err)
	}
	return nil
}

// UseWebAuthnCredential records a sign-in when the counter grew (the UPDATE's check
// and write are one statement: racing callers serialise on the row).
func (s *Store) UseWebAuthnCredential(ctx context.Context, userID string, id []byte, signCount uint32, backupState bool, now time.Time) error {
	n := int64(signCount)
	tag, err := s.pool.Exec(ctx,
		`UPDATE webauthn_credentials SET sign_count = $3, backup_state = $4, last_used_at = $5
		 WHERE id = $1 AND user_id = $2 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))`,
		id, userID, n, backupState, rules.Norm(now))
	if err != nil {
		return fmt.Errorf("postgres: use webauthn credential: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1 FROM webauthn_credentials WHERE id = $1 AND user_id = $2", id, userID).Scan(&one); err != nil {
		return notFound("use webauthn credential", err)
	}
	return fmt.Errorf("postgres: use webauthn credential: counter did not grow: %w", store.ErrConflict)
}

// DeleteWebAuthnCredential removes one of the user's passkeys.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, userID string, id []byte) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2", id, userID)
	if err != nil {
		return fmt.Errorf("postgres: delete webauthn credential: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete webauthn credential: %w", store.ErrNotFound)
	}
	return nil
}

// CreateWebAuthnCeremony stores a ceremony begun.
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c store.WebAuthnCeremony) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO webauthn_ceremonies (hash, purpose, user_id, ref, data, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
		c.Hash, c.Purpose, c.UserID, c.Ref, c.Data, rules.Norm(c.ExpiresAt))
	if err != nil {
		return insertError("create webauthn ceremony", err)
	}
	return nil
}

// TakeWebAuthnCeremony removes and returns a live ceremony.
func (s *Store) TakeWebAuthnCeremony(ctx context.Context, hash string, now time.Time) (store.WebAuthnCeremony, error) {
	var c store.WebAuthnCeremony
	err := s.pool.QueryRow(ctx,
		"DELETE FROM webauthn_ceremonies WHERE hash = $1 AND expires_at > $2 RETURNING hash, purpose, user_id, ref, data, expires_at",
		hash, rules.Norm(now)).Scan(&c.Hash, &c.Purpose, &c.UserID, &c.Ref, &c.Data, &c.ExpiresAt)
	if err != nil {
		return store.WebAuthnCeremony{}, notFound("take webauthn ceremony", err)
	}
	c.ExpiresAt = c.ExpiresAt.UTC()
	return c, nil
}
