package issue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/store"
)

// The account lifecycle: a user changing their password, an operator listing,
// enabling, deleting users, setting roles and passwords, and one-time password reset
// links. Every change that makes old tokens wrong (a password, roles, a deletion)
// revokes sessions through the revocation path every verifier follows.

var (
	// ErrInvalidResetLink: the reset link is unknown, expired or already used (the
	// API's 400 invalid_reset_link; the audit log says which).
	ErrInvalidResetLink = errors.New("issue: invalid or expired reset link")
	// ErrNoAccounts: the store cannot change accounts (a test fake).
	ErrNoAccounts = errors.New("issue: the store does not support account changes")
)

// ResetLinkTTL is how long a password reset link works.
const ResetLinkTTL = time.Hour

// PathReset is the page a reset link opens: GET shows the new-password form, POST
// sets it.
const PathReset = "/reset"

// accountStore is what the account operations need beyond Store; the real backends
// have it (store.Store), a Store without it answers ErrNoAccounts.
type accountStore interface {
	store.Accounts
	UserByID(ctx context.Context, id string) (store.User, error)
}

var _ accountStore = (store.Store)(nil)

func (s *Service) accountStore() (accountStore, error) {
	a, ok := s.store.(accountStore)
	if !ok {
		return nil, ErrNoAccounts
	}
	return a, nil
}

// checkNewPassword applies the rules for a new password.
func checkNewPassword(pw string) error {
	if len(pw) < MinPasswordLen {
		return fmt.Errorf("%w: at least %d bytes", ErrWeakPassword, MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalidRequest, MaxPasswordLen)
	}
	return nil
}

// hashNew hashes a new password under the hashing gate with Config.Password.
func (s *Service) hashNew(ctx context.Context, pw string) (string, error) {
	if err := s.gate.enter(ctx); err != nil {
		return "", err
	}
	defer s.gate.leave()
	return s.hasher.hash(pw, s.cfg.Password)
}

// ChangePasswordRequest is a signed-in user changing their own password.
type ChangePasswordRequest struct {
	AccessToken     string // a live access token of the user (Authenticate)
	CurrentPassword string
	NewPassword     string
	ClientIP        netip.Addr
}

// ChangePassword checks the current password (a wrong one counts against the
// account's login throttle, as a failed sign-in does), stores the new one and
// revokes every other session of the user; the session of AccessToken stays. It
// returns how many sessions were revoked.
func (s *Service) ChangePassword(ctx context.Context, r ChangePasswordRequest) (int, error) {
	if r.CurrentPassword == "" || r.NewPassword == "" {
		return 0, fmt.Errorf("%w: current_password and new_password are required", ErrInvalidRequest)
	}
	c, err := s.Authenticate(ctx, r.AccessToken)
	if err != nil {
		return 0, err
	}
	if len(r.CurrentPassword) > MaxPasswordLen {
		return 0, fmt.Errorf("%w: password too long", ErrInvalidRequest)
	}
	if err := checkNewPassword(r.NewPassword); err != nil {
		return 0, err
	}
	as, err := s.accountStore()
	if err != nil {
		return 0, err
	}
	acct, wait := s.reserve(ctx, accountKey(c.Email), s.cfg.LoginRate.PerAccount)
	if wait > 0 {
		s.record(ctx, audit.Event{Event: audit.EventPasswordChanged, Result: audit.Failure, Reason: loginRateLimited,
			Actor: audit.ActorUser, UserID: c.Subject, SessionID: c.SessionID, ClientIP: r.ClientIP})
		return 0, &RateLimitError{RetryAfter: wait}
	}
	u, err := as.UserByID(ctx, c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: unknown user", ErrInvalidToken)
	}
	if err != nil {
		return 0, fmt.Errorf("issue: change password: %w", err)
	}
	ok, err := s.checkPassword(ctx, u.PasswordHash, r.CurrentPassword)
	if err != nil && !errors.Is(err, ErrBadHash) {
		return 0, fmt.Errorf("issue: change password: %w", err)
	}
	if !ok {
		s.record(ctx, audit.Event{Event: audit.EventPasswordChanged, Result: audit.Failure, Reason: loginWrongPass,
			Actor: audit.ActorUser, UserID: u.ID, Email: u.Email, SessionID: c.SessionID, ClientIP: r.ClientIP})
		return 0, ErrInvalidCredentials
	}
	s.release(ctx, acct)
	hash, err := s.hashNew(ctx, r.NewPassword)
	if err != nil {
		return 0, err
	}
	res, err := as.SetPassword(ctx, u.ID, hash, c.SessionID, s.now())
	if err != nil {
		return 0, fmt.Errorf("issue: change password: %w", err)
	}
	s.revoked(ctx, res)
	s.record(ctx, audit.Event{Event: audit.EventPasswordChanged, Result: audit.Success, Actor: audit.ActorUser,
		UserID: u.ID, Email: u.Email, SessionID: c.SessionID, SessionIDs: sessionIDs(res), ClientIP: r.ClientIP})
	return len(res.Revocations), nil
}

// revoked counts a revocation and writes it through to Redis.
func (s *Service) revoked(ctx context.Context, res store.RevokeResult) {
	s.countRevocations(res)
	s.cacheRevoke(ctx, res)
}

// SetPassword sets the user's password (an operator's command) and revokes every
// session of the user. It returns how many were revoked.
func (s *Service) SetPassword(ctx context.Context, email, password string) (int, error) {
	if err := checkNewPassword(password); err != nil {
		return 0, err
	}
	as, err := s.accountStore()
	if err != nil {
		return 0, err
	}
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return 0, err
	}
	hash, err := s.hashNew(ctx, password)
	if err != nil {
		return 0, err
	}
	res, err := as.SetPassword(ctx, u.ID, hash, "", s.now())
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: %s", ErrUnknownUser, email)
	}
	if err != nil {
		return 0, fmt.Errorf("issue: set password: %w", err)
	}
	s.revoked(ctx, res)
	s.record(ctx, audit.Event{Event: audit.EventPasswordChanged, Result: audit.Success, Actor: audit.ActorAdmin,
		UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res)})
	return len(res.Revocations), nil
}

// SetRoles replaces the user's roles (cleaned as AddUser's) and revokes every session
// of the user, so that no token with the old roles is honoured any more (the user
// signs in again to get the new ones). It returns the roles as stored (trimmed,
// de-duplicated) and how many sessions were revoked.
func (s *Service) SetRoles(ctx context.Context, email string, roles []string) ([]string, int, error) {
	roles, err := cleanRoles(roles)
	if err != nil {
		return nil, 0, err
	}
	as, err := s.accountStore()
	if err != nil {
		return nil, 0, err
	}
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return nil, 0, err
	}
	if err := as.SetUserRoles(ctx, u.ID, roles); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, fmt.Errorf("%w: %s", ErrUnknownUser, email)
		}
		return nil, 0, fmt.Errorf("issue: set roles: %w", err)
	}
	res, err := s.revokeUser(ctx, u.ID, store.ReasonRolesChanged)
	if err != nil {
		return nil, 0, err
	}
	s.record(ctx, audit.Event{Event: audit.EventRolesChanged, Result: audit.Success, Actor: audit.ActorAdmin,
		UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res),
		Attrs: []slog.Attr{slog.Any("old_roles", u.Roles), slog.Any("roles", roles)}})
	return roles, len(res.Revocations), nil
}

// DeleteUser deletes the user, after revoking every session (written through to
// Redis and published, so verifiers stop honouring them at once). It returns how
// many sessions were revoked. Unknown email: ErrUnknownUser.
func (s *Service) DeleteUser(ctx context.Context, email string) (int, error) {
	as, err := s.accountStore()
	if err != nil {
		return 0, err
	}
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return 0, err
	}
	res, err := as.DeleteUser(ctx, u.ID, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: %s", ErrUnknownUser, email)
	}
	if err != nil {
		return 0, fmt.Errorf("issue: delete user: %w", err)
	}
	s.revoked(ctx, res)
	s.record(ctx, audit.Event{Event: audit.EventUserDeleted, Result: audit.Success, Actor: audit.ActorAdmin,
		UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res)})
	return len(res.Revocations), nil
}

// ResetMFA removes every second factor of the user (an operator's command, for a
// lost phone or key): the TOTP factor and its recovery codes, every passkey, and the
// pending second steps of logins; then it revokes every session of the user, so the
// user signs in again with the password alone. It returns how many factors and
// sessions it removed. Unknown email: ErrUnknownUser.
func (s *Service) ResetMFA(ctx context.Context, email string) (factors, sessions int, err error) {
	if s.factors == nil {
		return 0, 0, ErrMFAUnsupported
	}
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return 0, 0, err
	}
	n, err := s.factors.DeleteFactors(ctx, u.ID)
	if err != nil {
		return 0, 0, fmt.Errorf("issue: reset mfa: %w", err)
	}
	res, err := s.revokeUser(ctx, u.ID, store.ReasonMFAReset)
	if err != nil {
		return n, 0, err
	}
	s.record(ctx, audit.Event{Event: audit.EventFactorRemoved, Result: audit.Success, Actor: audit.ActorAdmin,
		UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res),
		Attrs: []slog.Attr{slog.String("method", "all"), slog.Int("factors", n)}})
	return n, len(res.Revocations), nil
}

// ListUsers returns every user, ordered by email.
func (s *Service) ListUsers(ctx context.Context) ([]store.User, error) {
	as, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	list, err := as.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("issue: list users: %w", err)
	}
	return list, nil
}

// ResetLink is a one-time password reset link for an operator to hand over.
type ResetLink struct {
	URL       string // the issuer's PathReset with the token; shown once, stored only hashed
	ExpiresAt time.Time
}

// CreateResetLink makes a one-time link, valid ResetLinkTTL, with which the user
// chooses a new password; an earlier link of the user stops working.
func (s *Service) CreateResetLink(ctx context.Context, email string) (ResetLink, error) {
	as, err := s.accountStore()
	if err != nil {
		return ResetLink{}, err
	}
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return ResetLink{}, err
	}
	tok := newRefreshToken() // 256 random bits, base64url
	now := s.now()
	exp := now.Add(ResetLinkTTL)
	hash := TokenHash(tok)
	if err := as.CreatePasswordReset(ctx, store.PasswordReset{Hash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: exp}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ResetLink{}, fmt.Errorf("%w: %s", ErrUnknownUser, email)
		}
		return ResetLink{}, fmt.Errorf("issue: create reset link: %w", err)
	}
	s.record(ctx, audit.Event{Event: audit.EventResetLinkCreated, Result: audit.Success, Actor: audit.ActorAdmin,
		UserID: u.ID, Email: u.Email, Attrs: []slog.Attr{slog.String("token_hash", hashPrefix(hash)),
			slog.String("expires_at", exp.UTC().Format(time.RFC3339))}})
	return ResetLink{URL: strings.TrimRight(s.cfg.IssuerURL, "/") + PathReset + "?token=" + url.QueryEscape(tok), ExpiresAt: exp}, nil
}

// ResetPasswordRequest is the new password chosen through a reset link.
type ResetPasswordRequest struct {
	Token       string // the link's token parameter
	NewPassword string
	ClientIP    netip.Addr
}

// ResetPassword spends a reset link: it sets the new password and revokes every
// session of the user. An unknown, expired or used link is ErrInvalidResetLink.
// Attempts are throttled per client address like logins.
func (s *Service) ResetPassword(ctx context.Context, r ResetPasswordRequest) error {
	if r.Token == "" || r.NewPassword == "" {
		return fmt.Errorf("%w: token and new_password are required", ErrInvalidRequest)
	}
	if err := checkNewPassword(r.NewPassword); err != nil {
		return err
	}
	as, err := s.accountStore()
	if err != nil {
		return err
	}
	fail := func(reason string) error {
		s.record(ctx, audit.Event{Event: audit.EventResetLinkUsed, Result: audit.Failure, Reason: reason, ClientIP: r.ClientIP,
			Attrs: []slog.Attr{slog.String("token_hash", hashPrefix(TokenHash(r.Token)))}})
		return ErrInvalidResetLink
	}
	if _, wait := s.reserve(ctx, ipKey("reset", r.ClientIP), s.cfg.LoginRate.PerIP); wait > 0 {
		s.record(ctx, audit.Event{Event: audit.EventResetLinkUsed, Result: audit.Failure, Reason: loginRateLimited, ClientIP: r.ClientIP})
		return &RateLimitError{RetryAfter: wait}
	}
	if !wellFormedRefresh(r.Token) {
		return fail("malformed")
	}
	hash, err := s.hashNew(ctx, r.NewPassword)
	if err != nil {
		return err
	}
	u, res, err := as.UsePasswordReset(ctx, TokenHash(r.Token), hash, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail("unknown")
	case errors.Is(err, store.ErrTokenReused):
		return fail("used")
	case errors.Is(err, store.ErrTokenExpired):
		return fail("expired")
	case err != nil:
		return fmt.Errorf("issue: reset password: %w", err)
	}
	s.revoked(ctx, res)
	s.record(ctx, audit.Event{Event: audit.EventResetLinkUsed, Result: audit.Success, UserID: u.ID, Email: u.Email,
		SessionIDs: sessionIDs(res), ClientIP: r.ClientIP, Attrs: []slog.Attr{slog.String("token_hash", hashPrefix(TokenHash(r.Token)))}})
	s.record(ctx, audit.Event{Event: audit.EventPasswordChanged, Result: audit.Success, Actor: audit.ActorUser, Reason: "reset_link",
		UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res), ClientIP: r.ClientIP})
	return nil
}

// needsRehash reports whether a stored hash was made with weaker parameters than
// Config.Password (less memory, fewer passes or lanes, a shorter salt or key).
func (s *Service) needsRehash(phc string) bool {
	ph, err := parsePHC(phc)
	if err != nil {
		return false
	}
	p, want := ph.params, s.cfg.Password
	return p.Memory < want.Memory || p.Time < want.Time || p.Threads < want.Threads ||
		p.SaltLen < want.SaltLen || p.KeyLen < want.KeyLen
}

// rehash upgrades a user's hash after a successful login when the argon2
// parameters were raised. It never fails the login: an error is logged.
func (s *Service) rehash(ctx context.Context, u store.User, password string) {
	if !s.needsRehash(u.PasswordHash) {
		return
	}
	as, err := s.accountStore()
	if err != nil {
		return
	}
	hash, err := s.hashNew(ctx, password)
	if err != nil {
		s.log.Warn("password rehash failed", "user", u.ID, "err", err)
		return
	}
	// Only if the hash is still the one checked: a password changed meanwhile wins.
	ok, err := as.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, hash)
	if err != nil {
		s.log.Warn("password rehash failed", "user", u.ID, "err", err)
		return
	}
	if ok {
		s.m.rehashes.Inc()
		s.log.Info("password hash upgraded to the configured argon2 parameters", "user", u.ID)
	}
}
