package issue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/hostlist"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Errors of the Service. The HTTP API maps them to statuses in one table (see
// Handler); callers of the Go API test them with errors.Is.
var (
	// ErrInvalidRequest: the request is malformed (the API's 400 invalid_request).
	ErrInvalidRequest = errors.New("issue: invalid request")
	// ErrInvalidCredentials: wrong password, unknown email or disabled user; the three
	// are indistinguishable to the caller.
	ErrInvalidCredentials = errors.New("issue: invalid credentials")
	// ErrInvalidGrant: the refresh token is unknown, expired, already used, or its
	// session is revoked.
	ErrInvalidGrant = errors.New("issue: invalid refresh token")
	// ErrInvalidToken: the access token is missing, malformed, not ours, expired, or
	// its session is no longer live.
	ErrInvalidToken = errors.New("issue: invalid access token")
	// ErrRateLimited: too many login or refresh attempts; the error is a
	// *RateLimitError.
	ErrRateLimited = errors.New("issue: rate limited")

	// ErrUnknownUser: no user has that email (admin operations).
	ErrUnknownUser = errors.New("issue: no such user")
	// ErrUserExists: a user with that email (case-insensitively) exists.
	ErrUserExists = errors.New("issue: user already exists")
	// ErrInvalidEmail: not a plain email address.
	ErrInvalidEmail = errors.New("issue: invalid email address")
	// ErrWeakPassword: a new password is shorter than MinPasswordLen.
	ErrWeakPassword = errors.New("issue: password too short")
	// ErrInvalidRole: a role name holds a comma, a blank or a control byte.
	ErrInvalidRole = errors.New("issue: invalid role")
)

// RateLimitError is a throttled login or refresh: retry after RetryAfter.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("issue: rate limited; retry after %v", e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Password and field length limits.
const (
	MinPasswordLen = 8    // new passwords, in bytes
	MaxPasswordLen = 1024 // any password, in bytes
	MaxEmailLen    = 254  // RFC 5321 path limit
	maxUserAgent   = 256
)

// Store is the part of store.Store the issuer uses.
type Store interface {
	Ping(ctx context.Context) error
	CreateUser(ctx context.Context, u store.User) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) (store.RevokeResult, error)
	CreateSession(ctx context.Context, s store.Session, first store.RefreshToken) error
	Rotate(ctx context.Context, r store.Rotation) (store.RotateResult, error)
	SessionByRefreshHash(ctx context.Context, hash string) (store.Session, error)
	SessionState(ctx context.Context, sessionID string) (store.SessionState, error)
	ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error)
	RevokeSession(ctx context.Context, sessionID, reason string, now time.Time) (store.RevokeResult, error)
	RevokeUser(ctx context.Context, userID, reason string, now time.Time) (store.RevokeResult, error)
}

var _ Store = (store.Store)(nil)

// Cache is the Redis write-through the issuer does; *rediscache.Cache implements it.
type Cache interface {
	StorePair(ctx context.Context, p rediscache.Pair) error
	DropRefresh(ctx context.Context, userID, refreshHash, accessHash string) error
	SweepUserTokens(ctx context.Context, userID string) (int, error)
	Revoke(ctx context.Context, res store.RevokeResult) error
	Ping(ctx context.Context) error
}

var _ Cache = (*rediscache.Cache)(nil)

// Deps are the Service's collaborators.
type Deps struct {
	Store Store // required
	// Cache is the Redis write-through; nil means no Redis. Its failures never fail a
	// request: they are logged at Warn and counted in vexen_issuer_redis_errors_total.
	Cache Cache
	// Limiter holds the throttle's buckets (logins per address and per account,
	// refreshes per address); nil means an in-memory limiter. NewRedisLimiter shares
	// them between replicas.
	Limiter    Limiter
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	Logger     *slog.Logger          // nil: no logs
	// Audit takes one event per sign-in, sign-out, revocation, refresh reuse and
	// user change (see audit.Event*); nil means no audit log.
	Audit audit.Recorder
	Now   func() time.Time // nil: time.Now
	// TracerProvider gets one server span per HTTP request, named after its
	// endpoint (issuer.login, issuer.refresh…); nil = no spans.
	TracerProvider trace.TracerProvider
}

// cacheTimeout bounds each Redis write-through; it runs detached from the request's
// cancellation, so that a client hanging up cannot leave a revocation unwritten.
const cacheTimeout = 2 * time.Second

// Service is the issuer: the Go API (Login, Refresh, Logout…, the admin operations)
// and its HTTP API (Handler). It is safe for concurrent use.
type Service struct {
	cfg      Config
	store    Store
	cache    Cache
	limiter  Limiter
	fallback *MemoryLimiter // used when limiter fails
	keys     *keySource     // nil for an admin-only Service
	hasher   hasher
	gate     gate
	dummy    string // a hash of a random password, verified for unknown emails
	m        *metrics
	log      *slog.Logger
	audit    audit.Recorder // nil: no audit log
	tracer   trace.Tracer   // nil: no spans
	now      func() time.Time
	trusted  []netip.Prefix
	handler  *apiHandler
	// factors is the store's second-factor part (nil: the store keeps none, and no
	// login asks for one); sealer seals TOTP secrets (nil for an admin-only Service).
	factors store.Factors
	sealer  *sealer
	rp      *webauthn.WebAuthn // the passkeys' relying party; nil: passkeys off
	fed     *federation        // nil without providers
	// redirectHosts is Config.AllowedRedirectHosts compiled (rd's allowlist).
	redirectHosts hostlist.List

	stop     context.CancelFunc
	stopped  sync.WaitGroup
	closeOne sync.Once
}

// New validates cfg, loads the signing keys (generating the first one when the key
// directory has none of the configured algorithm) and builds the Service. For
// file-based keys it re-reads the directory every Config.KeyRescan, so a key added by
// RotateKey starts signing without a restart; Close stops that.
func New(cfg Config, d Deps) (*Service, error) {
	s, err := newService(cfg, d)
	if err != nil {
		return nil, err
	}
	s.keys, err = newKeySource(s.cfg, s.now, s.log)
	if err != nil {
		return nil, err
	}
	if d.Registerer != nil {
		// Alerted on by deploy/prometheus (a signing key due for rotation).
		age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "signing_key_age_seconds",
			Help: "Age of the key signing new access tokens; `issuer keys rotate` adds a newer one. 0 for HS256.",
		}, s.keys.signerAge)
		if err := d.Registerer.Register(age); err != nil {
			return nil, fmt.Errorf("issue: register metrics: %w", err)
		}
	}
	if s.factors != nil {
		keyFile := s.cfg.TOTPKeyFile
		if keyFile == "" {
			keyFile = filepath.Join(s.cfg.KeysDir, "totp.key")
		}
		if s.sealer, err = loadSealer(keyFile); err != nil {
			return nil, err
		}
	}
	s.dummy, err = s.hasher.hash(string(randomBytes(24)), s.cfg.Password)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if s.cfg.Alg != AlgHS256 {
		s.stopped.Add(1)
		go s.rescanKeys(ctx)
	}
	if s.cache != nil {
		s.stopped.Add(1)
		go s.resyncLoop(ctx)
	}
	if s.fed != nil {
		s.fed.warm(ctx)
	}
	return s, nil
}

// NewAdmin builds a Service for the admin operations only (AddUser, DisableUser,
// ListSessions, RevokeSessions): it loads no keys, so an admin command run as another
// Unix user never creates a key file the server cannot read. Its token operations
// fail with ErrNoKey.
func NewAdmin(cfg Config, d Deps) (*Service, error) {
	return newService(cfg, d)
}

func newService(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if d.Store == nil {
		return nil, errors.New("issue: Deps.Store is required")
	}
	if c, ok := d.Cache.(*rediscache.Cache); ok && c == nil {
		d.Cache = nil
	}
	s := &Service{
		cfg:     cfg,
		store:   d.Store,
		cache:   d.Cache,
		limiter: d.Limiter,
		log:     d.Logger,
		audit:   d.Audit,
		now:     d.Now,
		gate:    make(gate, cfg.HashConcurrency),
		trusted: cfg.TrustedProxies,
	}
	s.factors, _ = d.Store.(store.Factors)
	if s.factors != nil {
		rp, err := newRelyingParty(cfg)
		if err != nil {
			return nil, err
		}
		s.rp = rp
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if d.TracerProvider != nil {
		s.tracer = d.TracerProvider.Tracer("github.com/vexen/vexen-auth/pkg/issue")
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.fallback = NewMemoryLimiter(cfg.LoginRate.MaxKeys, s.now)
	if s.limiter == nil {
		s.limiter = s.fallback
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, fmt.Errorf("issue: register metrics: %w", err)
	}
	s.m = m
	if s.redirectHosts, err = hostlist.Parse(cfg.AllowedRedirectHosts); err != nil {
		return nil, err // Validate parsed it already
	}
	if len(cfg.Providers) > 0 {
		if s.fed, err = newFederation(s, d.Store, d.Registerer); err != nil {
			return nil, err
		}
	}
	s.handler = newAPIHandler(s)
	return s, nil
}

// Close stops the background work (key directory rescans, the Redis repair of
// revocations). It does not close the Store or the Cache.
func (s *Service) Close() error {
	s.closeOne.Do(func() {
		if s.stop != nil {
			s.stop()
			s.stopped.Wait()
		}
	})
	return nil
}

func (s *Service) rescanKeys(ctx context.Context) {
	defer s.stopped.Done()
	t := time.NewTimer(s.cfg.KeyRescan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.keys.rescan(); err != nil {
				s.log.Error("signing keys: rescan failed; keeping the keys in use", "dir", s.cfg.KeysDir, "err", err)
			}
			if _, err := s.rotateKeys(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signing keys: scheduled rotation failed; retrying at the next rescan", "dir", s.cfg.KeysDir, "err", err)
			}
		}
		// Wake at the next rescan, or when the scheduled key is due if sooner.
		wait := s.cfg.KeyRescan
		if due := s.keys.rotationDue(); !due.IsZero() {
			wait = min(wait, max(due.Sub(s.now()), 10*time.Millisecond))
		}
		t.Reset(wait)
	}
}

// rotateKeys adds the scheduled signing key when it is due (Config.KeyRotation),
// once across the replicas sharing the store and the keys directory: under the
// store's lock when it has one (store.Locker), this process's otherwise.
func (s *Service) rotateKeys(ctx context.Context) (string, error) {
	lock, _ := s.store.(store.Locker)
	kid, err := s.keys.rotateIfDue(ctx, lock)
	if kid != "" {
		s.log.Info("signing key added by the rotation schedule", "kid", kid, "alg", s.cfg.Alg,
			"signs_from", s.now().Add(s.cfg.KeyPrepublish).UTC().Format(time.RFC3339))
		if s.audit != nil {
			s.audit.Record(ctx, audit.Event{Event: audit.EventKeyRotated, Result: audit.Success, Actor: audit.ActorSystem,
				Attrs: []slog.Attr{slog.String("key_id", kid), slog.String("alg", s.cfg.Alg), slog.String("dir", s.cfg.KeysDir)}})
		}
	}
	return kid, err
}

// Config returns the configuration in use, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// KeyID is the kid of the key that signs new tokens ("" for an admin-only Service).
func (s *Service) KeyID() string {
	if s.keys == nil {
		return ""
	}
	return s.keys.current().signer.kid
}

// JWKS returns the JSON Web Key Set ({"keys":[…]}) of the public keys that can still
// verify a live token. For HS256 it is empty: the secret is never published.
func (s *Service) JWKS() []byte {
	if s.keys == nil {
		return []byte(`{"keys":[]}`)
	}
	// A verifier asks when it met a kid it does not know, which another issuer
	// sharing the keys directory may already sign with: publish what the
	// directory holds now, not at the last periodic rescan.
	s.keys.rescanOnDemand()
	return s.keys.current().jwks
}

// TokenPair is what login and refresh answer. The JSON fields are the contract's;
// the others help a caller set cookies.
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"` // "Bearer"
	ExpiresIn    int64  `json:"expires_in"` // seconds until the access token expires

	UserID           string    `json:"-"`
	SessionID        string    `json:"-"`
	AccessExpiresAt  time.Time `json:"-"`
	RefreshExpiresAt time.Time `json:"-"`
}

func pairOf(m *minted, userID, sid string, now time.Time) TokenPair {
	return TokenPair{
		AccessToken:      m.access,
		RefreshToken:     m.refresh,
		TokenType:        "Bearer",
		ExpiresIn:        m.expiresIn(now),
		UserID:           userID,
		SessionID:        sid,
		AccessExpiresAt:  m.accessExp,
		RefreshExpiresAt: m.refreshExp,
	}
}

// LoginRequest is a login attempt.
type LoginRequest struct {
	Email    string
	Password string
	// ClientIP keys the per-address throttle and is recorded with the session; the
	// zero Addr is one shared "unknown" bucket.
	ClientIP  netip.Addr
	UserAgent string // recorded with the session (control characters dropped, 256 bytes at most)
}

// Login checks the credentials and opens a session. Throttling: before any password
// work, the attempt takes one event from the client address's bucket
// (Config.LoginRate.PerIP) and one from the account's (PerAccount, keyed by the email
// whether or not it has an account); an exhausted bucket is a *RateLimitError, and N
// concurrent attempts can never run more password checks than the buckets hold. A
// successful login gives the account's event back; failures keep both. An unknown
// email costs the same argon2 work as a wrong password (a dummy hash is verified), and
// unknown email, wrong password and disabled user all return ErrInvalidCredentials.
func (s *Service) Login(ctx context.Context, r LoginRequest) (TokenPair, error) {
	if r.Email == "" || r.Password == "" {
		return TokenPair{}, fmt.Errorf("%w: email and password are required", ErrInvalidRequest)
	}
	if len(r.Email) > MaxEmailLen || len(r.Password) > MaxPasswordLen {
		return TokenPair{}, fmt.Errorf("%w: email or password too long", ErrInvalidRequest)
	}
	if s.keys == nil {
		return TokenPair{}, ErrNoKey
	}
	rl := s.cfg.LoginRate
	if _, wait := s.reserve(ctx, ipKey("login", r.ClientIP), rl.PerIP); wait > 0 {
		s.m.logins[loginRateLimited].Inc()
		s.log.Debug("login throttled", "ip", r.ClientIP, "scope", "ip", "retry_after", wait)
		s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: loginRateLimited,
			Email: r.Email, ClientIP: r.ClientIP, UserAgent: r.UserAgent, Attrs: []slog.Attr{slog.String("scope", "ip")}})
		return TokenPair{}, &RateLimitError{RetryAfter: wait}
	}
	acct, wait := s.reserve(ctx, accountKey(r.Email), rl.PerAccount)
	if wait > 0 {
		s.m.logins[loginRateLimited].Inc()
		s.log.Debug("login throttled", "ip", r.ClientIP, "scope", "account", "retry_after", wait)
		s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: loginRateLimited,
			Email: r.Email, ClientIP: r.ClientIP, UserAgent: r.UserAgent, Attrs: []slog.Attr{slog.String("scope", "account")}})
		return TokenPair{}, &RateLimitError{RetryAfter: wait}
	}

	user, err := s.store.UserByEmail(ctx, r.Email)
	hash, result := user.PasswordHash, loginWrongPass
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash, result = s.dummy, loginUnknownUser
	case err != nil:
		s.m.logins[loginError].Inc()
		return TokenPair{}, fmt.Errorf("issue: login: %w", err)
	}
	if _, err := parsePHC(hash); err != nil {
		// A stored hash we cannot use (corrupt, or another scheme): the operator must
		// fix the row. The dummy hash is verified instead, so that the answer takes
		// as long as for anyone else: refusing at once would tell by timing which
		// emails have such an account.
		if hash != "" { // "": a federated-only account (no password), not a fault
			s.log.Error("login: unusable password hash", "user", user.ID, "err", err)
		}
		hash, result = s.dummy, loginWrongPass
	}
	ok, err := s.checkPassword(ctx, hash, r.Password)
	if err != nil {
		if ctx.Err() != nil {
			return TokenPair{}, ctx.Err()
		}
		return TokenPair{}, fmt.Errorf("issue: login: %w", err) // the dummy hash is ours: cannot happen
	}
	if hash == s.dummy {
		ok = false // a password that happens to match the dummy opens nothing
	}
	if ok && user.Disabled {
		ok, result = false, loginDisabled
	}
	if !ok || result == loginUnknownUser {
		// Both reservations stay spent: that is what bounds guessing.
		s.m.logins[result].Inc()
		s.log.Debug("login failed", "ip", r.ClientIP, "result", result)
		// The operator's record names the attempted email even for an unknown user
		// (the client's answer stays the same for all three reasons).
		s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: result,
			UserID: user.ID, Email: r.Email, ClientIP: r.ClientIP, UserAgent: r.UserAgent})
		return TokenPair{}, ErrInvalidCredentials
	}
	s.release(ctx, acct) // a user who knows the password is not throttled by logging in often
	s.rehash(ctx, user, r.Password)

	if methods, err := s.secondFactors(ctx, user.ID); err != nil {
		s.m.logins[loginError].Inc()
		return TokenPair{}, err
	} else if len(methods) > 0 {
		s.m.logins[loginMFARequired].Inc()
		s.log.Debug("login: second factor required", "user", user.ID, "ip", r.ClientIP)
		return TokenPair{}, s.startMFA(ctx, user, []string{"pwd"}, methods, "", r.UserAgent, r.ClientIP)
	}
	return s.openSession(ctx, user, []string{"pwd"}, r.UserAgent, r.ClientIP)
}

// openSession opens a session for user, whose identity was proven by amr (RFC 8176
// values), and mints its first token pair.
func (s *Service) openSession(ctx context.Context, user store.User, amr []string, userAgent string, ip netip.Addr) (TokenPair, error) {
	now := s.now()
	sid := newID()
	m, err := s.mint(sid, user.ID, user.Email, user.Roles, now, tokenExtras{AMR: amr})
	if err != nil {
		s.m.logins[loginError].Inc()
		return TokenPair{}, err
	}
	sess := store.Session{
		ID: sid, UserID: user.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: m.refreshExp,
		UserAgent: cleanUserAgent(userAgent), IP: ipString(ip), AMR: amr,
	}
	first := store.RefreshToken{
		Hash: m.refreshHash, SessionID: sid, AccessHash: m.accessHash, AccessExpiresAt: m.accessExp,
		CreatedAt: now, ExpiresAt: m.refreshExp,
	}
	if err := s.store.CreateSession(ctx, sess, first); err != nil {
		if errors.Is(err, store.ErrSessionRevoked) || errors.Is(err, store.ErrNotFound) {
			// Disabled or deleted between the check and the insert.
			s.m.logins[loginDisabled].Inc()
			s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: loginDisabled,
				UserID: user.ID, Email: user.Email, ClientIP: ip, UserAgent: userAgent})
			return TokenPair{}, ErrInvalidCredentials
		}
		s.m.logins[loginError].Inc()
		return TokenPair{}, fmt.Errorf("issue: login: %w", err)
	}
	s.storePair(ctx, user, sid, m, now)
	s.sweepUserTokens(ctx, user.ID)
	s.m.logins[loginSuccess].Inc()
	s.log.Debug("login", "user", user.ID, "session", sid, "ip", ip)
	s.record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Success,
		UserID: user.ID, Email: user.Email, SessionID: sid, ClientIP: ip, UserAgent: userAgent,
		Attrs: []slog.Attr{slog.String("amr", strings.Join(amr, ","))}})
	return pairOf(m, user.ID, sid, now), nil
}

// checkPassword verifies under the hashing gate.
func (s *Service) checkPassword(ctx context.Context, phc, password string) (bool, error) {
	s.m.waiting.Inc()
	err := s.gate.enter(ctx)
	s.m.waiting.Dec()
	if err != nil {
		return false, err
	}
	defer s.gate.leave()
	return s.hasher.verify(phc, password)
}

// reservation is one event taken from a bucket, to give back with release.
type reservation struct {
	l    Limiter // the limiter that answered (the fallback when the configured one failed)
	key  string
	rate Rate
}

// reserve takes one event from key's bucket (Limiter.Reserve), falling back to the
// in-memory limiter when the configured one fails. A positive wait means nothing was
// taken and the caller must answer a *RateLimitError.
func (s *Service) reserve(ctx context.Context, key string, r Rate) (reservation, time.Duration) {
	res := reservation{l: s.limiter, key: key, rate: r}
	wait, err := s.limiter.Reserve(ctx, key, r)
	if err != nil {
		s.redisFailed(redisOpRateLimit, err)
		res.l = s.fallback
		wait, _ = s.fallback.Reserve(ctx, key, r)
	}
	return res, wait
}

// release gives a reservation back. It runs detached from the request's
// cancellation (a client hanging up after a success still gets its event back); a
// failure only leaves the event spent.
func (s *Service) release(ctx context.Context, res reservation) {
	cctx, cancel := s.cacheCtx(ctx)
	defer cancel()
	if err := res.l.Release(cctx, res.key, res.rate); err != nil {
		s.redisFailed(redisOpRateLimit, err)
	}
}

// RefreshRequest is a refresh attempt.
type RefreshRequest struct {
	RefreshToken string
	// ClientIP keys the per-address throttle (Config.LoginRate.RefreshPerIP); the zero
	// Addr is one shared "unknown" bucket.
	ClientIP netip.Addr
}

// Refresh exchanges a refresh token for a new pair (RFC 9700 §4.14 rotation). The
// presented token dies; presented again within Config.RefreshGrace it yields a sibling
// pair, later it revokes the whole session. Unknown, expired, reused or revoked
// tokens are ErrInvalidGrant. Every attempt first takes one event from the client
// address's bucket (Config.LoginRate.RefreshPerIP); an exhausted bucket is a
// *RateLimitError and touches nothing.
func (s *Service) Refresh(ctx context.Context, r RefreshRequest) (TokenPair, error) {
	if s.keys == nil {
		return TokenPair{}, ErrNoKey
	}
	refreshToken := r.RefreshToken
	if _, wait := s.reserve(ctx, ipKey("refresh", r.ClientIP), s.cfg.LoginRate.RefreshPerIP); wait > 0 {
		s.m.refreshes[refreshRateLimited].Inc()
		s.log.Debug("refresh throttled", "ip", r.ClientIP, "retry_after", wait)
		return TokenPair{}, &RateLimitError{RetryAfter: wait}
	}
	if !wellFormedRefresh(refreshToken) {
		s.m.refreshes[refreshInvalid].Inc()
		return TokenPair{}, fmt.Errorf("%w: malformed", ErrInvalidGrant)
	}
	oldHash := TokenHash(refreshToken)
	var idp string
	if s.fed != nil {
		// A federated session's tokens keep naming their provider (its amr, "fed",
		// is the session's own, like any other's).
		var err error
		idp, err = s.fed.store.IdPOfRefresh(ctx, oldHash)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.m.refreshes[refreshError].Inc()
			return TokenPair{}, fmt.Errorf("issue: refresh: %w", err)
		}
	}
	now := s.now()
	var mints []*minted
	res, err := s.store.Rotate(ctx, store.Rotation{
		OldHash: oldHash,
		Now:     now,
		Grace:   s.cfg.RefreshGrace,
		Mint: func(sess store.Session, u store.User) (store.RefreshToken, error) {
			m, err := s.mint(sess.ID, u.ID, u.Email, u.Roles, now, tokenExtras{IdP: idp, AMR: sess.AMR})
			if err != nil {
				return store.RefreshToken{}, err
			}
			mints = append(mints, m)
			return store.RefreshToken{
				Hash: m.refreshHash, AccessHash: m.accessHash, AccessExpiresAt: m.accessExp,
				ExpiresAt: m.refreshExp,
			}, nil
		},
	})
	switch {
	case errors.Is(err, store.ErrTokenReused):
		s.m.refreshes[refreshReused].Inc()
		s.countRevocations(res.Revoked)
		s.log.Warn("refresh token reused: session revoked", "token", hashPrefix(oldHash), "sessions", sessionIDs(res.Revoked))
		s.cacheRevoke(ctx, res.Revoked)
		s.record(ctx, audit.Event{Event: audit.EventRefreshReuse, Actor: audit.ActorSystem, Reason: store.ReasonReuse,
			UserID: revokedUser(res.Revoked), SessionIDs: sessionIDs(res.Revoked), ClientIP: r.ClientIP,
			Attrs: []slog.Attr{slog.String("token_hash", hashPrefix(oldHash))}})
		return TokenPair{}, fmt.Errorf("%w: reused; the session is revoked", ErrInvalidGrant)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTokenExpired), errors.Is(err, store.ErrSessionRevoked):
		s.m.refreshes[refreshInvalid].Inc()
		s.log.Debug("refresh refused", "token", hashPrefix(oldHash), "err", err)
		return TokenPair{}, fmt.Errorf("%w: %v", ErrInvalidGrant, err)
	case err != nil:
		s.m.refreshes[refreshError].Inc()
		return TokenPair{}, fmt.Errorf("issue: refresh: %w", err)
	}
	var m *minted
	for _, c := range mints { // Mint may have run more than once if the store retried
		if c.refreshHash == res.New.Hash {
			m = c
		}
	}
	if m == nil {
		s.m.refreshes[refreshError].Inc()
		return TokenPair{}, errNoMint
	}
	if s.cache != nil {
		// The rotated pair leaves user_tokens:{uid} (which lists current pairs only, so
		// it does not grow with every refresh); its access token stays valid until it
		// expires, and a revocation still names it (from the store).
		cctx, cancel := s.cacheCtx(ctx)
		if err := s.cache.DropRefresh(cctx, res.User.ID, oldHash, res.Old.AccessHash); err != nil {
			s.redisFailed(redisOpDrop, err)
		}
		cancel()
	}
	s.storePair(ctx, res.User, res.Session.ID, m, res.Session.CreatedAt)
	s.m.refreshes[refreshSuccess].Inc()
	return pairOf(m, res.User.ID, res.Session.ID, now), nil
}

// Logout revokes the session a refresh token belongs to (whether or not the token was
// already rotated). It is idempotent: an unknown token or a revoked session is not an
// error. A string that cannot be a refresh token is ErrInvalidRequest.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	if !wellFormedRefresh(refreshToken) {
		return fmt.Errorf("%w: malformed refresh_token", ErrInvalidRequest)
	}
	sess, err := s.store.SessionByRefreshHash(ctx, TokenHash(refreshToken))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("issue: logout: %w", err)
	}
	res, err := s.revokeSession(ctx, sess.ID, store.ReasonLogout)
	if err == nil {
		s.record(ctx, audit.Event{Event: audit.EventLogout, Actor: audit.ActorUser, UserID: sess.UserID, SessionID: sess.ID,
			Attrs: []slog.Attr{slog.Int("revoked", len(res.Revocations))}})
	}
	return err
}

// LogoutAccess revokes the session named by an access token's sid. The token must be
// one of ours (VerifyAccessToken), but may be expired: logging out only takes access
// away. Idempotent.
func (s *Service) LogoutAccess(ctx context.Context, accessToken string) error {
	c, err := s.VerifyAccessToken(accessToken, true)
	if err != nil {
		return err
	}
	res, err := s.revokeSession(ctx, c.SessionID, store.ReasonLogout)
	if err == nil {
		s.record(ctx, audit.Event{Event: audit.EventLogout, Actor: audit.ActorUser, UserID: c.Subject, SessionID: c.SessionID,
			Attrs: []slog.Attr{slog.Int("revoked", len(res.Revocations))}})
	}
	return err
}

// RevokeSession revokes one session and writes the revocation through to Redis
// (revoked:{h} for its live tokens and an event on the revocation channel). It
// returns the number of sessions that went from live to revoked (0 or 1).
func (s *Service) RevokeSession(ctx context.Context, sessionID, reason string) (int, error) {
	res, err := s.revokeSession(ctx, sessionID, reason)
	if err != nil {
		return 0, err
	}
	if len(res.Revocations) > 0 {
		s.record(ctx, audit.Event{Event: audit.EventSessionRevoked, Actor: audit.ActorAdmin, Reason: reason,
			UserID: revokedUser(res), SessionID: sessionID})
	}
	return len(res.Revocations), nil
}

func (s *Service) revokeSession(ctx context.Context, sessionID, reason string) (store.RevokeResult, error) {
	res, err := s.store.RevokeSession(ctx, sessionID, reason, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.RevokeResult{}, nil
	}
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("issue: revoke session: %w", err)
	}
	s.countRevocations(res)
	s.cacheRevoke(ctx, res)
	return res, nil
}

// Authenticate checks a live access token against the store: the token verifies
// (VerifyAccessToken, not expired), and its session is live and belongs to its sub.
func (s *Service) Authenticate(ctx context.Context, accessToken string) (Claims, error) {
	c, err := s.VerifyAccessToken(accessToken, false)
	if err != nil {
		return Claims{}, err
	}
	st, err := s.store.SessionState(ctx, c.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return Claims{}, fmt.Errorf("%w: unknown session", ErrInvalidToken)
	}
	if err != nil {
		return Claims{}, fmt.Errorf("issue: session state: %w", err)
	}
	if !st.Live(s.now()) || st.UserID != c.Subject {
		return Claims{}, fmt.Errorf("%w: session not live", ErrInvalidToken)
	}
	return c, nil
}

// LogoutAll revokes every session of the access token's user; the token must be live
// (Authenticate). It returns how many sessions were revoked.
func (s *Service) LogoutAll(ctx context.Context, accessToken string) (int, error) {
	c, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return 0, err
	}
	res, err := s.revokeUser(ctx, c.Subject, store.ReasonLogoutAll)
	if err != nil {
		return 0, err
	}
	s.record(ctx, audit.Event{Event: audit.EventLogoutAll, Actor: audit.ActorUser, UserID: c.Subject,
		SessionID: c.SessionID, SessionIDs: sessionIDs(res)})
	return len(res.Revocations), nil
}

func (s *Service) revokeUser(ctx context.Context, userID, reason string) (store.RevokeResult, error) {
	res, err := s.store.RevokeUser(ctx, userID, reason, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.RevokeResult{}, nil // the user is gone, and with it every session
	}
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("issue: revoke sessions: %w", err)
	}
	s.countRevocations(res)
	s.cacheRevoke(ctx, res)
	return res, nil
}

// Sessions lists the live sessions of the access token's user, newest first; the
// token must be live (Authenticate).
func (s *Service) Sessions(ctx context.Context, accessToken string) (Claims, []store.Session, error) {
	c, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return Claims{}, nil, err
	}
	list, err := s.store.ListSessions(ctx, c.Subject, s.now())
	if err != nil {
		return Claims{}, nil, fmt.Errorf("issue: list sessions: %w", err)
	}
	return c, list, nil
}

var errRedisDown = errors.New("issue: redis unreachable")

// Ready reports whether the store (and Redis, when configured) answer.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("issue: store: %w", err)
	}
	if s.cache != nil {
		if err := s.cache.Ping(ctx); err != nil {
			s.redisFailed(redisOpPing, err)
			return fmt.Errorf("%w: %w", errRedisDown, err)
		}
	}
	return nil
}

// AddUser creates a user with an argon2id hash of password (Config.Password). The
// email must be a plain address; the password at least MinPasswordLen bytes; roles
// are trimmed and de-duplicated and may not contain commas or blanks.
func (s *Service) AddUser(ctx context.Context, email, password string, roles []string) (store.User, error) {
	if err := checkEmail(email); err != nil {
		return store.User{}, err
	}
	if len(password) < MinPasswordLen {
		return store.User{}, fmt.Errorf("%w: at least %d bytes", ErrWeakPassword, MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return store.User{}, fmt.Errorf("%w: password longer than %d bytes", ErrInvalidRequest, MaxPasswordLen)
	}
	roles, err := cleanRoles(roles)
	if err != nil {
		return store.User{}, err
	}
	if err := s.gate.enter(ctx); err != nil {
		return store.User{}, err
	}
	hash, err := s.hasher.hash(password, s.cfg.Password)
	s.gate.leave()
	if err != nil {
		return store.User{}, err
	}
	u, err := s.store.CreateUser(ctx, store.User{Email: email, PasswordHash: hash, Roles: roles, CreatedAt: s.now()})
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, fmt.Errorf("%w: %s", ErrUserExists, email)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("issue: add user: %w", err)
	}
	s.record(ctx, audit.Event{Event: audit.EventUserAdded, Actor: audit.ActorAdmin, UserID: u.ID, Email: u.Email,
		Attrs: []slog.Attr{slog.Any("roles", u.Roles)}})
	return u, nil
}

// DisableUser disables the user and, in the same store transaction, revokes every
// live session; the revocations are written through to Redis and published.
// Disabling a disabled user is not an error. Unknown email: ErrUnknownUser.
func (s *Service) DisableUser(ctx context.Context, email string) error {
	_, err := s.setDisabled(ctx, email, true)
	return err
}

// EnableUser lifts DisableUser (sessions revoked then stay revoked).
func (s *Service) EnableUser(ctx context.Context, email string) error {
	_, err := s.setDisabled(ctx, email, false)
	return err
}

func (s *Service) setDisabled(ctx context.Context, email string, disabled bool) (int, error) {
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return 0, err
	}
	res, err := s.store.SetUserDisabled(ctx, u.ID, disabled, s.now())
	if err != nil {
		return 0, fmt.Errorf("issue: disable user: %w", err)
	}
	s.countRevocations(res)
	s.cacheRevoke(ctx, res)
	ev := audit.EventUserEnabled
	if disabled {
		ev = audit.EventUserDisabled
	}
	s.record(ctx, audit.Event{Event: ev, Actor: audit.ActorAdmin, UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res)})
	return len(res.Revocations), nil
}

// ListSessions returns the user's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, email string) ([]store.Session, error) {
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListSessions(ctx, u.ID, s.now())
	if err != nil {
		return nil, fmt.Errorf("issue: list sessions: %w", err)
	}
	return list, nil
}

// RevokeSessions revokes every live session of the user (reason "admin") and returns
// how many there were.
func (s *Service) RevokeSessions(ctx context.Context, email string) (int, error) {
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return 0, err
	}
	res, err := s.revokeUser(ctx, u.ID, store.ReasonAdmin)
	if err != nil {
		return 0, err
	}
	s.record(ctx, audit.Event{Event: audit.EventSessionRevoked, Actor: audit.ActorAdmin, Reason: store.ReasonAdmin,
		UserID: u.ID, Email: u.Email, SessionIDs: sessionIDs(res)})
	return len(res.Revocations), nil
}

// record hands e to the audit log, if there is one.
func (s *Service) record(ctx context.Context, e audit.Event) {
	if s.audit != nil {
		s.audit.Record(ctx, e)
	}
}

// revokedUser is the user whose sessions res revoked ("" if none).
func revokedUser(res store.RevokeResult) string {
	if len(res.Revocations) == 0 {
		return ""
	}
	return res.Revocations[0].UserID
}

func (s *Service) userByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: %s", ErrUnknownUser, email)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("issue: find user: %w", err)
	}
	return u, nil
}

// storePair writes a new pair through to Redis.
func (s *Service) storePair(ctx context.Context, u store.User, sid string, m *minted, loginAt time.Time) {
	if s.cache == nil {
		return
	}
	cctx, cancel := s.cacheCtx(ctx)
	defer cancel()
	err := s.cache.StorePair(cctx, rediscache.Pair{
		UserID: u.ID, Email: u.Email, SessionID: sid,
		AccessHash: m.accessHash, AccessClaims: m.claims, AccessExpiresAt: m.accessExp,
		RefreshHash: m.refreshHash, RefreshExpiresAt: m.refreshExp,
		LoginAt: loginAt,
	})
	if err != nil {
		s.redisFailed(redisOpStorePair, err)
	}
}

// sweepUserTokens drops the hashes of tokens no longer live from the user's
// user_tokens set (see rediscache.Cache.SweepUserTokens), once per login: the set
// then holds the user's live tokens, not every session ever opened.
func (s *Service) sweepUserTokens(ctx context.Context, userID string) {
	if s.cache == nil {
		return
	}
	cctx, cancel := s.cacheCtx(ctx)
	defer cancel()
	if _, err := s.cache.SweepUserTokens(cctx, userID); err != nil {
		s.redisFailed(redisOpSweep, err)
	}
}

// cacheRevoke writes a revocation through to Redis and publishes its events.
func (s *Service) cacheRevoke(ctx context.Context, res store.RevokeResult) {
	if s.cache == nil || (len(res.Revocations) == 0 && len(res.Tokens) == 0) {
		return
	}
	cctx, cancel := s.cacheCtx(ctx)
	defer cancel()
	if err := s.cache.Revoke(cctx, res); err != nil {
		s.redisFailed(redisOpRevoke, err)
		return
	}
	s.markSynced(cctx, res)
}

func (s *Service) cacheCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cacheTimeout)
}

func (s *Service) redisFailed(op string, err error) {
	s.m.redisErrors[op].Inc()
	s.log.Warn("redis failed; going on without it", "op", op, "err", err)
}

func (s *Service) countRevocations(res store.RevokeResult) {
	for _, r := range res.Revocations {
		s.m.revocations.WithLabelValues(reasonLabel(r.Reason)).Inc()
	}
}

func reasonLabel(r string) string {
	switch r {
	case store.ReasonLogout, store.ReasonLogoutAll, store.ReasonReuse, store.ReasonDisabled, store.ReasonAdmin,
		store.ReasonPasswordChanged, store.ReasonRolesChanged, store.ReasonUserDeleted, store.ReasonBackchannel,
		store.ReasonMFAReset:
		return r
	}
	return "other"
}

func sessionIDs(res store.RevokeResult) []string {
	ids := make([]string, 0, len(res.Revocations))
	for _, r := range res.Revocations {
		ids = append(ids, r.SessionID)
	}
	return ids
}

func checkEmail(email string) error {
	if email == "" || len(email) > MaxEmailLen {
		return fmt.Errorf("%w: %q", ErrInvalidEmail, email)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email, "@") {
		return fmt.Errorf("%w: %q (want a plain address like user@example.com)", ErrInvalidEmail, email)
	}
	return nil
}

func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	ua = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, ua)
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
		for !utf8.ValidString(ua) {
			ua = ua[:len(ua)-1]
		}
	}
	return ua
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.Unmap().String()
}
