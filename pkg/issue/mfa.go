package issue

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Errors of the second factor.
var (
	// ErrMFARequired: the password was right, the user has a second factor; the error
	// is an *MFARequiredError carrying the mfa_token.
	ErrMFARequired = errors.New("issue: second factor required")
	// ErrInvalidMFAToken: the mfa_token is unknown, expired or already used.
	ErrInvalidMFAToken = errors.New("issue: invalid mfa_token")
	// ErrInvalidCode: the code is wrong, of another time step, already used, or an
	// unknown or used recovery code.
	ErrInvalidCode = errors.New("issue: invalid code")
	// ErrFactorExists: the user already has a confirmed TOTP factor.
	ErrFactorExists = errors.New("issue: second factor already enabled")
	// ErrNoFactor: nothing to confirm or remove.
	ErrNoFactor = errors.New("issue: no second factor")
	// ErrMFAUnsupported: the store keeps no second factors.
	ErrMFAUnsupported = errors.New("issue: the store does not keep second factors")
)

// MFARequiredError is a login whose password was right for a user with a second
// factor: finish it with LoginMFA and Token before ExpiresAt.
type MFARequiredError struct {
	Token     string
	Methods   []string // "otp" (a TOTP code), "webauthn" (a passkey)
	ExpiresAt time.Time
}

func (e *MFARequiredError) Error() string { return ErrMFARequired.Error() }

// Unwrap makes errors.Is(err, ErrMFARequired) hold.
func (e *MFARequiredError) Unwrap() error { return ErrMFARequired }

// Second-factor parameters.
const (
	MFATokenTTL       = 5 * time.Minute // how long the second step of a login may take
	RecoveryCodeCount = 10
	totpPeriod        = 30 // seconds (RFC 6238 default; what authenticator apps assume)
	totpDigits        = otp.DigitsSix
	mfaTokenBytes     = 32
)

// amrMFA are the RFC 8176 values a TOTP (or recovery code) adds to a first factor.
var amrOTP = []string{"otp", "mfa"}

// FactorStatus is what the account page shows about the user's second factor.
type FactorStatus struct {
	TOTP          bool // confirmed
	Pending       bool // enrolled, waiting for the first code
	RecoveryCodes int  // unused
}

// TOTPEnrolment is a pending factor: the secret (base32) and its otpauth:// URL (the
// QR code's content).
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
}

// sealer seals TOTP secrets: AES-256-GCM, bound to the user id.
type sealer struct{ aead cipher.AEAD }

func (s *sealer) seal(userID string, secret []byte) []byte {
	nonce := randomBytes(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, secret, []byte(userID))
}

func (s *sealer) open(userID string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("issue: sealed TOTP secret too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(userID))
	if err != nil {
		return nil, errors.New("issue: TOTP secret does not open with the configured key (wrong --totp-key-file?)")
	}
	return out, nil
}

// loadSealer reads (creating when missing, mode 0600) the 32-byte TOTP key file. A
// file others can read, or of another size, is refused.
func loadSealer(path string) (*sealer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("issue: TOTP key: %w", err)
		}
		b = randomBytes(32)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("issue: TOTP key: %w", err)
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("issue: TOTP key: %w", werr)
		}
	} else if err != nil {
		return nil, fmt.Errorf("issue: TOTP key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("issue: TOTP key %s: mode %v, want 0600 (readable by others)", path, fi.Mode().Perm())
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("issue: TOTP key %s: %d bytes, want 32", path, len(b))
	}
	blk, err := aes.NewCipher(b)
	if err != nil {
		return nil, fmt.Errorf("issue: TOTP key: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("issue: TOTP key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// mfaReady reports whether second factors can be used.
func (s *Service) mfaReady() error {
	if s.factors == nil || s.sealer == nil {
		return ErrMFAUnsupported
	}
	return nil
}

// Factors reports the user's second-factor state.
func (s *Service) Factors(ctx context.Context, userID string) (FactorStatus, error) {
	var st FactorStatus
	if err := s.mfaReady(); err != nil {
		return st, nil
	}
	t, err := s.factors.TOTP(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("issue: factors: %w", err)
	}
	st.TOTP, st.Pending = !t.ConfirmedAt.IsZero(), t.ConfirmedAt.IsZero()
	if st.TOTP {
		if st.RecoveryCodes, err = s.factors.RecoveryCodesLeft(ctx, userID); err != nil {
			return st, fmt.Errorf("issue: factors: %w", err)
		}
	}
	return st, nil
}

// secondFactors lists the methods of the user's second factors: "otp" for a
// confirmed TOTP factor, "webauthn" for a passkey; none: the password alone signs in.
func (s *Service) secondFactors(ctx context.Context, userID string) ([]string, error) {
	var methods []string
	if has, err := s.hasTOTP(ctx, userID); err != nil {
		return nil, err
	} else if has {
		methods = append(methods, MethodOTP)
	}
	if s.passkeysReady() == nil {
		list, err := s.factors.WebAuthnCredentials(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("issue: second factor: %w", err)
		}
		if len(list) > 0 {
			methods = append(methods, MethodWebAuthn)
		}
	}
	return methods, nil
}

// hasTOTP reports whether the user has a confirmed TOTP factor.
func (s *Service) hasTOTP(ctx context.Context, userID string) (bool, error) {
	if s.mfaReady() != nil {
		return false, nil
	}
	t, err := s.factors.TOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("issue: second factor: %w", err)
	}
	return !t.ConfirmedAt.IsZero(), nil
}

// EnrolTOTP starts (or restarts) the TOTP enrolment of the access token's user: a new
// secret, not required at login until ConfirmTOTP. ErrFactorExists when one is
// confirmed.
func (s *Service) EnrolTOTP(ctx context.Context, accessToken string) (TOTPEnrolment, error) {
	c, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return s.enrolTOTP(ctx, c)
}

func (s *Service) enrolTOTP(ctx context.Context, c Claims) (TOTPEnrolment, error) {
	if err := s.mfaReady(); err != nil {
		return TOTPEnrolment{}, err
	}
	issuer := s.cfg.IssuerURL
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		issuer = u.Hostname()
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: c.Email, Period: totpPeriod, Digits: totpDigits, SecretSize: 20,
	})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("issue: totp: %w", err)
	}
	err = s.factors.PutPendingTOTP(ctx, store.TOTP{
		UserID: c.Subject, Secret: s.sealer.seal(c.Subject, []byte(key.Secret())), CreatedAt: s.now(),
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return TOTPEnrolment{}, ErrFactorExists
	case errors.Is(err, store.ErrNotFound):
		return TOTPEnrolment{}, fmt.Errorf("%w: unknown user", ErrInvalidToken)
	case err != nil:
		return TOTPEnrolment{}, fmt.Errorf("issue: totp enrol: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// PendingTOTP returns the enrolment waiting for its first code, to show again (the
// account page re-renders it); ErrNoFactor when none is pending.
func (s *Service) pendingTOTP(ctx context.Context, c Claims) (TOTPEnrolment, error) {
	if err := s.mfaReady(); err != nil {
		return TOTPEnrolment{}, err
	}
	t, err := s.factors.TOTP(ctx, c.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && !t.ConfirmedAt.IsZero() {
		return TOTPEnrolment{}, ErrNoFactor
	}
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("issue: totp: %w", err)
	}
	secret, err := s.sealer.open(c.Subject, t.Secret)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	issuer := s.cfg.IssuerURL
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		issuer = u.Hostname()
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: c.Email, Period: totpPeriod, Digits: totpDigits, Secret: mustBase32(string(secret)),
	})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("issue: totp: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

func mustBase32(s string) []byte {
	b, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	return b
}

// ConfirmTOTP finishes the enrolment with a code from the authenticator: from then on
// the factor is required at login. It returns the recovery codes, shown once (only
// their hashes are kept). A wrong code counts against the account's login throttle.
func (s *Service) ConfirmTOTP(ctx context.Context, accessToken, code string, ip netip.Addr) ([]string, error) {
	c, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	return s.confirmTOTP(ctx, c, code, ip)
}

func (s *Service) confirmTOTP(ctx context.Context, c Claims, code string, ip netip.Addr) ([]string, error) {
	if err := s.mfaReady(); err != nil {
		return nil, err
	}
	if !wellFormedCode(code) {
		return nil, fmt.Errorf("%w: the code is 6 digits", ErrInvalidRequest)
	}
	t, err := s.factors.TOTP(ctx, c.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && !t.ConfirmedAt.IsZero() {
		return nil, ErrNoFactor
	}
	if err != nil {
		return nil, fmt.Errorf("issue: totp confirm: %w", err)
	}
	acct, wait := s.reserve(ctx, accountKey(c.Email), s.cfg.LoginRate.PerAccount)
	if wait > 0 {
		return nil, &RateLimitError{RetryAfter: wait}
	}
	step, ok, err := s.matchTOTP(c.Subject, t, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidCode
	}
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = TokenHash(normRecovery(codes[i]))
	}
	err = s.factors.ConfirmTOTP(ctx, c.Subject, step, hashes, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNoFactor
	case errors.Is(err, store.ErrConflict):
		return nil, ErrInvalidCode
	case err != nil:
		return nil, fmt.Errorf("issue: totp confirm: %w", err)
	}
	s.release(ctx, acct)
	s.record(ctx, audit.Event{Event: audit.EventFactorAdded, Result: audit.Success, Actor: audit.ActorUser,
		UserID: c.Subject, Email: c.Email, SessionID: c.SessionID, ClientIP: ip,
		Attrs: []slog.Attr{slog.String("method", "totp")}})
	return codes, nil
}

// RemoveTOTP removes the access token's user's TOTP factor (and recovery codes); a
// current code or an unused recovery code proves the factor is in hand.
func (s *Service) RemoveTOTP(ctx context.Context, accessToken, code string, ip netip.Addr) error {
	c, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	return s.removeTOTP(ctx, c, code, ip)
}

func (s *Service) removeTOTP(ctx context.Context, c Claims, code string, ip netip.Addr) error {
	if err := s.mfaReady(); err != nil {
		return err
	}
	if has, err := s.hasTOTP(ctx, c.Subject); err != nil {
		return err
	} else if !has {
		return ErrNoFactor
	}
	if err := s.checkSecondFactor(ctx, c.Subject, c.Email, code, ip); err != nil {
		return err
	}
	err := s.factors.DeleteTOTP(ctx, c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoFactor
	}
	if err != nil {
		return fmt.Errorf("issue: totp remove: %w", err)
	}
	s.record(ctx, audit.Event{Event: audit.EventFactorRemoved, Result: audit.Success, Actor: audit.ActorUser,
		UserID: c.Subject, Email: c.Email, SessionID: c.SessionID, ClientIP: ip,
		Attrs: []slog.Attr{slog.String("method", "totp")}})
	return nil
}

// matchTOTP checks code against the current and the previous time step and returns
// the step it matched. It does not record the step (the caller does, once).
func (s *Service) matchTOTP(userID string, t store.TOTP, code string) (int64, bool, error) {
	secret, err := s.sealer.open(userID, t.Secret)
	if err != nil {
		s.log.Error("totp secret unusable", "user", userID, "err", err)
		return 0, false, err
	}
	now := s.now().Unix() / totpPeriod
	var matched int64
	for _, step := range []int64{now, now - 1} {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0).UTC(),
			totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, fmt.Errorf("issue: totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && matched == 0 {
			matched = step
		}
	}
	return matched, matched != 0, nil
}

// checkSecondFactor accepts a TOTP code (each time step once) or an unused recovery
// code of the user. Every attempt takes one event from the account's login bucket;
// a success gives it back.
func (s *Service) checkSecondFactor(ctx context.Context, userID, email, code string, ip netip.Addr) error {
	acct, wait := s.reserve(ctx, accountKey(email), s.cfg.LoginRate.PerAccount)
	if wait > 0 {
		return &RateLimitError{RetryAfter: wait}
	}
	switch {
	case wellFormedCode(code):
		t, err := s.factors.TOTP(ctx, userID)
		if errors.Is(err, store.ErrNotFound) || err == nil && t.ConfirmedAt.IsZero() {
			return ErrInvalidCode
		}
		if err != nil {
			return fmt.Errorf("issue: second factor: %w", err)
		}
		step, ok, err := s.matchTOTP(userID, t, code)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidCode
		}
		err = s.factors.UseTOTPStep(ctx, userID, step)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			s.log.Debug("totp code replayed", "user", userID)
			return ErrInvalidCode
		}
		if err != nil {
			return fmt.Errorf("issue: second factor: %w", err)
		}
	case wellFormedRecovery(code):
		err := s.factors.UseRecoveryCode(ctx, userID, TokenHash(normRecovery(code)), s.now())
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidCode
		}
		if err != nil {
			return fmt.Errorf("issue: second factor: %w", err)
		}
		left, _ := s.factors.RecoveryCodesLeft(ctx, userID)
		s.record(ctx, audit.Event{Event: audit.EventRecoveryCodeUsed, Result: audit.Success, Actor: audit.ActorUser,
			UserID: userID, Email: email, ClientIP: ip, Attrs: []slog.Attr{slog.Int("left", left)}})
	default:
		return fmt.Errorf("%w: the code is 6 digits or a recovery code", ErrInvalidRequest)
	}
	s.release(ctx, acct)
	return nil
}

func wellFormedCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Recovery codes: 10 characters of base32 (50 bits), shown as xxxxx-xxxxx; matched
// case-insensitively, with or without the dash.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newRecoveryCode() string {
	s := recoveryEncoding.EncodeToString(randomBytes(7))[:10]
	return s[:5] + "-" + s[5:]
}

func normRecovery(code string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
}

func wellFormedRecovery(code string) bool {
	n := normRecovery(code)
	if len(n) != 10 {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// startMFA records the pending second step of a login and returns the error that
// carries its token.
func (s *Service) startMFA(ctx context.Context, u store.User, amr, methods []string, replaces, ua string, ip netip.Addr) error {
	tok := newRefreshToken() // the same shape: 256 random bits, base64url
	now := s.now()
	c := store.MFAChallenge{
		Hash: TokenHash(tok), UserID: u.ID, AMR: amr, SessionID: replaces,
		UserAgent: cleanUserAgent(ua), IP: ipString(ip), CreatedAt: now, ExpiresAt: now.Add(MFATokenTTL),
	}
	if err := s.factors.CreateMFAChallenge(ctx, c); err != nil {
		return fmt.Errorf("issue: login: %w", err)
	}
	return &MFARequiredError{Token: tok, Methods: methods, ExpiresAt: c.ExpiresAt}
}

// LoginMFARequest is the second step of a login.
type LoginMFARequest struct {
	MFAToken  string
	Code      string // 6 digits, or a recovery code
	ClientIP  netip.Addr
	UserAgent string
}

// LoginMFA finishes a login that answered ErrMFARequired: the mfa_token must be live
// and unused, the code right (a TOTP time step is accepted once; a recovery code
// once). A wrong code leaves the mfa_token usable until it expires, and counts against
// the account's login throttle; a right one uses it up. The session carries the
// first step's amr plus otp and mfa. For a step-up (the token names a session) the
// old session ends.
func (s *Service) LoginMFA(ctx context.Context, r LoginMFARequest) (TokenPair, error) {
	if r.MFAToken == "" || r.Code == "" {
		return TokenPair{}, fmt.Errorf("%w: mfa_token and code are required", ErrInvalidRequest)
	}
	if s.keys == nil {
		return TokenPair{}, ErrNoKey
	}
	if err := s.mfaReady(); err != nil {
		return TokenPair{}, err
	}
	if _, wait := s.reserve(ctx, ipKey("login", r.ClientIP), s.cfg.LoginRate.PerIP); wait > 0 {
		return TokenPair{}, &RateLimitError{RetryAfter: wait}
	}
	if !wellFormedRefresh(r.MFAToken) {
		return TokenPair{}, ErrInvalidMFAToken
	}
	hash := TokenHash(r.MFAToken)
	ch, err := s.factors.MFAChallenge(ctx, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return TokenPair{}, ErrInvalidMFAToken
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("issue: login: %w", err)
	}
	user, err := s.store.UserByID(ctx, ch.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return TokenPair{}, ErrInvalidMFAToken
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("issue: login: %w", err)
	}
	if err := s.checkSecondFactor(ctx, user.ID, user.Email, r.Code, r.ClientIP); err != nil {
		if errors.Is(err, ErrInvalidCode) {
			s.m.logins[loginWrongCode].Inc()
			s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: loginWrongCode,
				UserID: user.ID, Email: user.Email, ClientIP: r.ClientIP, UserAgent: r.UserAgent})
		}
		return TokenPair{}, err
	}
	return s.finishMFA(ctx, hash, user, amrOTP, r.UserAgent, r.ClientIP)
}

// finishMFA takes the pending login of hash (once) after its second factor passed,
// and opens the session: the first step's amr plus add. For a step-up (the challenge
// names a session) the old session ends.
func (s *Service) finishMFA(ctx context.Context, hash string, user store.User, add []string, userAgent string, ip netip.Addr) (TokenPair, error) {
	ch, err := s.factors.TakeMFAChallenge(ctx, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return TokenPair{}, ErrInvalidMFAToken // a racing request took it
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("issue: login: %w", err)
	}
	if user.Disabled {
		return TokenPair{}, ErrInvalidCredentials
	}
	amr := slices.Clone(ch.AMR)
	for _, m := range add {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	pair, err := s.openSession(ctx, user, amr, userAgent, ip)
	if err != nil {
		return TokenPair{}, err
	}
	if ch.SessionID != "" {
		if _, err := s.revokeSession(ctx, ch.SessionID, store.ReasonLogout); err != nil {
			s.log.Warn("step-up: old session not revoked", "session", ch.SessionID, "err", err)
		}
	}
	return pair, nil
}

// StepUp starts the second step for the live session of accessToken (whose amr lacks
// mfa): it answers an *MFARequiredError whose token LoginMFA takes; the session that
// LoginMFA opens replaces this one. ErrNoFactor when the user has no second factor.
func (s *Service) StepUp(ctx context.Context, accessToken, userAgent string, ip netip.Addr) error {
	c, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	if err := s.mfaReady(); err != nil {
		return err
	}
	methods, err := s.secondFactors(ctx, c.Subject)
	if err != nil {
		return err
	}
	if len(methods) == 0 {
		return ErrNoFactor
	}
	amr := c.AMR
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	return s.startMFA(ctx, store.User{ID: c.Subject, Email: c.Email}, amr, methods, c.SessionID, userAgent, ip)
}
