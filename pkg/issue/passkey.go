package issue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Passkeys (WebAuthn): a signed-in user registers several, named; a passkey signs in
// alone (a discoverable credential: the browser offers the user's passkeys, no email
// typed) or as the second step after a password or for a step-up. The issuer is the
// relying party: RP ID Config.WebAuthnRPID (default the issuer URL's host), origin the
// issuer URL's. A ceremony's challenge is kept in the store by its hash until the
// answer comes back (taken once, so a replayed answer finds nothing), so any replica
// finishes what another began.
//
// amr (RFC 8176): "hwk" for a key that cannot leave its authenticator, "swk" for a
// backup-eligible (synced) one; with the user verified (PIN, biometrics) a passkey
// alone is two factors and adds "mfa"; after a password it is the second factor and
// adds "mfa" whatever the user verification.

// Errors of passkeys.
var (
	// ErrPasskeyRefused: the ceremony's answer is unknown, expired, already used, for
	// another origin or RP ID, of an unknown credential, badly signed, or its
	// signature counter went backwards.
	ErrPasskeyRefused = errors.New("issue: passkey refused")
	// ErrPasskeysOff: passkeys are unavailable (the store keeps no factors, or the
	// issuer URL's host is an IP address, which WebAuthn does not accept as RP ID).
	ErrPasskeysOff = errors.New("issue: passkeys are not available")
	// ErrStepUpNeeded: removing a factor needs a session that showed a second factor.
	ErrStepUpNeeded = errors.New("issue: sign in with your second factor first")
)

const (
	ceremonyTTL    = 5 * time.Minute
	maxPasskeyName = 64
	// amrHWK and amrSWK are RFC 8176's proof of possession of a hardware- or
	// software-secured key.
	amrHWK = "hwk"
	amrSWK = "swk"
	// MethodWebAuthn is the mfa_required method of a passkey.
	MethodWebAuthn = "webauthn"
	// MethodOTP is the mfa_required method of a TOTP code.
	MethodOTP = "otp"
)

// Passkey is a registered passkey as the account page lists it.
type Passkey struct {
	ID         string // base64url of the credential id
	Name       string
	Synced     bool // backup eligible: kept by a password manager or platform account
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used to sign in
}

// newRelyingParty builds the WebAuthn relying party from the config; nil (passkeys
// off) when the RP ID is an IP address.
func newRelyingParty(cfg Config) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("issue: passkeys: %w", err)
	}
	rpID := cfg.WebAuthnRPID
	if rpID == "" {
		rpID = u.Hostname()
	}
	if net.ParseIP(rpID) != nil {
		return nil, nil
	}
	timeout := webauthn.TimeoutConfig{Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL}
	return webauthn.New(&webauthn.Config{
		RPID:                  rpID,
		RPDisplayName:         rpID,
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
}

// rpUser is a user as the WebAuthn library sees it. The user handle is the user id (a
// random UUID: no personal data goes to the authenticator but the email as name).
type rpUser struct {
	id, email string
	creds     []webauthn.Credential
}

func (u *rpUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *rpUser) WebAuthnName() string                       { return u.email }
func (u *rpUser) WebAuthnDisplayName() string                { return u.email }
func (u *rpUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func libCredential(c store.WebAuthnCredential) webauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		ts[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: c.ID, PublicKey: c.PublicKey, AttestationFormat: c.AttestationFormat, Transport: ts,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: c.UserVerified,
			BackupEligible: c.BackupEligible, BackupState: c.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

func (s *Service) passkeysReady() error {
	if s.factors == nil || s.rp == nil {
		return ErrPasskeysOff
	}
	return nil
}

// rpUserOf loads the user's passkeys for the library.
func (s *Service) rpUserOf(ctx context.Context, id, email string) (*rpUser, []store.WebAuthnCredential, error) {
	list, err := s.factors.WebAuthnCredentials(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("issue: passkeys: %w", err)
	}
	u := &rpUser{id: id, email: email}
	for _, c := range list {
		u.creds = append(u.creds, libCredential(c))
	}
	return u, list, nil
}

// Passkeys lists the user's passkeys, oldest first (none when passkeys are off).
func (s *Service) Passkeys(ctx context.Context, userID string) ([]Passkey, error) {
	if s.passkeysReady() != nil {
		return nil, nil
	}
	list, err := s.factors.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("issue: passkeys: %w", err)
	}
	out := make([]Passkey, len(list))
	for i, c := range list {
		out[i] = Passkey{ID: credID(c.ID), Name: c.Name, Synced: c.BackupEligible, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt}
	}
	return out, nil
}

func credID(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// beginCeremony stores the ceremony of session sd and returns options as the JSON the
// browser's navigator.credentials call takes (binary fields base64url).
func (s *Service) beginCeremony(ctx context.Context, purpose, userID, ref string, sd *webauthn.SessionData, options any) ([]byte, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	err = s.factors.CreateWebAuthnCeremony(ctx, store.WebAuthnCeremony{
		Hash: TokenHash(sd.Challenge), Purpose: purpose, UserID: userID, Ref: ref, Data: data,
		ExpiresAt: s.now().Add(ceremonyTTL),
	})
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	return opts, nil
}

// takeCeremony takes the ceremony whose challenge the browser signed (once; not
// after it expired) and checks it is of purpose.
func (s *Service) takeCeremony(ctx context.Context, challenge, purpose string) (store.WebAuthnCeremony, webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if challenge == "" {
		return store.WebAuthnCeremony{}, sd, fmt.Errorf("%w: no challenge", ErrPasskeyRefused)
	}
	c, err := s.factors.TakeWebAuthnCeremony(ctx, TokenHash(challenge), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return c, sd, fmt.Errorf("%w: unknown, expired or used challenge", ErrPasskeyRefused)
	}
	if err != nil {
		return c, sd, fmt.Errorf("issue: passkey: %w", err)
	}
	if c.Purpose != purpose {
		return c, sd, fmt.Errorf("%w: a %s challenge answered as %s", ErrPasskeyRefused, c.Purpose, purpose)
	}
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return c, sd, fmt.Errorf("issue: passkey: ceremony data: %w", err)
	}
	return c, sd, nil
}

// BeginPasskeyRegistration starts adding a passkey for the signed-in user of c: it
// returns the options for navigator.credentials.create (a discoverable credential,
// user verification preferred, no attestation; the user's passkeys excluded).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, c Claims) ([]byte, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	u, _, err := s.rpUserOf(ctx, c.Subject, c.Email)
	if err != nil {
		return nil, err
	}
	creation, sd, err := s.rp.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	return s.beginCeremony(ctx, store.CeremonyRegister, c.Subject, c.SessionID, sd, creation.Response)
}

// FinishPasskeyRegistration checks the browser's answer (the PublicKeyCredential as
// JSON) to a registration begun for the same user and stores the passkey as name.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, c Claims, name string, response []byte, ip netip.Addr) (Passkey, error) {
	if err := s.passkeysReady(); err != nil {
		return Passkey{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxPasskeyName || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		return Passkey{}, fmt.Errorf("%w: a passkey's name is 1 to %d characters", ErrInvalidRequest, maxPasskeyName)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, s.passkeyFailure(ctx, c.Subject, c.Email, ip, "register", fmt.Errorf("%w: %v", ErrPasskeyRefused, err))
	}
	cer, sd, err := s.takeCeremony(ctx, parsed.Response.CollectedClientData.Challenge, store.CeremonyRegister)
	if err != nil {
		return Passkey{}, s.passkeyFailure(ctx, c.Subject, c.Email, ip, "register", err)
	}
	if cer.UserID != c.Subject {
		return Passkey{}, s.passkeyFailure(ctx, c.Subject, c.Email, ip, "register", fmt.Errorf("%w: the ceremony is another user's", ErrPasskeyRefused))
	}
	u, _, err := s.rpUserOf(ctx, c.Subject, c.Email)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := s.rp.CreateCredential(u, sd, parsed)
	if err != nil {
		return Passkey{}, s.passkeyFailure(ctx, c.Subject, c.Email, ip, "register", fmt.Errorf("%w: %v", ErrPasskeyRefused, err))
	}
	ts := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		ts[i] = string(t)
	}
	now := s.now()
	sc := store.WebAuthnCredential{
		ID: cred.ID, UserID: c.Subject, Name: name, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		Transports: ts, AAGUID: cred.Authenticator.AAGUID, AttestationFormat: cred.AttestationFormat,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		CreatedAt: now,
	}
	err = s.factors.AddWebAuthnCredential(ctx, sc)
	switch {
	case errors.Is(err, store.ErrConflict):
		return Passkey{}, fmt.Errorf("%w: this passkey is registered already", ErrPasskeyRefused)
	case errors.Is(err, store.ErrNotFound):
		return Passkey{}, fmt.Errorf("%w: unknown user", ErrInvalidToken)
	case err != nil:
		return Passkey{}, fmt.Errorf("issue: passkey: %w", err)
	}
	s.record(ctx, audit.Event{Event: audit.EventFactorAdded, Result: audit.Success, Actor: audit.ActorUser,
		UserID: c.Subject, Email: c.Email, SessionID: c.SessionID, ClientIP: ip,
		Attrs: []slog.Attr{slog.String("method", MethodWebAuthn), slog.String("name", name), slog.String("credential", credID(cred.ID))}})
	return Passkey{ID: credID(cred.ID), Name: name, Synced: sc.BackupEligible, CreatedAt: now}, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// RemovePasskey removes one of the user's passkeys (id: base64url). The session must
// have shown a second factor (its amr has mfa): a stolen password alone does not
// strip the account of its factors. Removing the last factor lets the password alone
// sign in again, as turning TOTP off does.
func (s *Service) RemovePasskey(ctx context.Context, c Claims, id string, ip netip.Addr) error {
	if err := s.passkeysReady(); err != nil {
		return err
	}
	if !slices.Contains(c.AMR, "mfa") {
		return ErrStepUpNeeded
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 {
		return ErrNoFactor
	}
	err = s.factors.DeleteWebAuthnCredential(ctx, c.Subject, raw)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoFactor
	}
	if err != nil {
		return fmt.Errorf("issue: passkey remove: %w", err)
	}
	s.record(ctx, audit.Event{Event: audit.EventFactorRemoved, Result: audit.Success, Actor: audit.ActorUser,
		UserID: c.Subject, Email: c.Email, SessionID: c.SessionID, ClientIP: ip,
		Attrs: []slog.Attr{slog.String("method", MethodWebAuthn), slog.String("credential", id)}})
	return nil
}

// BeginPasskeyLogin starts a sign-in with a passkey alone: options for
// navigator.credentials.get with no allow list (the browser offers the passkeys it
// holds for the RP ID). Each call takes one event from the client address's login
// bucket: an unauthenticated caller cannot fill the store with ceremonies.
func (s *Service) BeginPasskeyLogin(ctx context.Context, ip netip.Addr) ([]byte, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	if _, wait := s.reserve(ctx, ipKey("passkey", ip), s.cfg.LoginRate.PerIP); wait > 0 {
		return nil, &RateLimitError{RetryAfter: wait}
	}
	assertion, sd, err := s.rp.BeginDiscoverableLogin()
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	return s.beginCeremony(ctx, store.CeremonyLogin, "", "", sd, assertion.Response)
}

// PasskeyLoginRequest is the browser's answer to BeginPasskeyLogin or
// BeginPasskeyMFA.
type PasskeyLoginRequest struct {
	Response  []byte // the PublicKeyCredential as JSON
	MFAToken  string // BeginPasskeyMFA's: the mfa_token of the login it finishes
	ClientIP  netip.Addr
	UserAgent string
}

// FinishPasskeyLogin checks the answer to a BeginPasskeyLogin and opens a session
// whose amr is hwk or swk, plus mfa when the authenticator verified the user. Every
// attempt takes one event from the client address's login bucket and, once the user
// is known, from the account's (a success gives that back).
func (s *Service) FinishPasskeyLogin(ctx context.Context, r PasskeyLoginRequest) (TokenPair, error) {
	if err := s.passkeysReady(); err != nil {
		return TokenPair{}, err
	}
	if s.keys == nil {
		return TokenPair{}, ErrNoKey
	}
	if _, wait := s.reserve(ctx, ipKey("login", r.ClientIP), s.cfg.LoginRate.PerIP); wait > 0 {
		s.m.logins[loginRateLimited].Inc()
		return TokenPair{}, &RateLimitError{RetryAfter: wait}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(r.Response)
	if err != nil {
		return TokenPair{}, s.passkeyFailure(ctx, "", "", r.ClientIP, "login", fmt.Errorf("%w: %v", ErrPasskeyRefused, err))
	}
	_, sd, err := s.takeCeremony(ctx, parsed.Response.CollectedClientData.Challenge, store.CeremonyLogin)
	if err != nil {
		return TokenPair{}, s.passkeyFailure(ctx, "", "", r.ClientIP, "login", err)
	}
	var (
		user  store.User
		creds []store.WebAuthnCredential
	)
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		u, err := s.store.UserByID(ctx, string(userHandle))
		if err != nil {
			return nil, err
		}
		ru, list, err := s.rpUserOf(ctx, u.ID, u.Email)
		if err != nil {
			return nil, err
		}
		user, creds = u, list
		return ru, nil
	}
	return s.finishAssertion(ctx, r, parsed, func(p *protocol.ParsedCredentialAssertionData) (*webauthn.Credential, error) {
		_, cred, err := s.rp.ValidatePasskeyLogin(handler, sd, p)
		return cred, err
	}, &user, &creds, nil)
}

// finishAssertion is the end of every passkey sign-in: validate (which fills in user
// and creds), throttle the account, refuse a signature counter that did not grow
// (audited: a cloned key, or a replayed answer), record the use, and open the session
// (or, with ch, finish the pending login ch).
func (s *Service) finishAssertion(ctx context.Context, r PasskeyLoginRequest, parsed *protocol.ParsedCredentialAssertionData,
	validate func(*protocol.ParsedCredentialAssertionData) (*webauthn.Credential, error),
	user *store.User, creds *[]store.WebAuthnCredential, ch *store.MFAChallenge) (TokenPair, error) {
	cred, verr := validate(parsed)
	if user.ID == "" {
		return TokenPair{}, s.passkeyFailure(ctx, "", "", r.ClientIP, "login", fmt.Errorf("%w: %v", ErrPasskeyRefused, verr))
	}
	acct, wait := s.reserve(ctx, accountKey(user.Email), s.cfg.LoginRate.PerAccount)
	if wait > 0 {
		s.m.logins[loginRateLimited].Inc()
		return TokenPair{}, &RateLimitError{RetryAfter: wait}
	}
	if verr != nil {
		return TokenPair{}, s.passkeyFailure(ctx, user.ID, user.Email, r.ClientIP, "login", fmt.Errorf("%w: %v", ErrPasskeyRefused, verr))
	}
	var stored store.WebAuthnCredential
	for _, c := range *creds {
		if bytes.Equal(c.ID, cred.ID) {
			stored = c
		}
	}
	flags := parsed.Response.AuthenticatorData.Flags
	err := s.factors.UseWebAuthnCredential(ctx, user.ID, cred.ID, parsed.Response.AuthenticatorData.Counter, flags.HasBackupState(), s.now())
	if cred.Authenticator.CloneWarning || errors.Is(err, store.ErrConflict) {
		s.m.logins[loginWrongCode].Inc()
		s.log.Warn("passkey signature counter did not grow: refused (a cloned authenticator, or a replayed answer)",
			"user", user.ID, "credential", credID(cred.ID), "stored", stored.SignCount, "presented", parsed.Response.AuthenticatorData.Counter)
		s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: loginCounterRegression,
			UserID: user.ID, Email: user.Email, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
			Attrs: []slog.Attr{slog.String("method", MethodWebAuthn), slog.String("credential", credID(cred.ID)),
				slog.Int64("stored_count", int64(stored.SignCount)), slog.Int64("count", int64(parsed.Response.AuthenticatorData.Counter))}})
		return TokenPair{}, fmt.Errorf("%w: signature counter did not grow", ErrPasskeyRefused)
	}
	if errors.Is(err, store.ErrNotFound) {
		return TokenPair{}, s.passkeyFailure(ctx, user.ID, user.Email, r.ClientIP, "login", fmt.Errorf("%w: the passkey was removed", ErrPasskeyRefused))
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("issue: passkey: %w", err)
	}
	kind := amrHWK
	if stored.BackupEligible {
		kind = amrSWK
	}
	if ch != nil {
		s.release(ctx, acct)
		return s.finishMFA(ctx, ch.Hash, *user, []string{kind, "mfa"}, r.UserAgent, r.ClientIP)
	}
	if user.Disabled {
		return TokenPair{}, s.passkeyFailure(ctx, user.ID, user.Email, r.ClientIP, loginDisabled, ErrInvalidCredentials)
	}
	amr := []string{kind}
	if flags.HasUserVerified() {
		amr = append(amr, "mfa")
	}
	s.release(ctx, acct)
	return s.openSession(ctx, *user, amr, r.UserAgent, r.ClientIP)
}

// loginPasskeyRefused and loginCounterRegression are login audit reasons (the
// metric counts them as wrong_code: a second factor that did not pass).
const (
	loginPasskeyRefused    = "passkey_refused"
	loginCounterRegression = "counter_regression"
)

// passkeyFailure logs, counts and audits a refused passkey ceremony and returns err.
func (s *Service) passkeyFailure(ctx context.Context, userID, email string, ip netip.Addr, what string, err error) error {
	if !errors.Is(err, ErrPasskeyRefused) && !errors.Is(err, ErrInvalidCredentials) {
		return err
	}
	s.log.Info("passkey refused", "ceremony", what, "user", userID, "ip", ip, "err", err)
	if what == "register" {
		s.record(ctx, audit.Event{Event: audit.EventFactorAdded, Result: audit.Failure, Reason: loginPasskeyRefused, Actor: audit.ActorUser,
			UserID: userID, Email: email, ClientIP: ip, Attrs: []slog.Attr{slog.String("method", MethodWebAuthn)}})
		return err
	}
	reason := loginPasskeyRefused
	if what == loginDisabled {
		reason = loginDisabled
	}
	s.m.logins[loginWrongCode].Inc()
	s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: reason,
		UserID: userID, Email: email, ClientIP: ip, Attrs: []slog.Attr{slog.String("method", MethodWebAuthn)}})
	return err
}

// BeginPasskeyMFA starts the passkey step of a login that answered mfa_required (or
// a step-up): options for navigator.credentials.get listing the user's passkeys.
func (s *Service) BeginPasskeyMFA(ctx context.Context, mfaToken string) ([]byte, error) {
	if err := s.passkeysReady(); err != nil {
		return nil, err
	}
	if !wellFormedRefresh(mfaToken) {
		return nil, ErrInvalidMFAToken
	}
	hash := TokenHash(mfaToken)
	ch, err := s.factors.MFAChallenge(ctx, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidMFAToken
	}
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	u, _, err := s.rpUserOf(ctx, ch.UserID, "")
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, ErrNoFactor
	}
	assertion, sd, err := s.rp.BeginLogin(u)
	if err != nil {
		return nil, fmt.Errorf("issue: passkey: %w", err)
	}
	return s.beginCeremony(ctx, store.CeremonyMFA, ch.UserID, hash, sd, assertion.Response)
}

// FinishPasskeyMFA checks the answer to BeginPasskeyMFA and finishes the login of
// r.MFAToken as LoginMFA does with a code: the session's amr is the first step's
// plus hwk or swk and mfa.
func (s *Service) FinishPasskeyMFA(ctx context.Context, r PasskeyLoginRequest) (TokenPair, error) {
	if err := s.passkeysReady(); err != nil {
		return TokenPair{}, err
	}
	if s.keys == nil {
		return TokenPair{}, ErrNoKey
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
	parsed, err := protocol.ParseCredentialRequestResponseBytes(r.Response)
	if err != nil {
		return TokenPair{}, s.passkeyFailure(ctx, user.ID, user.Email, r.ClientIP, "mfa", fmt.Errorf("%w: %v", ErrPasskeyRefused, err))
	}
	cer, sd, err := s.takeCeremony(ctx, parsed.Response.CollectedClientData.Challenge, store.CeremonyMFA)
	if err == nil && (cer.Ref != hash || cer.UserID != user.ID) {
		err = fmt.Errorf("%w: the ceremony belongs to another login", ErrPasskeyRefused)
	}
	if err != nil {
		return TokenPair{}, s.passkeyFailure(ctx, user.ID, user.Email, r.ClientIP, "mfa", err)
	}
	ru, creds, err := s.rpUserOf(ctx, user.ID, user.Email)
	if err != nil {
		return TokenPair{}, err
	}
	return s.finishAssertion(ctx, r, parsed, func(p *protocol.ParsedCredentialAssertionData) (*webauthn.Credential, error) {
		return s.rp.ValidateLogin(ru, sd, p)
	}, &user, &creds, &ch)
}
