package issue

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Federated sign-in (OpenID Connect relying party): see docs/CONTRACT.md,
// "Federated sign-in". Each provider of Config.Providers gets
//
//	GET  /oidc/{id}/start?rd=URL         302 to the provider (code flow, PKCE S256)
//	GET  /oidc/{id}/callback             back from the provider: session, cookies, 303 to rd
//	POST /oidc/{id}/backchannel-logout   logout_token → revoke the matching sessions
//	GET  /oidc/{id}/logged-out?state=rd  back from the provider's end_session_endpoint
//
// The state, nonce, PKCE verifier and rd of a sign-in in progress live in a
// short-lived cookie sealed with AES-GCM (Config.StateSecret), not in server
// memory: any replica sharing the secret finishes a flow another one started.

// Timings of the federated flows.
const (
	flowTTL           = 10 * time.Minute // a sign-in at the provider must finish within it
	fetchTimeout      = 10 * time.Second // discovery, JWKS, code exchange
	discoveryRetry    = 5 * time.Second  // a provider down is asked again at most this often
	logoutTokenMaxAge = 10 * time.Minute // a logout token's iat may be this old
	maxLogoutForm     = 64 << 10
	// amrFederated is the amr (RFC 8176 has no value for it; the contract's) of a federated sign-in.
	amrFederated     = "fed"
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
)

// Paths below /oidc/{id}.
const (
	fedStart       = "/start"
	fedCallback    = "/callback"
	fedBackchannel = "/backchannel-logout"
	fedLoggedOut   = "/logged-out"
	// fedLogoutCookie holds "{provider id}~{ID token}" for RP-initiated logout; host-only, Path=/logout.
	fedLogoutCookie = "vexen_idp"
)

// Errors of a federated sign-in; each is one value of the result label.
var (
	errFedState      = errors.New("issue: federated sign-in: state missing, expired or wrong")
	errFedProvider   = errors.New("issue: federated sign-in: the provider refused")
	errFedIDToken    = errors.New("issue: federated sign-in: ID token refused")
	errFedUnverified = errors.New("issue: federated sign-in: email missing or not verified")
	errFedDomain     = errors.New("issue: federated sign-in: email domain not allowed")
	errFedUnknown    = errors.New("issue: federated sign-in: no such user and create_users is off")
	errFedDisabled   = errors.New("issue: federated sign-in: user disabled")
	errFedDown       = errors.New("issue: federated sign-in: provider unavailable")
)

func fedResult(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, errFedState):
		return "invalid_state"
	case errors.Is(err, errFedProvider):
		return "provider_error"
	case errors.Is(err, errFedIDToken):
		return "invalid_id_token"
	case errors.Is(err, errFedUnverified):
		return "email_unverified"
	case errors.Is(err, errFedDomain):
		return "domain_not_allowed"
	case errors.Is(err, errFedUnknown):
		return "unknown_user"
	case errors.Is(err, errFedDisabled):
		return "disabled"
	case errors.Is(err, errFedDown):
		return "unavailable"
	}
	return "error"
}

var fedResults = []string{"success", "invalid_state", "provider_error", "invalid_id_token", "email_unverified",
	"domain_not_allowed", "unknown_user", "disabled", "unavailable", "error"}

var bclResults = []string{"success", "invalid", "replayed", "unavailable", "error"}

type (
	prometheusCounter = prometheus.Counter
	metricsRegisterer = prometheus.Registerer
)

func newFedMetrics(reg prometheus.Registerer) (logins, bcl *prometheus.CounterVec, err error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "oidc_logins_total",
		Help: "Federated (OpenID Connect) sign-ins, by provider and result.",
	}, []string{"provider", "result"})
	bcl = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "oidc_backchannel_logouts_total",
		Help: "Back-channel logout requests from OpenID Connect providers, by provider and result.",
	}, []string{"provider", "result"})
	for _, c := range []prometheus.Collector{logins, bcl} {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("issue: register metrics: %w", err)
		}
	}
	return logins, bcl, nil
}

// federation is the providers of a Service.
type federation struct {
	s         *Service
	store     store.Federation
	providers map[string]*fedProvider
	order     []*fedProvider // as listed in the file: the buttons
	aead      cipher.AEAD
}

// fedProvider is one provider: its settings and, once discovery worked, its endpoints.
type fedProvider struct {
	f         *federation
	cfg       Provider
	redirect  string // absolute callback URL
	loggedOut string // absolute post-logout URL
	client    *http.Client

	ready   atomic.Pointer[fedReady]
	mu      sync.Mutex
	lastTry time.Time

	logins map[string]prometheusCounter
	bcl    map[string]prometheusCounter
}

// fedReady is what discovery gave.
type fedReady struct {
	oauth          oauth2.Config
	verifier       *oidc.IDTokenVerifier
	logoutVerifier *oidc.IDTokenVerifier // no exp required; the handler checks iat and exp
	endSession     string
}

func newFederation(s *Service, st Store, reg metricsRegisterer) (*federation, error) {
	fs, ok := st.(store.Federation)
	if !ok {
		return nil, errors.New("issue: the store does not support federated sign-in")
	}
	f := &federation{s: s, store: fs, providers: map[string]*fedProvider{}}
	key := sha256.Sum256([]byte("vexen-auth oidc state\x00" + string(s.cfg.StateSecret)))
	if s.cfg.StateSecret == "" {
		copy(key[:], randomBytes(32))
		s.log.Warn("federated sign-in: no --oidc-state-secret; a sign-in must finish on the replica that started it")
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	if f.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	base := strings.TrimRight(s.cfg.IssuerURL, "/")
	logins, bcl, err := newFedMetrics(reg)
	if err != nil {
		return nil, err
	}
	for _, pc := range s.cfg.Providers {
		if err := pc.validate(); err != nil { // fills in the defaults (scopes, name)
			return nil, fmt.Errorf("%w: provider %s: %v", ErrProviders, pc.ID, err)
		}
		p := &fedProvider{
			f: f, cfg: pc,
			redirect:  base + "/oidc/" + pc.ID + fedCallback,
			loggedOut: base + "/oidc/" + pc.ID + fedLoggedOut,
			client:    &http.Client{Timeout: fetchTimeout},
			logins:    map[string]prometheusCounter{},
			bcl:       map[string]prometheusCounter{},
		}
		for _, r := range fedResults {
			p.logins[r] = logins.WithLabelValues(pc.ID, r)
		}
		for _, r := range bclResults {
			p.bcl[r] = bcl.WithLabelValues(pc.ID, r)
		}
		f.providers[pc.ID] = p
		f.order = append(f.order, p)
	}
	return f, nil
}

// warm runs discovery for every provider once, in the background: a provider down
// at start is only logged (its button answers an error page until it is back).
func (f *federation) warm(ctx context.Context) {
	for _, p := range f.order {
		go func() {
			if _, err := p.get(ctx); err != nil {
				f.s.log.Warn("federated sign-in: provider unavailable at start", "provider", p.cfg.ID, "err", err)
			}
		}()
	}
}

// get returns the provider's endpoints, running discovery when it has not worked
// yet (at most once per discoveryRetry).
func (p *fedProvider) get(ctx context.Context) (*fedReady, error) {
	if r := p.ready.Load(); r != nil {
		return r, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.ready.Load(); r != nil {
		return r, nil
	}
	now := p.f.s.now()
	if !p.lastTry.IsZero() && now.Sub(p.lastTry) < discoveryRetry {
		return nil, errFedDown
	}
	p.lastTry = now
	cctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), p.client), fetchTimeout)
	defer cancel()
	prov, err := oidc.NewProvider(cctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFedDown, err)
	}
	var extra struct {
		JWKS       string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := prov.Claims(&extra); err != nil || extra.JWKS == "" {
		return nil, fmt.Errorf("%w: discovery document without jwks_uri", errFedDown)
	}
	// Asymmetric algorithms only: never none, never a MAC keyed with the client secret.
	var algs []string
	for _, a := range extra.Algs {
		if a != "none" && !strings.HasPrefix(a, "HS") {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	keys := &providerKeys{url: extra.JWKS, client: p.client, now: p.f.s.now}
	r := &fedReady{
		oauth: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: string(p.cfg.ClientSecret),
			Endpoint: prov.Endpoint(), RedirectURL: p.redirect, Scopes: p.cfg.Scopes,
		},
		verifier: oidc.NewVerifier(p.cfg.Issuer, keys, &oidc.Config{
			ClientID: p.cfg.ClientID, SupportedSigningAlgs: algs, Now: p.f.s.now,
		}),
		logoutVerifier: oidc.NewVerifier(p.cfg.Issuer, keys, &oidc.Config{
			ClientID: p.cfg.ClientID, SupportedSigningAlgs: algs, Now: p.f.s.now, SkipExpiryCheck: true,
		}),
		endSession: extra.EndSession,
	}
	p.ready.Store(r)
	p.f.s.log.Info("federated sign-in: provider ready", "provider", p.cfg.ID, "issuer", p.cfg.Issuer)
	return r, nil
}

// flowState is the sealed content of the flow cookie.
type flowState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	RD       string `json:"r"`
	Exp      int64  `json:"e"`
}

func (p *fedProvider) cookieName() string { return "vexen_oidc_" + p.cfg.ID }

func (p *fedProvider) aad() []byte { return []byte("vexen-auth oidc flow " + p.cfg.ID) }

func (p *fedProvider) seal(fs flowState) string {
	b, _ := json.Marshal(fs)
	nonce := randomBytes(p.f.aead.NonceSize())
	return base64.RawURLEncoding.EncodeToString(p.f.aead.Seal(nonce, nonce, b, p.aad()))
}

func (p *fedProvider) open(v string) (flowState, bool) {
	var fs flowState
	raw, err := base64.RawURLEncoding.DecodeString(v)
	n := p.f.aead.NonceSize()
	if err != nil || len(raw) < n {
		return fs, false
	}
	b, err := p.f.aead.Open(nil, raw[:n], raw[n:], p.aad())
	if err != nil || json.Unmarshal(b, &fs) != nil {
		return fs, false
	}
	return fs, p.f.s.now().Unix() <= fs.Exp
}

// start serves GET /oidc/{id}/start.
func (p *fedProvider) start(pg *pages, w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return nil
	}
	rd := pg.returnTo(r.URL.Query().Get("rd"))
	ready, err := p.get(r.Context())
	if err != nil {
		p.logins["unavailable"].Inc()
		p.f.s.log.Warn("federated sign-in: provider unavailable", "provider", p.cfg.ID, "err", err)
		pg.message(w, http.StatusServiceUnavailable, "Sign-in unavailable",
			"Sign-in with "+p.cfg.Name+" is unavailable at the moment. Please try again shortly.", r.URL.RequestURI())
		return nil
	}
	fs := flowState{
		State:    base64.RawURLEncoding.EncodeToString(randomBytes(32)),
		Nonce:    base64.RawURLEncoding.EncodeToString(randomBytes(32)),
		Verifier: oauth2.GenerateVerifier(),
		RD:       rd,
		Exp:      p.f.s.now().Add(flowTTL).Unix(),
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.cookieName(), Value: p.seal(fs), Path: pg.base + "/oidc/" + p.cfg.ID + fedCallback,
		MaxAge: int(flowTTL / time.Second), HttpOnly: true, Secure: pg.secure, SameSite: http.SameSiteLaxMode,
	})
	u := ready.oauth.AuthCodeURL(fs.State, oidc.Nonce(fs.Nonce), oauth2.S256ChallengeOption(fs.Verifier))
	w.Header().Set("Location", u)
	w.WriteHeader(http.StatusFound)
	return nil
}

// callback serves GET /oidc/{id}/callback.
func (p *fedProvider) callback(pg *pages, w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return nil
	}
	pair, rd, idToken, err := p.finish(r)
	p.logins[fedResult(err)].Inc()
	// The flow cookie is spent, whatever happened: a state is never good twice.
	http.SetCookie(w, &http.Cookie{
		Name: p.cookieName(), Value: "", Path: pg.base + "/oidc/" + p.cfg.ID + fedCallback,
		MaxAge: -1, Expires: time.Unix(1, 0), HttpOnly: true, Secure: pg.secure, SameSite: http.SameSiteLaxMode,
	})
	if err != nil {
		ip := p.f.s.clientIP(r)
		p.f.s.log.Info("federated sign-in refused", "provider", p.cfg.ID, "result", fedResult(err), "ip", ip, "err", err)
		p.f.s.record(r.Context(), audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: "fed_" + fedResult(err),
			ClientIP: ip, UserAgent: r.UserAgent(), Attrs: []slog.Attr{slog.String("idp", p.cfg.ID)}})
		status, msg := http.StatusUnauthorized, "Sign-in with "+p.cfg.Name+" did not succeed."
		switch {
		case errors.Is(err, errFedState):
			status, msg = http.StatusBadRequest, "The sign-in expired or was started in another browser. Please sign in again."
		case errors.Is(err, errFedUnverified):
			msg = "Your email address at " + p.cfg.Name + " is missing or not verified."
		case errors.Is(err, errFedDomain), errors.Is(err, errFedUnknown), errors.Is(err, errFedDisabled):
			status, msg = http.StatusForbidden, "This account may not sign in here."
		case errors.Is(err, errFedDown):
			status, msg = http.StatusServiceUnavailable, "Sign-in with "+p.cfg.Name+" is unavailable at the moment. Please try again shortly."
		case fedResult(err) == "error":
			status, msg = http.StatusInternalServerError, msgUnavailable
		}
		pg.message(w, status, "Sign-in failed", msg, pg.base+PathLogin)
		return nil
	}
	pg.startSession(w, r, pair)
	if ready := p.ready.Load(); ready != nil && ready.endSession != "" {
		v := p.cfg.ID + "~" + idToken
		if len(v) > 3500 { // too big for a cookie beside the others: log out with client_id only
			v = p.cfg.ID + "~"
		}
		http.SetCookie(w, &http.Cookie{
			Name: fedLogoutCookie, Value: v, Path: pg.base + PathLogout,
			MaxAge: maxAge(pair.RefreshExpiresAt.Sub(p.f.s.now())), HttpOnly: true, Secure: pg.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	redirect(w, pg.returnTo(rd))
	return nil
}

// finish checks the callback and opens the session.
func (p *fedProvider) finish(r *http.Request) (pair TokenPair, rd, rawID string, err error) {
	ctx := r.Context()
	fs, ok := p.open(cookieValue(r, p.cookieName()))
	q := r.URL.Query()
	if !ok || fs.State == "" || subtle.ConstantTimeCompare([]byte(fs.State), []byte(q.Get("state"))) != 1 {
		return pair, "", "", errFedState
	}
	if e := q.Get("error"); e != "" {
		return pair, fs.RD, "", fmt.Errorf("%w: %.100q", errFedProvider, e)
	}
	code := q.Get("code")
	if code == "" {
		return pair, fs.RD, "", fmt.Errorf("%w: no code", errFedProvider)
	}
	ready, err := p.get(ctx)
	if err != nil {
		return pair, fs.RD, "", err
	}
	cctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), fetchTimeout)
	defer cancel()
	tok, err := ready.oauth.Exchange(cctx, code, oauth2.VerifierOption(fs.Verifier))
	if err != nil {
		return pair, fs.RD, "", fmt.Errorf("%w: code exchange: %v", errFedProvider, err)
	}
	rawID, _ = tok.Extra("id_token").(string)
	if rawID == "" {
		return pair, fs.RD, "", fmt.Errorf("%w: no id_token in the token response", errFedIDToken)
	}
	idt, err := ready.verifier.Verify(cctx, rawID)
	if err != nil {
		return pair, fs.RD, "", fmt.Errorf("%w: %v", errFedIDToken, err)
	}
	var c struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		SID           string          `json:"sid"`
		AZP           string          `json:"azp"`
	}
	var all map[string]any
	if err := idt.Claims(&c); err != nil {
		return pair, fs.RD, "", fmt.Errorf("%w: claims: %v", errFedIDToken, err)
	}
	if err := idt.Claims(&all); err != nil {
		return pair, fs.RD, "", fmt.Errorf("%w: claims: %v", errFedIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(fs.Nonce)) != 1 {
		return pair, fs.RD, "", fmt.Errorf("%w: nonce mismatch", errFedIDToken)
	}
	if (len(idt.Audience) > 1 || c.AZP != "") && c.AZP != p.cfg.ClientID {
		return pair, fs.RD, "", fmt.Errorf("%w: azp %q is not the client", errFedIDToken, c.AZP)
	}
	now := p.f.s.now()
	if idt.IssuedAt.IsZero() || idt.IssuedAt.After(now.Add(p.f.s.cfg.Leeway)) || now.Sub(idt.IssuedAt) > flowTTL {
		return pair, fs.RD, "", fmt.Errorf("%w: iat out of range", errFedIDToken)
	}
	if idt.Subject == "" {
		return pair, fs.RD, "", fmt.Errorf("%w: no sub", errFedIDToken)
	}
	verified := string(c.EmailVerified) == "true" || string(c.EmailVerified) == `"true"`
	pair, err = p.f.s.federatedLogin(ctx, p.cfg, federatedIdentity{
		Subject: idt.Subject, SID: c.SID, Email: c.Email, EmailVerified: verified,
		Roles: mapRoles(p.cfg, all[p.cfg.RolesClaim]), ClientIP: p.f.s.clientIP(r), UserAgent: r.UserAgent(),
	})
	return pair, fs.RD, rawID, err
}

// mapRoles is default_roles plus the roles the claim's values map to (others dropped).
func mapRoles(p Provider, claim any) []string {
	roles := slices.Clone(p.DefaultRoles)
	add := func(v any) {
		if s, ok := v.(string); ok {
			if r, ok := p.Roles[s]; ok && !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	if p.RolesClaim != "" {
		switch v := claim.(type) {
		case []any:
			for _, e := range v {
				add(e)
			}
		default:
			add(v)
		}
	}
	if roles == nil {
		roles = []string{}
	}
	return roles
}

// federatedIdentity is who the provider says signed in.
type federatedIdentity struct {
	Subject, SID, Email string
	EmailVerified       bool
	Roles               []string // used when the provider ManagesRoles
	ClientIP            netip.Addr
	UserAgent           string
}

// federatedLogin finds or creates the user of a checked ID token and opens a
// session exactly as Login does (plus the provider, subject and sid).
func (s *Service) federatedLogin(ctx context.Context, p Provider, id federatedIdentity) (TokenPair, error) {
	if s.keys == nil {
		return TokenPair{}, ErrNoKey
	}
	if id.Email == "" || !id.EmailVerified || checkEmail(id.Email) != nil {
		return TokenPair{}, errFedUnverified
	}
	if len(p.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(id.Email[strings.LastIndex(id.Email, "@"):], "@")
		if !slices.Contains(p.AllowedDomains, strings.ToLower(domain)) {
			return TokenPair{}, errFedDomain
		}
	}
	user, err := s.store.UserByEmail(ctx, id.Email)
	switch {
	case errors.Is(err, store.ErrNotFound) && p.CreateUsers:
		// No password: a federated-only account never passes the password form.
		user, err = s.store.CreateUser(ctx, store.User{Email: id.Email, Roles: id.Roles, CreatedAt: s.now()})
		if errors.Is(err, store.ErrConflict) { // created by a concurrent sign-in
			user, err = s.store.UserByEmail(ctx, id.Email)
		}
		if err != nil {
			return TokenPair{}, fmt.Errorf("issue: federated sign-in: create user: %w", err)
		}
		s.record(ctx, audit.Event{Event: audit.EventUserAdded, Actor: audit.ActorSystem, UserID: user.ID, Email: user.Email,
			Attrs: []slog.Attr{slog.String("idp", p.ID), slog.Any("roles", user.Roles)}})
	case errors.Is(err, store.ErrNotFound):
		return TokenPair{}, errFedUnknown
	case err != nil:
		return TokenPair{}, fmt.Errorf("issue: federated sign-in: %w", err)
	}
	if user.Disabled {
		return TokenPair{}, errFedDisabled
	}
	if p.ManagesRoles() && !slices.Equal(user.Roles, id.Roles) {
		if err := s.fed.store.SetUserRoles(ctx, user.ID, id.Roles); err != nil {
			return TokenPair{}, fmt.Errorf("issue: federated sign-in: set roles: %w", err)
		}
		user.Roles = id.Roles
	}
	now := s.now()
	sid := newID()
	m, err := s.mint(sid, user.ID, user.Email, user.Roles, now, tokenExtras{IdP: p.ID, AMR: []string{amrFederated}})
	if err != nil {
		return TokenPair{}, err
	}
	sess := store.Session{
		ID: sid, UserID: user.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: m.refreshExp,
		UserAgent: cleanUserAgent(id.UserAgent), IP: ipString(id.ClientIP),
		IdP: p.ID, IdPSubject: id.Subject, IdPSID: id.SID, AMR: []string{amrFederated},
	}
	first := store.RefreshToken{
		Hash: m.refreshHash, SessionID: sid, AccessHash: m.accessHash, AccessExpiresAt: m.accessExp,
		CreatedAt: now, ExpiresAt: m.refreshExp,
	}
	if err := s.store.CreateSession(ctx, sess, first); err != nil {
		if errors.Is(err, store.ErrSessionRevoked) || errors.Is(err, store.ErrNotFound) {
			return TokenPair{}, errFedDisabled
		}
		return TokenPair{}, fmt.Errorf("issue: federated sign-in: %w", err)
	}
	s.storePair(ctx, user, sid, m, now)
	s.sweepUserTokens(ctx, user.ID)
	s.m.logins[loginSuccess].Inc()
	s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Success, UserID: user.ID, Email: user.Email,
		SessionID: sid, ClientIP: id.ClientIP, UserAgent: id.UserAgent, Attrs: []slog.Attr{slog.String("idp", p.ID)}})
	return pairOf(m, user.ID, sid, now), nil
}

// backchannel serves POST /oidc/{id}/backchannel-logout (OpenID Connect
// Back-Channel Logout 1.0): 200 when the token is good (whether or not a session
// matched), 400 invalid_request when it is not; nothing is revoked then.
func (p *fedProvider) backchannel(w http.ResponseWriter, r *http.Request) error {
	result, err := p.logoutToken(w, r)
	p.bcl[result].Inc()
	if err != nil {
		p.f.s.log.Info("back-channel logout refused", "provider", p.cfg.ID, "result", result, "err", err)
		switch result {
		case "unavailable":
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the provider's keys cannot be fetched")
		case "error":
			writeError(w, http.StatusInternalServerError, "server_error", "the sessions could not be revoked")
		default:
			writeError(w, http.StatusBadRequest, "invalid_request", "the logout token is not acceptable")
		}
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *fedProvider) logoutToken(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutForm)
	if err := r.ParseForm(); err != nil {
		return "invalid", err
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" {
		return "invalid", errors.New("no logout_token")
	}
	ctx := r.Context()
	ready, err := p.get(ctx)
	if err != nil {
		return "unavailable", err
	}
	// Signature, iss and aud by go-oidc. Not VerifyLogout: it requires exp, which
	// Back-Channel Logout 1.0 added late and providers (ORY Hydra 2.3) leave out;
	// a token without exp is taken when its iat is recent (logoutTokenMaxAge).
	tok, err := ready.logoutVerifier.Verify(ctx, raw)
	if err != nil {
		return "invalid", err
	}
	var lt struct {
		Subject   string                     `json:"sub"`
		SessionID string                     `json:"sid"`
		TokenID   string                     `json:"jti"`
		Events    map[string]json.RawMessage `json:"events"`
		Nonce     json.RawMessage            `json:"nonce"`
		AZP       string                     `json:"azp"`
		Exp       *int64                     `json:"exp"`
		IssuedAt  time.Time                  `json:"-"`
		Expiry    time.Time                  `json:"-"`
	}
	if err := tok.Claims(&lt); err != nil {
		return "invalid", err
	}
	lt.IssuedAt = tok.IssuedAt
	now := p.f.s.now()
	switch e := lt.Events[backchannelEvent]; {
	case len(e) == 0 || e[0] != '{':
		return "invalid", errors.New("no back-channel logout event (a JSON object)")
	case len(lt.Nonce) != 0:
		return "invalid", errors.New("a logout token must not hold a nonce")
	case lt.TokenID == "":
		return "invalid", errors.New("no jti")
	case lt.Subject == "" && lt.SessionID == "":
		return "invalid", errors.New("neither sub nor sid")
	case lt.AZP != "" && lt.AZP != p.cfg.ClientID:
		return "invalid", errors.New("azp is not the client")
	case lt.IssuedAt.IsZero() || lt.IssuedAt.After(now.Add(p.f.s.cfg.Leeway)) || now.Sub(lt.IssuedAt) > logoutTokenMaxAge:
		return "invalid", errors.New("iat missing or out of range")
	}
	if lt.Exp != nil {
		lt.Expiry = time.Unix(*lt.Exp, 0)
		if !lt.Expiry.Add(p.f.s.cfg.Leeway).After(now) {
			return "invalid", errors.New("expired")
		}
	}
	until := lt.IssuedAt.Add(logoutTokenMaxAge)
	if lt.Expiry.After(until) {
		until = lt.Expiry
	}
	until = until.Add(p.f.s.cfg.Leeway)
	if err := p.f.store.UseLogoutJTI(ctx, p.cfg.ID, lt.TokenID, until, now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "replayed", err
		}
		return "error", err
	}
	s := p.f.s
	res, err := p.f.store.RevokeFederated(ctx, p.cfg.ID, lt.Subject, lt.SessionID, store.ReasonBackchannel, now)
	if err != nil {
		return "error", err
	}
	s.countRevocations(res)
	s.cacheRevoke(ctx, res)
	s.record(ctx, audit.Event{Event: audit.EventSessionRevoked, Actor: audit.ActorSystem, Reason: store.ReasonBackchannel,
		UserID: revokedUser(res), SessionIDs: sessionIDs(res), Attrs: []slog.Attr{slog.String("idp", p.cfg.ID)}})
	s.log.Info("back-channel logout", "provider", p.cfg.ID, "revoked", len(res.Revocations))
	return "success", nil
}

// endSessionURL is where sign-out sends the browser after revoking a federated
// session (RP-Initiated Logout 1.0), or "" when the provider has no end_session_endpoint.
func (f *federation) endSessionURL(cookie, rd string) string {
	id, hint, ok := strings.Cut(cookie, "~")
	p := f.providers[id]
	if !ok || p == nil {
		return ""
	}
	ready := p.ready.Load()
	if ready == nil || ready.endSession == "" {
		return ""
	}
	u, err := url.Parse(ready.endSession)
	if err != nil {
		return ""
	}
	q := u.Query()
	if hint != "" {
		q.Set("id_token_hint", hint)
	}
	q.Set("client_id", p.cfg.ClientID)
	q.Set("post_logout_redirect_uri", p.loggedOut)
	q.Set("state", rd)
	u.RawQuery = q.Encode()
	return u.String()
}

// loggedOut serves GET /oidc/{id}/logged-out: back from the provider's sign-out, on to rd.
func (p *fedProvider) loggedOutPage(pg *pages, w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return nil
	}
	redirect(w, pg.returnTo(r.URL.Query().Get("state")))
	return nil
}
