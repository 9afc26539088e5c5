package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no such user, session or refresh token.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a user with that email already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrTokenExpired: the refresh token's lifetime is over.
	ErrTokenExpired = errors.New("store: refresh token expired")
	// ErrSessionRevoked: the session is revoked or expired, or its user is disabled.
	ErrSessionRevoked = errors.New("store: session revoked")
	// ErrTokenReused: a refresh token was presented again after it was rotated,
	// outside the grace period. The session has been revoked in the same transaction.
	ErrTokenReused = errors.New("store: refresh token reused")
	// ErrSchemaTooNew: the database holds a migration newer than any this binary
	// embeds (a newer release migrated it). Migrate refuses to run against it: the
	// binary would misread or damage data it does not know. Upgrade the binary, or
	// restore the backup taken before the upgrade.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
)

// User is an account. Email is kept as given and matched case-insensitively.
type User struct {
	ID           string // random UUID, set by CreateUser when empty
	Email        string
	PasswordHash string // PHC string, argon2id
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
}

// Session is one login: the chain of refresh tokens that descends from it.
type Session struct {
	ID         string // random, set by the caller
	UserID     string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // the newest refresh token's expiry
	RevokedAt  time.Time // zero while live
	UserAgent  string
	IP         string
	// AMR lists the RFC 8176 authentication methods the session was opened with
	// ("pwd"; "pwd", "otp", "mfa" after a second factor). Empty is stored as "pwd".
	AMR []string

	// Federated sign-in (OpenID Connect): the provider id, the provider's subject
	// and the provider's session id (sid, "" when it sent none). CreateSession
	// records them when IdP is set, so that Federation.RevokeFederated finds the
	// session from a back-channel logout; the read methods leave them empty.
	IdP        string
	IdPSubject string
	IdPSID     string
}

// Live reports whether the session is neither revoked nor expired at now.
func (s Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// RefreshToken is one issued token pair, recorded by the hash of its refresh token
// (lowercase hex SHA-256; the token itself is never stored) together with the hash of
// the access token minted with it, so that revocation can name every live token.
type RefreshToken struct {
	Hash            string
	SessionID       string
	ParentHash      string // "" for the first token of a session
	AccessHash      string
	AccessExpiresAt time.Time
	CreatedAt       time.Time
	ExpiresAt       time.Time
	UsedAt          time.Time // zero until rotated
}

// Revocation is one row of the revocation log. Seq increases monotonically; a
// verifier that has applied every row up to Seq has seen every revocation up to it.
type Revocation struct {
	Seq       int64
	SessionID string
	UserID    string
	Reason    string // see the Reason* constants
	At        time.Time
}

// Revocation reasons.
const (
	ReasonLogout    = "logout"
	ReasonLogoutAll = "logout_all"
	ReasonReuse     = "refresh_reuse"
	ReasonDisabled  = "user_disabled"
	ReasonAdmin     = "admin"
	// ReasonPasswordChanged: the password was changed (by the user, an operator or a
	// reset link); the user's other sessions end.
	ReasonPasswordChanged = "password_changed"
	// ReasonRolesChanged: an operator changed the user's roles; tokens carrying the
	// old roles stop being honoured at once.
	ReasonRolesChanged = "roles_changed"
	// ReasonUserDeleted: an operator deleted the user.
	ReasonUserDeleted = "user_deleted"
	// ReasonBackchannel: the identity provider ended the session (OpenID Connect
	// Back-Channel Logout).
	ReasonBackchannel = "backchannel_logout"
	// ReasonMFAReset: an operator removed every second factor of the user.
	ReasonMFAReset = "mfa_reset"
)

// Federation is what federated sign-in (OpenID Connect) needs of a store beyond
// Store; both backends implement it. The issuer discovers it by type assertion.
type Federation interface {
	// SetUserRoles replaces the user's roles (nil is stored as an empty list);
	// ErrNotFound for an unknown user.
	SetUserRoles(ctx context.Context, userID string, roles []string) error
	// RevokeFederated revokes the live sessions opened through provider idp that
	// match a back-channel logout: those with provider session id sid when sid is
	// not "" (and, when subject is not "" too, that subject), else every session of
	// subject. Same log rows and result as RevokeUser; nothing matching is not an error.
	RevokeFederated(ctx context.Context, idp, subject, sid, reason string, now time.Time) (RevokeResult, error)
	// UseLogoutJTI records the jti of a logout token of provider idp until
	// expires; a jti already recorded (and not expired at now) is ErrConflict.
	// Expired records are deleted on the way.
	UseLogoutJTI(ctx context.Context, idp, jti string, expires, now time.Time) error
	// IdPOfRefresh is the provider id of the session a refresh token (used or not)
	// belongs to: "" for a password session; ErrNotFound for an unknown token.
	IdPOfRefresh(ctx context.Context, refreshHash string) (string, error)
}

// TokenHashes names the live tokens of a revoked session, for cache invalidation.
type TokenHashes struct {
	SessionID        string
	UserID           string
	Access           string
	AccessExpiresAt  time.Time
	Refresh          string
	RefreshExpiresAt time.Time
}

// RevokeResult is what a revocation changed. Revocations holds one log row per
// session that went from live to revoked, oldest session first (empty when nothing
// changed: revoking twice is not an error). Tokens lists the token pairs of those
// sessions of which at least one half could still be presented: an access token that
// has not expired, a refresh token that has neither expired nor been rotated. A half
// that could not is left empty (hash "" and zero expiry), so every hash listed still
// needs denying. A rotated (used) refresh token is never listed: only the store's
// Rotate decides on a refresh token, and it refuses every token of a revoked session,
// so no cache needs to hear of it; a session refreshed N times thus reports its live
// tokens, not N pairs.
type RevokeResult struct {
	Revocations []Revocation
	Tokens      []TokenHashes
}

// SessionState is what a verifier needs to know about a session on a cache miss.
type SessionState struct {
	SessionID    string
	UserID       string
	ExpiresAt    time.Time
	RevokedAt    time.Time // zero while live
	UserDisabled bool
}

// Live reports whether a token of this session may be honoured at now.
func (s SessionState) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && !s.UserDisabled && now.Before(s.ExpiresAt)
}

// Rotation is the input of Store.Rotate.
type Rotation struct {
	OldHash string    // hash of the presented refresh token
	Now     time.Time // the clock, injected
	// Grace is how long after its first use the old token may be presented again (each
	// time yielding a sibling successor). Zero allows no second presentation: of N
	// racing rotations exactly one succeeds and the session ends revoked.
	Grace time.Duration
	// Mint builds the successor token pair for the session and user it is given. It runs
	// inside the rotation's transaction; Rotate fills in SessionID, ParentHash and CreatedAt.
	Mint func(Session, User) (RefreshToken, error)
}

// RotateResult is the outcome of Store.Rotate. On ErrTokenReused, Revoked says which
// session was revoked (and Session, now revoked, and User are filled in); on success,
// Session (with its new LastUsedAt and ExpiresAt) and User are those of the new pair,
// and Old is the presented token's pair as stored after the rotation (UsedAt set to
// its first use), so that caches can forget it.
type RotateResult struct {
	Session Session
	User    User
	New     RefreshToken
	Old     RefreshToken
	Revoked RevokeResult
}

// Store is the contract every backend (PostgreSQL, SQLite) meets; the shared suite in
// storetest holds them to it. Consumers declare the smaller interfaces they use.
//
// Times go in with any location and precision and come back in UTC, truncated to the
// microsecond. Errors wrap the sentinels above (test with errors.Is) and never carry
// token hashes, passwords or SQL text.
type Store interface {
	// Migrate applies the embedded schema migrations; running it again is a no-op.
	Migrate(ctx context.Context) error
	Ping(ctx context.Context) error
	Close() error

	// CreateUser stores u, setting ID and CreatedAt when empty; ErrConflict when the email
	// (case-insensitively) is taken.
	CreateUser(ctx context.Context, u User) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// SetUserDisabled flips the flag. Disabling also revokes every live session of the
	// user (reason ReasonDisabled) in the same transaction.
	SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) (RevokeResult, error)

	// CreateSession stores a new session and its first token pair atomically. Unknown
	// user → ErrNotFound; disabled user → ErrSessionRevoked; a session id or token hash
	// already stored → ErrConflict. Zero fields are filled in: the session's CreatedAt
	// and the token's from each other, LastUsedAt from CreatedAt, the session's
	// ExpiresAt from the token's.
	CreateSession(ctx context.Context, s Session, first RefreshToken) error
	// Rotate exchanges a refresh token for its successor in one transaction that locks
	// the old token's row: unknown → ErrNotFound; expired → ErrTokenExpired; session not
	// live or user disabled → ErrSessionRevoked; already used more than Grace ago →
	// ErrTokenReused (and the session is revoked, reason ReasonReuse, same transaction);
	// otherwise the old token is marked used (its first use time is kept), the successor
	// is stored, and the session's LastUsedAt and ExpiresAt move forward.
	Rotate(ctx context.Context, r Rotation) (RotateResult, error)
	// SessionByRefreshHash finds the session a refresh token (used or not) belongs to.
	SessionByRefreshHash(ctx context.Context, hash string) (Session, error)
	Session(ctx context.Context, id string) (Session, error)
	// ListSessions returns the user's live sessions at now, newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// RevokeSession revokes one session; revoking a revoked (or expired) session changes
	// nothing; an unknown session is ErrNotFound.
	RevokeSession(ctx context.Context, sessionID, reason string, now time.Time) (RevokeResult, error)
	// RevokeUser revokes every live session of the user, one log row each; an unknown
	// user is ErrNotFound.
	RevokeUser(ctx context.Context, userID, reason string, now time.Time) (RevokeResult, error)

	// SessionState answers a verifier's cache miss; ErrNotFound for an unknown session.
	SessionState(ctx context.Context, sessionID string) (SessionState, error)
	// RevocationsAfter returns up to limit (<= 0: 1000) log rows with Seq > after, in
	// Seq order. Seq order is commit order: once a row is visible, every row with a
	// smaller Seq is too, so a reader that remembers the last Seq it applied misses none.
	RevocationsAfter(ctx context.Context, after int64, limit int) ([]Revocation, error)
	// LastRevocationSeq is the highest Seq ever appended to the log, 0 when nothing was
	// ever revoked. Pruning does not lower it, and Seq values are never reused.
	LastRevocationSeq(ctx context.Context) (int64, error)
	// RevocationsSince returns up to limit (<= 0: 1000) log rows with At >= since and
	// Seq > after, in Seq order: the revocation window a verifier loads before it
	// answers its first 200 (page through it by passing the last Seq as after).
	RevocationsSince(ctx context.Context, since time.Time, after int64, limit int) ([]Revocation, error)
	// UnsyncedRevocations returns up to limit (<= 0: 1000) log rows with At >= since
	// that were never marked synced, in Seq order, with the token pairs of their
	// sessions that are still live at now (as RevokeResult.Tokens lists them): what
	// the issuer must still write through to Redis and publish.
	UnsyncedRevocations(ctx context.Context, since, now time.Time, limit int) (RevokeResult, error)
	// MarkRevocationsSynced records that the rows with these seqs were written
	// through to Redis and published. Unknown or already synced seqs are ignored.
	MarkRevocationsSynced(ctx context.Context, seqs []int64, now time.Time) error
	// PruneExpired deletes, in batches, what no longer decides anything as of before
	// (the caller passes now minus its retention period) and says what went:
	//   - token pairs whose refresh and access tokens both expired before it;
	//   - token pairs, used or not, of a session revoked before it, once their access
	//     token expired before it (Rotate refuses every token of a revoked session,
	//     and verifiers decide on its access tokens from the session row and the log);
	//   - sessions that expired or were revoked before it and have no token pair left;
	//   - log rows older than it whose session is gone;
	//   - pending second steps of logins (mfa_challenges) and WebAuthn ceremonies
	//     (webauthn_ceremonies) that expired before it.
	// A used refresh token of a live session stays until it expires: reuse detection
	// needs it. A revoked session's log row therefore stays until before has passed
	// both the revocation and the expiry of the session's last access token. When
	// several instances share one database only one prunes at a time (PostgreSQL: an
	// advisory lock; a call that finds it held does nothing and reports Skipped).
	// Pruning never lowers LastRevocationSeq.
	PruneExpired(ctx context.Context, before time.Time) (Pruned, error)

	Accounts
}

// Accounts is the account lifecycle part of Store: listing users, changing roles
// and passwords, deleting users, and one-time password reset links.
type Accounts interface {
	// ListUsers returns every user, ordered by lower-cased email.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserRoles replaces the user's roles (nil: none); ErrNotFound for an unknown
	// user. It revokes nothing: the caller revokes the sessions whose tokens carry
	// the old roles.
	SetUserRoles(ctx context.Context, userID string, roles []string) error
	// SetPassword stores a new password hash and, in the same transaction, revokes
	// every live session of the user except keepSession ("" revokes them all; reason
	// ReasonPasswordChanged) and deletes the user's password reset links. Unknown
	// user: ErrNotFound.
	SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) (RevokeResult, error)
	// UpgradePasswordHash replaces the user's hash with newHash only if it is still
	// oldHash (a rehash at login must not undo a password change made meanwhile); it
	// reports whether it did. Nothing is revoked.
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) (bool, error)
	// DeleteUser revokes every live session of the user (reason ReasonUserDeleted, so
	// that verifiers hear of it through the log) and deletes the user with its
	// sessions, tokens and reset links, in one transaction. Unknown user: ErrNotFound.
	DeleteUser(ctx context.Context, userID string, now time.Time) (RevokeResult, error)
	// CreatePasswordReset stores a reset link by its token's hash and deletes the
	// user's other links (only the newest works). Unknown user: ErrNotFound; a hash
	// already stored: ErrConflict.
	CreatePasswordReset(ctx context.Context, r PasswordReset) error
	// UsePasswordReset spends a reset link and sets the user's password hash in one
	// transaction that locks the link's row: unknown → ErrNotFound; used before →
	// ErrTokenReused; expired at now → ErrTokenExpired. On success the link is
	// marked used, every live session of the user is revoked (ReasonPasswordChanged)
	// and the user (with the new hash) is returned.
	UsePasswordReset(ctx context.Context, hash, newPasswordHash string, now time.Time) (User, RevokeResult, error)
}

// PasswordReset is a one-time link that lets a user choose a new password, stored by
// the lowercase hex SHA-256 of its token (the token itself is never stored).
type PasswordReset struct {
	Hash      string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// Pruned is what one Store.PruneExpired call deleted, by kind.
type Pruned struct {
	Tokens      int64 // refresh_tokens rows (token pairs)
	Sessions    int64
	Revocations int64 // revocation-log rows
	Challenges  int64 // mfa_challenges and webauthn_ceremonies rows that expired before it
	// Skipped: another instance was pruning the same database (it holds the lock);
	// this call deleted nothing.
	Skipped bool
}

// Total is the number of rows deleted.
func (p Pruned) Total() int64 { return p.Tokens + p.Sessions + p.Revocations + p.Challenges }

// Opener opens a backend from a DATABASE_URL.
type Opener func(ctx context.Context, databaseURL string) (Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a backend available to Open under a URL scheme ("postgres",
// "postgresql", "sqlite"). Backends call it from init; programs import them for effect,
// as database/sql drivers are.
func Register(scheme string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	openers[scheme] = open
}

// DefaultURL is used when DATABASE_URL is unset.
const DefaultURL = "sqlite:./data/vexen.db"

// Open opens the backend that databaseURL's scheme names; "" means DefaultURL.
func Open(ctx context.Context, databaseURL string) (Store, error) {
	if databaseURL == "" {
		databaseURL = DefaultURL
	}
	open, err := opener(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return open(ctx, databaseURL)
}

// CheckURL reports, without opening anything, whether Open knows databaseURL's
// scheme ("" is the default), so that programs refuse a bad DATABASE_URL as bad
// configuration before they start. The error never holds the URL's password.
func CheckURL(databaseURL string) error {
	if databaseURL == "" {
		return nil
	}
	_, err := opener(databaseURL)
	return err
}

func opener(databaseURL string) (Opener, error) {
	scheme, _, ok := strings.Cut(databaseURL, ":")
	if !ok {
		return nil, fmt.Errorf("DATABASE_URL %q has no scheme (want postgres://… or sqlite:PATH)", Redact(databaseURL))
	}
	openersMu.RLock()
	open := openers[strings.ToLower(scheme)]
	openersMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("unsupported DATABASE_URL scheme %q (have %s)", scheme, strings.Join(schemes(), ", "))
	}
	return open, nil
}

func schemes() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	s := make([]string, 0, len(openers))
	for k := range openers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Redact hides the password of a URL-shaped connection string for logs and errors.
func Redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return u
	}
	userinfo := rest[:at]
	if name, _, hasPw := strings.Cut(userinfo, ":"); hasPw {
		return scheme + "://" + name + ":xxxxx" + rest[at:]
	}
	return u
}
