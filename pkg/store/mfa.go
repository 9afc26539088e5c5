package store

import (
	"context"
	"time"
)

// TOTP is a user's time-based one-time password factor (RFC 6238).
type TOTP struct {
	UserID string
	// Secret is the shared secret as the issuer seals it (the store never sees it in
	// the clear).
	Secret      []byte
	ConfirmedAt time.Time // zero while the enrolment waits for its first code
	// LastStep is the newest time step whose code was accepted: a code of that step
	// or an older one is a replay.
	LastStep  int64
	CreatedAt time.Time
}

// MFAChallenge is the pending second step of a login: the first factor was shown,
// the second is owed. It is kept by the hash of the mfa_token handed to the client.
type MFAChallenge struct {
	Hash      string
	UserID    string
	AMR       []string // what the first step showed ("pwd")
	SessionID string   // step-up: the session the finished login replaces; "" otherwise
	UserAgent string
	IP        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// WebAuthnCredential is a user's passkey (a WebAuthn public key credential).
type WebAuthnCredential struct {
	ID         []byte // the credential id, chosen by the authenticator
	UserID     string
	Name       string // the user's label
	PublicKey  []byte // COSE_Key
	SignCount  uint32 // the newest signature counter accepted
	Transports []string
	AAGUID     []byte
	// AttestationFormat is the registration's attestation statement format ("none").
	AttestationFormat string
	UserVerified      bool // the registration verified the user
	BackupEligible    bool // BE flag: the key may be synced between devices
	BackupState       bool // BS flag: the key is synced now
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero until the first sign-in
}

// WebAuthn ceremony purposes.
const (
	CeremonyRegister = "register" // a signed-in user adds a passkey
	CeremonyLogin    = "login"    // a sign-in with a passkey alone (discoverable credential)
	CeremonyMFA      = "mfa"      // a passkey as the second step of a login or a step-up
)

// WebAuthnCeremony is a registration or sign-in begun and not finished: the
// challenge handed to the browser (kept by its hash) and what checking the answer
// needs. Any replica finishes it; it is taken once.
type WebAuthnCeremony struct {
	Hash      string // hex SHA-256 of the challenge
	Purpose   string // a Ceremony* constant
	UserID    string // "" for a discoverable sign-in
	Ref       string // CeremonyMFA: the mfa_token's hash; CeremonyRegister: the session id
	Data      []byte // the WebAuthn library's session data, as the issuer encodes it
	ExpiresAt time.Time
}

// Factors is the second-factor part of a backend. PostgreSQL and SQLite implement
// it; a consumer finds it by type assertion on its Store.
type Factors interface {
	// TOTP returns the user's factor, confirmed or pending; ErrNotFound when none.
	TOTP(ctx context.Context, userID string) (TOTP, error)
	// PutPendingTOTP stores t as the user's pending enrolment, replacing a pending one;
	// ErrConflict when the user has a confirmed factor; ErrNotFound for an unknown user.
	PutPendingTOTP(ctx context.Context, t TOTP) error
	// ConfirmTOTP confirms the pending factor, records step as its LastStep and
	// replaces the user's recovery codes with recoveryHashes, in one transaction;
	// ErrNotFound when nothing is pending, ErrConflict when step is not newer than
	// LastStep.
	ConfirmTOTP(ctx context.Context, userID string, step int64, recoveryHashes []string, now time.Time) error
	// UseTOTPStep records step as accepted for the user's confirmed factor when it is
	// newer than LastStep (atomically: of two racing callers with one code exactly one
	// succeeds); ErrConflict when it is not (a replay), ErrNotFound when there is no
	// confirmed factor.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// UseRecoveryCode marks an unused recovery code used; ErrNotFound when the user has
	// no unused code with that hash.
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// DeleteTOTP removes the user's factor and recovery codes; ErrNotFound when there
	// was none.
	DeleteTOTP(ctx context.Context, userID string) error
	// DeleteFactors removes every second factor of the user (the TOTP factor, pending
	// or confirmed, with its recovery codes, and every passkey) and the pending second
	// steps of its logins, in one transaction; it returns how many factors were
	// removed (a TOTP factor counts one, each passkey one). An unknown user has none.
	DeleteFactors(ctx context.Context, userID string) (int, error)

	// WebAuthnCredentials lists the user's passkeys, oldest first.
	WebAuthnCredentials(ctx context.Context, userID string) ([]WebAuthnCredential, error)
	// AddWebAuthnCredential stores c; ErrConflict for a credential id already stored
	// (for any user), ErrNotFound for an unknown user.
	AddWebAuthnCredential(ctx context.Context, c WebAuthnCredential) error
	// UseWebAuthnCredential records a sign-in with the user's credential id: the
	// signature counter signCount, the backup state and now as last used. A counter
	// must be greater than the stored one, unless both are 0 (an authenticator without
	// a counter); checked and written atomically (of two racing sign-ins with one
	// counter exactly one succeeds). ErrConflict when the counter did not grow,
	// ErrNotFound when the user has no such credential.
	UseWebAuthnCredential(ctx context.Context, userID string, id []byte, signCount uint32, backupState bool, now time.Time) error
	// DeleteWebAuthnCredential removes the user's credential id; ErrNotFound when the
	// user has none with that id.
	DeleteWebAuthnCredential(ctx context.Context, userID string, id []byte) error
	// CreateWebAuthnCeremony stores c; ErrConflict for a hash already stored.
	CreateWebAuthnCeremony(ctx context.Context, c WebAuthnCeremony) error
	// TakeWebAuthnCeremony removes and returns the ceremony with that hash if it has
	// not expired at now (atomically: of racing callers exactly one gets it);
	// ErrNotFound otherwise.
	TakeWebAuthnCeremony(ctx context.Context, hash string, now time.Time) (WebAuthnCeremony, error)

	// CreateMFAChallenge stores c; ErrConflict for a hash already stored.
	CreateMFAChallenge(ctx context.Context, c MFAChallenge) error
	// MFAChallenge returns the unused challenge with that hash while it has not
	// expired at now; ErrNotFound otherwise.
	MFAChallenge(ctx context.Context, hash string, now time.Time) (MFAChallenge, error)
	// TakeMFAChallenge marks the challenge used (atomically: of racing callers exactly
	// one succeeds) and returns it; ErrNotFound when it is unknown, used or expired.
	TakeMFAChallenge(ctx context.Context, hash string, now time.Time) (MFAChallenge, error)
}
