package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/hostlist"
	"github.com/vexen/vexen-auth/pkg/policy"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Sentinel errors. Decide's errors wrap ErrKeysUnavailable or ErrUnavailable; an
// adapter answers them with 503.
var (
	// ErrKeysUnavailable: the JWKS has not been loaded yet, so no token can be verified.
	ErrKeysUnavailable = errors.New("verify: signing keys not loaded")
	// ErrUnavailable: the session store (and Redis) could not answer.
	ErrUnavailable = errors.New("verify: cannot decide: session state unavailable")
	// ErrNoUsableKeys: a fetched JWKS held no key this verifier trusts.
	ErrNoUsableKeys = errors.New("verify: JWKS has no usable signature key")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("verify: Run called twice")
	// ErrNoSessions: Deps.Sessions is nil.
	ErrNoSessions = errors.New("verify: Deps.Sessions is required")
	// ErrWindowNotLoaded: the revocations of the window have not been read from the
	// store yet, so nothing may be allowed.
	ErrWindowNotLoaded = errors.New("verify: revocation window not loaded yet")
	// ErrDraining: Drain was called; the verifier still decides but asks to be taken
	// out of rotation.
	ErrDraining = errors.New("verify: draining for shutdown")
)

// Sessions is the store as the verifier uses it (read-only): store.Store has it.
type Sessions interface {
	SessionState(ctx context.Context, sessionID string) (store.SessionState, error)
	RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, error)
	RevocationsSince(ctx context.Context, since time.Time, after int64, limit int) ([]store.Revocation, error)
	LastRevocationSeq(ctx context.Context) (int64, error)
}

// Shared is Redis as the verifier uses it: *rediscache.Cache has it.
type Shared interface {
	Lookup(ctx context.Context, h string) (rediscache.Lookup, error)
	Fill(ctx context.Context, h string, claims []byte, exp time.Time) error
	MarkRevoked(ctx context.Context, h string, exp time.Time) error
	RunFeed(ctx context.Context, h rediscache.FeedHandler, pingEvery time.Duration) error
	Ping(ctx context.Context) error
}

var (
	_ Sessions = (store.Store)(nil)
	_ Shared   = (*rediscache.Cache)(nil)
	_ Decider  = (*Verifier)(nil)
)

// Deps are the verifier's collaborators.
type Deps struct {
	Sessions   Sessions              // required: the store (SQLite or PostgreSQL)
	Shared     Shared                // nil = no Redis
	Registerer prometheus.Registerer // nil = metrics are kept but not exported
	Logger     *slog.Logger          // nil = discard
	Now        func() time.Time      // nil = time.Now
	HTTPClient *http.Client          // for the JWKS; nil = one with explicit timeouts
	// Audit takes one access_denied event per denial, at most DenialAuditRate a
	// second (bursts of DenialAuditBurst); the rest are dropped and counted in
	// vexen_verifier_audit_denials_dropped_total. nil = no audit of denials.
	Audit audit.Recorder
	// TracerProvider gets the spans of the decisions that leave the local cache
	// (SpanDecide and its children); nil = no spans.
	TracerProvider trace.TracerProvider
}

// The bound on denial audit lines, so that a flood of bad requests cannot fill a
// disk: a line is under 1 KiB (host and path cut to 256 bytes), so a flood that
// never stops writes at most about 0.9 GB a day; a burst writes 100 lines at once.
const (
	DenialAuditRate  = 10  // lines a second on average
	DenialAuditBurst = 100 // lines at once
)

// maxAuditField bounds the client-controlled host and path in a denial line.
const maxAuditField = 256

// Timeouts and intervals of the decision path and the background work.
const (
	// flightTimeout bounds a shared miss-path verification (Redis, keys, store),
	// independently of the first caller's context.
	flightTimeout = 5 * time.Second
	// redisRetry is how long Redis is skipped on the request path after it failed.
	redisRetry = time.Second
	// janitorEvery is how often expired entries and tombstones are dropped.
	janitorEvery = 10 * time.Second
	// minTombstone is the least a tombstone lives (it must outlive every cached
	// token of its session and every verification in flight when it was made).
	minTombstone = time.Minute
	// warnEvery rate-limits the Warn logs of a failing backend.
	warnEvery = 10 * time.Second
)

// Verifier decides: it implements Decider over the three layers (local cache,
// Redis, store) and the revocation feed. Build it with New, start its background
// work with Run. It is safe for concurrent use.
type Verifier struct {
	cfg       Config
	strict    bool
	staleness int64 // ns
	leeway    int64 // ns
	sessions  Sessions
	shared    Shared
	log       *slog.Logger
	denials   *audit.Sampler // nil: no audit of denials
	tracer    trace.Tracer   // nil: no spans
	now       func() time.Time
	m         *metrics

	keys       *keySource
	cache      *localCache
	tombs      *tombstones
	shapes     shapeTable
	policy     atomic.Pointer[activePolicy] // nil: no policy
	redirectTo hostlist.List
	rev        *revocations

	misses         flights[missResult]
	rechecks       flights[recheckResult]
	verifications  flights[verifyResult]
	redisDownUntil atomic.Int64 // unix ns; Redis is skipped before it
	maxLife        atomic.Int64 // longest remaining life (ns) of any token cached
	running        atomic.Bool
	draining       atomic.Bool
	lastWarn       [numBackendOps]atomic.Int64

	hooks struct {
		verify func() // called before each signature check (tests count them)
		event  func() // called once a pub/sub event has moved the log position
	}
}

// New checks cfg, compiles the rules, resolves the metrics and builds the
// verifier. It reads where the store's revocation log ends, and with a JWKS it
// registers the URL (the only one ever fetched) with a jwk.Cache and fetches it
// once, each waiting at most 5 s: a failure is logged, and Run keeps trying. ctx bounds the JWKS cache's background refresh: cancel it when
// the verifier is done (the ctx given to Run is usually the same).
func New(ctx context.Context, cfg Config, d Deps) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Sessions == nil {
		return nil, ErrNoSessions
	}
	cfg = cfg.withDefaults()
	v := &Verifier{
		cfg:       cfg,
		strict:    cfg.Revocation == ModeStrict,
		staleness: int64(cfg.MaxStaleness),
		leeway:    int64(cfg.Leeway),
		sessions:  d.Sessions,
		shared:    d.Shared,
		log:       d.Logger,
		now:       d.Now,
		cache:     newLocalCache(cfg.CacheEntries),
		tombs:     newTombstones(),
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if d.TracerProvider != nil {
		v.tracer = d.TracerProvider.Tracer(tracerName)
	}
	if d.Audit != nil {
		v.denials = audit.NewSampler(d.Audit, DenialAuditRate, DenialAuditBurst)
	}
	var err error
	if v.redirectTo, err = hostlist.Parse(cfg.AllowedRedirectHosts); err != nil {
		return nil, err
	}
	reg := d.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if v.m, err = newMetrics(reg, v); err != nil {
		return nil, err
	}
	p := cfg.Policy
	if p == nil && len(cfg.Rules) > 0 {
		if p, err = policy.FromRules(cfg.Rules); err != nil {
			return nil, err
		}
	}
	v.SetPolicy(p)
	v.keys = &keySource{v: v, url: cfg.JWKSURL, client: jwksClient(d.HTTPClient)}
	if cfg.Secret != "" {
		ring, err := v.hmacKeyring()
		if err != nil {
			return nil, err
		}
		v.keys.ring.Store(ring)
		v.m.keys.Set(1)
	} else if err := v.keys.start(ctx); err != nil {
		return nil, err
	}
	v.rev = newRevocations(v)
	// The feed starts from the log's end as read now, before any token is checked
	// (so none can be revoked unseen between its check and that point).
	ictx, cancel := context.WithTimeout(ctx, initialFetchTimeout)
	defer cancel()
	if err := v.rev.init(ictx); err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "revocation log not readable yet; retrying in the background",
			slog.Any("err", err))
	}
	return v, nil
}

// Run does the background work until ctx ends: it loads the JWKS if New could not,
// follows the revocation feed (Redis pub/sub, and the store's log as a safety net;
// without Redis, the log polled every MaxStaleness/2) and drops expired cache
// entries. It returns nil when ctx ends, having stopped every goroutine it started.
func (v *Verifier) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var wg sync.WaitGroup
	if v.cfg.Secret == "" {
		wg.Go(func() { v.keys.run(ctx) })
	}
	wg.Go(func() { v.rev.run(ctx) })
	wg.Go(func() { v.janitor(ctx) })
	wg.Wait()
	return nil
}

func (v *Verifier) janitor(ctx context.Context) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := v.now().UnixNano()
		v.cache.sweep(now, v.tombs)
		v.tombs.sweep(now)
		v.rev.expireHoles(now)
	}
}

// Drain makes Ready fail from now on (so load balancers and proxies' health
// checks move traffic away) while Decide goes on answering: the first step of a
// graceful shutdown.
func (v *Verifier) Drain() { v.draining.Store(true) }

// Ready reports whether the verifier can decide: keys loaded, the revocation
// window loaded, and a backend that can answer a miss: the store, or in push mode
// Redis (which decides the tokens it knows while the store is down). Strict mode
// needs the store's log for every decision. A Redis outage alone does not make a
// verifier unready: it still decides from its cache and the store, and taking
// every verifier out of rotation for it would turn a slowdown into an outage.
func (v *Verifier) Ready(ctx context.Context) error {
	if v.draining.Load() {
		return ErrDraining
	}
	if v.keys.current() == nil {
		return ErrKeysUnavailable
	}
	if !v.rev.loaded.Load() {
		return ErrWindowNotLoaded
	}
	var storeErr error
	if p, ok := v.sessions.(interface{ Ping(context.Context) error }); ok {
		storeErr = p.Ping(ctx)
	} else {
		_, storeErr = v.sessions.LastRevocationSeq(ctx)
	}
	if storeErr == nil {
		return nil
	}
	if v.strict || v.shared == nil {
		return fmt.Errorf("verify: store: %w", storeErr)
	}
	if err := v.shared.Ping(ctx); err != nil {
		return fmt.Errorf("verify: neither the store (%w) nor Redis (%w) answers", storeErr, err)
	}
	return nil
}

// Decide answers one request. The cached path (a token seen before, its session
// known live within the staleness bound) allocates nothing, with or without a
// policy, and with or without a TracerProvider: only a decision that leaves the
// cache is traced.
func (v *Verifier) Decide(ctx context.Context, r *Request) (Decision, error) {
	start := v.now()
	ap := v.policy.Load()
	var d Decision
	var err error
	var span trace.Span // set by the miss path when tracing
	if ap == nil {
		d, err = v.decide(ctx, r, start, &span)
		d.Rule = policy.LabelNone
		v.m.decisions[d.Reason].Inc()
	} else {
		var rule int
		d, rule, err = v.decidePolicy(ctx, ap, r, start, &span)
		if rule < 0 {
			d.Rule = policy.LabelNone
			v.m.decisions[d.Reason].Inc()
		} else {
			d.Rule = ap.labels[rule]
			ap.decisions[rule][d.Reason].Inc()
		}
	}
	v.m.duration.Observe(v.now().Sub(start).Seconds())
	if span != nil {
		endDecide(span, d, err)
	}
	if d.Reason != ReasonOK && v.log.Enabled(ctx, slog.LevelDebug) {
		v.logDecision(ctx, r, d, err)
	}
	if v.denials != nil && !d.Allow && err == nil {
		v.auditDenial(ctx, r, d)
	}
	return d, err
}

// auditDenial records a denial (not a failure to decide: that is the operational
// log's) in the audit log, rate-limited. The token is named by a hash prefix only.
func (v *Verifier) auditDenial(ctx context.Context, r *Request, d Decision) {
	n, ok := v.denials.Allow()
	if !ok {
		return // dropped and counted, before anything is built
	}
	attrs := []slog.Attr{
		slog.Int("status", d.Status), slog.String("rule", d.Rule),
		slog.String("method", truncate(r.Method)), slog.String("host", truncate(r.Host)),
		slog.String("path", truncate(r.Path)),
	}
	if r.Token != "" && len(r.Token) <= v.cfg.MaxTokenBytes {
		sum := sha256.Sum256([]byte(r.Token))
		attrs = append(attrs, slog.String("token_hash", hex.EncodeToString(sum[:6])))
	}
	v.denials.Emit(ctx, audit.Event{Event: audit.EventDenied, Result: audit.Failure, Reason: d.Reason.String(),
		ClientIP: r.Client, Attrs: attrs}, n)
}

// truncate cuts s to maxAuditField bytes (the audit log escapes what is left).
func truncate(s string) string {
	if len(s) > maxAuditField {
		return s[:maxAuditField] + "…"
	}
	return s
}

func (v *Verifier) logDecision(ctx context.Context, r *Request, d Decision, err error) {
	attrs := []slog.Attr{
		slog.String("reason", d.Reason.String()), slog.Int("status", d.Status),
		slog.String("rule", d.Rule),
		slog.String("method", r.Method), slog.String("host", r.Host),
		slog.String("client", r.Client.String()),
	}
	if r.Token != "" && len(r.Token) <= v.cfg.MaxTokenBytes {
		sum := sha256.Sum256([]byte(r.Token))
		attrs = append(attrs, slog.String("token_hash", hex.EncodeToString(sum[:6])))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	v.log.LogAttrs(ctx, slog.LevelDebug, "denied", attrs...)
}

var (
	decisionNoToken   = Decision{Status: http.StatusUnauthorized, Reason: ReasonNoToken}
	decisionForbidden = Decision{Status: http.StatusForbidden, Reason: ReasonForbidden}
)

func deny(r Reason) Decision {
	switch r {
	case ReasonForbidden:
		return decisionForbidden
	case ReasonUnavailable:
		return Decision{Status: http.StatusServiceUnavailable, Reason: ReasonUnavailable}
	case ReasonBadRequest:
		return Decision{Status: http.StatusBadRequest, Reason: ReasonBadRequest}
	}
	return Decision{Status: http.StatusUnauthorized, Reason: r}
}

// decide is the decision without a policy: any valid token passes, as far as the
// location's tightening (Request.RequireRoles, RequireMFA) allows.
func (v *Verifier) decide(ctx context.Context, r *Request, now time.Time, sp *trace.Span) (Decision, error) {
	id, reason, err := v.identify(ctx, r, now, sp)
	if reason != ReasonOK {
		return deny(reason), err
	}
	if r.RequireRoles != "" || r.RequireMFA {
		q := policy.Requirement{Action: policy.Authenticated, LocationRoles: r.RequireRoles, MFA: r.RequireMFA}
		return v.outcome(q.Check(true, id.Roles(), id.MFA()), id), nil
	}
	return Decision{Allow: true, Status: http.StatusOK, Reason: ReasonOK, Identity: id}, nil
}

// identify checks the request's token: its identity, or the reason it has none
// (and an error when that could not be decided). A check that leaves the local
// cache starts the decision's span in *sp.
func (v *Verifier) identify(ctx context.Context, r *Request, now time.Time, sp *trace.Span) (*Identity, Reason, error) {
	tok := r.Token
	if tok == "" {
		return nil, ReasonNoToken, nil
	}
	if len(tok) > v.cfg.MaxTokenBytes {
		return nil, ReasonMalformed, nil
	}
	if !v.rev.loaded.Load() {
		// Until the window is read, a revoked session may look live.
		return nil, ReasonUnavailable, ErrWindowNotLoaded
	}
	// The token hash is the local key; hashing the string in place avoids a copy.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
	var e *entry
	if !v.cfg.NoLocalCache {
		if e = v.cache.get(&h); e != nil {
			if reason, err := v.cached(ctx, r, &h, e, now, sp); reason != ReasonOK {
				return nil, reason, err
			}
		}
	}
	if e == nil {
		var (
			reason Reason
			err    error
		)
		ctx = v.startDecide(ctx, r, sp)
		if e, reason, err = v.miss(ctx, tok, &h, now); reason != ReasonOK {
			return nil, reason, err
		}
	}
	if v.strict {
		if reason, err := v.strictCheck(ctx, &h, e); reason != ReasonOK {
			return nil, reason, err
		}
	}
	return &e.id, ReasonOK, nil
}

// strictCheck waits for a read of the store's log that started after the request
// arrived, then refuses the token if its session is tombstoned: a revocation whose
// call returned before the request started is refused, whatever Redis holds.
func (v *Verifier) strictCheck(ctx context.Context, h *[32]byte, e *entry) (Reason, error) {
	if err := v.rev.sync(ctx); err != nil {
		return ReasonUnavailable, fmt.Errorf("%w: revocation log: %w", ErrUnavailable, err)
	}
	if v.tombs.has(e.id.SessionID, v.now().UnixNano()) {
		v.cache.remove(h, e)
		return ReasonRevoked, nil
	}
	return ReasonOK, nil
}

// cached applies the trust rule to a local hit.
func (v *Verifier) cached(ctx context.Context, r *Request, h *[32]byte, e *entry, now time.Time, sp *trace.Span) (Reason, error) {
	ns := now.UnixNano()
	if ns >= e.deadline {
		v.cache.remove(h, e)
		return ReasonExpired, nil
	}
	if v.tombs.has(e.id.SessionID, ns) {
		v.cache.remove(h, e)
		return ReasonRevoked, nil
	}
	if v.strict {
		return ReasonOK, nil // Decide's strictCheck follows
	}
	if ns-e.checkedAt.Load() <= v.staleness || v.feedFresh(ns) {
		return ReasonOK, nil
	}
	// Stale entry and a feed that cannot vouch for it: check again, once for all
	// concurrent requests carrying this token.
	ctx = v.startDecide(ctx, r, sp)
	res, ok := v.rechecks.do(ctx, *h, func(fctx context.Context) recheckResult {
		hv := *h
		reason, err := v.recheck(fctx, &hv, e, v.now())
		return recheckResult{reason, err}
	})
	if !ok {
		return ReasonUnavailable, flightErr(ctx)
	}
	return res.reason, res.err
}

// flightErr is the error of a caller that got no result from a shared check:
// its context ended first, or the check panicked in the goroutine running it.
func flightErr(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
	}
	return fmt.Errorf("%w: the shared check failed", ErrUnavailable)
}

type recheckResult struct {
	reason Reason
	err    error
}

// feedFresh reports whether the revocation feed vouches for cached entries at now.
func (v *Verifier) feedFresh(now int64) bool {
	at := v.rev.freshAt.Load()
	return at != 0 && now-at <= v.staleness
}

// redisUsable: Redis is configured and has not failed within redisRetry.
func (v *Verifier) redisUsable(now time.Time) bool {
	return v.shared != nil && now.UnixNano() >= v.redisDownUntil.Load()
}

func (v *Verifier) backendFailed(ctx context.Context, op backendOp, err error) {
	v.m.backendErrors[op].Inc()
	now := v.now().UnixNano()
	if op <= opRedisMarkRevoked {
		v.redisDownUntil.Store(now + int64(redisRetry))
	}
	last := v.lastWarn[op].Load()
	if now-last < int64(warnEvery) || !v.lastWarn[op].CompareAndSwap(last, now) {
		return
	}
	v.log.LogAttrs(ctx, slog.LevelWarn, "verifier backend call failed",
		slog.String("backend", backendOpLabels[op][0]), slog.String("op", backendOpLabels[op][1]),
		slog.Any("err", err))
}

// recheck asks Redis, then the store, whether a cached token's session is still
// live, and refreshes checkedAt when it is.
func (v *Verifier) recheck(ctx context.Context, h *[32]byte, e *entry, now time.Time) (Reason, error) {
	ns := now.UnixNano()
	hx := hex.EncodeToString(h[:])
	redisMiss := false
	if v.redisUsable(now) {
		l, err := v.lookup(ctx, hx)
		switch {
		case err != nil:
			v.m.redisMisses.Add(1)
			v.backendFailed(ctx, opRedisLookup, err)
		case l.Revoked:
			v.m.redisHits.Add(1)
			v.cache.remove(h, e)
			return ReasonRevoked, nil
		case l.Claims != nil:
			v.m.redisHits.Add(1)
			e.checkedAt.Store(ns)
			return ReasonOK, nil
		default:
			v.m.redisMisses.Add(1)
			redisMiss = true
		}
	}
	reason, err := v.sessionLive(ctx, e.id.SessionID, e.id.UserID, now)
	exp := time.Unix(0, e.deadline-v.leeway)
	if reason != ReasonOK {
		v.cache.remove(h, e)
		if reason == ReasonRevoked && redisMiss {
			if err := v.shared.MarkRevoked(ctx, hx, exp); err != nil {
				v.backendFailed(ctx, opRedisMarkRevoked, err)
			}
		}
		return reason, err
	}
	e.checkedAt.Store(ns)
	if redisMiss {
		if claims := v.minimalClaims(e); claims != nil {
			if err := v.shared.Fill(ctx, hx, claims, exp); err != nil {
				v.backendFailed(ctx, opRedisFill, err)
			}
		}
	}
	return ReasonOK, nil
}

// sessionLive asks the store about a session. Revoked, expired, unknown sessions
// and those of a disabled user are ReasonRevoked (and tombstoned); a session of
// another user than the token's is ReasonClaims; a store failure is an error.
func (v *Verifier) sessionLive(ctx context.Context, sid, uid string, now time.Time) (Reason, error) {
	sctx, span := v.child(ctx, SpanSessionState, trace.SpanKindClient)
	st, err := v.sessions.SessionState(sctx, sid)
	if span != nil {
		endSession(span, st, err, now)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ReasonRevoked, nil
	case err != nil:
		v.backendFailed(ctx, opStoreSession, err)
		return ReasonUnavailable, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case st.UserID != uid:
		return ReasonClaims, nil
	case !st.Live(now):
		v.tombstone(sid, now.UnixNano())
		return ReasonRevoked, nil
	}
	return ReasonOK, nil
}

// tombstone refuses every token of sid from now on.
func (v *Verifier) tombstone(sid string, now int64) bool {
	return v.tombstoneAt(sid, now, now)
}

// tombstoneAt refuses every token of sid, revoked at `at` (unix ns; 0 = unknown),
// for as long as one can be presented: until the window after the revocation has
// passed, and at least as long as any token cached now can live.
func (v *Verifier) tombstoneAt(sid string, at, now int64) bool {
	if at <= 0 {
		at = now
	}
	life := max(v.maxLife.Load(), int64(minTombstone))
	return v.tombs.add(sid, max(at+v.window(), now+life)+int64(minTombstone))
}

// missResult is what a shared miss-path resolution hands every waiter.
type missResult struct {
	e      *entry
	reason Reason
	err    error
}

// miss resolves a token the local cache does not hold. In push mode concurrent
// requests for one token share the whole resolution (one Redis lookup, one
// signature check, one store query). In strict mode each request looks revocation
// up itself, after it started; only the signature check is shared.
func (v *Verifier) miss(ctx context.Context, tok string, h *[32]byte, now time.Time) (*entry, Reason, error) {
	if _, _, ok := splitToken(tok); !ok {
		return nil, ReasonMalformed, nil
	}
	if v.strict {
		res := v.resolve(ctx, tok, h, now)
		return res.e, res.reason, res.err
	}
	hv := *h
	r, ok := v.misses.do(ctx, hv, func(fctx context.Context) missResult {
		now := v.now()
		if !v.cfg.NoLocalCache {
			// A flight that just finished may have cached it.
			if e := v.cache.peek(&hv); e != nil && now.UnixNano() < e.deadline {
				if v.tombs.has(e.id.SessionID, now.UnixNano()) {
					return missResult{reason: ReasonRevoked}
				}
				return missResult{e: e}
			}
		}
		return v.resolve(fctx, tok, &hv, now)
	})
	if !ok {
		return nil, ReasonUnavailable, flightErr(ctx)
	}
	return r.e, r.reason, r.err
}

// resolve runs the miss path. First sight (see firstSight): the full token check,
// then the tombstones decide, with no Redis or store call. Otherwise: Redis
// (revoked → deny; claims cached by the issuer or a peer after their own full
// check → allow), else the full token check, then the store's session state,
// then fill Redis and the local cache.
func (v *Verifier) resolve(ctx context.Context, tok string, h *[32]byte, now time.Time) missResult {
	ns := now.UnixNano()
	var pre *verified // checked by the first-sight attempt, which could not vouch
	if v.firstSight(ns) {
		ver, reason, err := v.checkSignature(ctx, tok, now)
		if reason != ReasonOK {
			return missResult{reason: reason, err: err}
		}
		if v.windowCovers(ver.claims, ns) {
			return v.admitFirstSight(h, ver.claims, ns)
		}
		pre = &ver
	}
	hx := hex.EncodeToString(h[:])
	redisAnswered := false
	if v.redisUsable(now) {
		l, err := v.lookup(ctx, hx)
		switch {
		case err != nil:
			v.m.redisMisses.Add(1)
			v.backendFailed(ctx, opRedisLookup, err)
		case l.Revoked:
			v.m.redisHits.Add(1)
			return missResult{reason: ReasonRevoked}
		case l.Claims != nil:
			c, derr := decodeCachedClaims(l.Claims)
			if derr == nil {
				switch r := v.checkClaims(c, ns); r {
				case ReasonOK:
					v.m.redisHits.Add(1)
					return v.admitLive(h, c, ns)
				case ReasonExpired:
					v.m.redisHits.Add(1)
					return missResult{reason: ReasonExpired}
				}
			}
			// Claims we cannot use (another issuer or audience, or not ours at all)
			// vouch for nothing: check the token ourselves.
			v.m.redisMisses.Add(1)
			redisAnswered = true
		default:
			v.m.redisMisses.Add(1)
			redisAnswered = true
		}
	}

	var (
		ver    verified
		e      *entry // strict mode: cached as soon as the signature is checked
		reason Reason
		err    error
	)
	if v.strict {
		// Strict mode checks the session on every hit anyway, so a token is cached
		// as soon as its signature and claims are known good: requests that come
		// later skip the signature check and each do their own session check.
		hv := *h
		vr, ok := v.verifications.do(ctx, hv, func(fctx context.Context) verifyResult {
			now := v.now()
			// A flight that finished between this caller's cache miss and now has
			// cached the checked token: its signature need not be checked again.
			if e := v.cache.peek(&hv); e != nil && now.UnixNano() < e.deadline {
				return verifyResult{e: e, cached: true}
			}
			ver, reason, err := v.checkSignature(fctx, tok, now)
			vr := verifyResult{ver: ver, reason: reason, err: err}
			if reason == ReasonOK {
				if vr.e = v.admit(&hv, ver.claims, now.UnixNano(), 0); vr.e == nil {
					vr.reason = ReasonRevoked
				}
			}
			return vr
		})
		if !ok {
			return missResult{reason: ReasonUnavailable, err: flightErr(ctx)}
		}
		if vr.cached {
			// The local hit it now is: Decide's strictCheck follows.
			return missResult{e: vr.e}
		}
		ver, e, reason, err = vr.ver, vr.e, vr.reason, vr.err
	} else if pre != nil {
		ver, reason = *pre, ReasonOK
	} else {
		ver, reason, err = v.checkSignature(ctx, tok, now)
	}
	if reason != ReasonOK {
		return missResult{reason: reason, err: err}
	}
	c := ver.claims
	exp := time.Unix(0, c.Exp.ns)
	if v.tombs.has(c.Sid, ns) {
		reason = ReasonRevoked
	} else {
		reason, err = v.sessionLive(ctx, c.Sid, c.Sub, now)
	}
	if reason != ReasonOK {
		if e != nil {
			v.cache.remove(h, e)
		}
		if reason == ReasonRevoked && redisAnswered {
			if err := v.shared.MarkRevoked(ctx, hx, exp); err != nil {
				v.backendFailed(ctx, opRedisMarkRevoked, err)
			}
		}
		return missResult{reason: reason, err: err}
	}
	if redisAnswered {
		if err := v.shared.Fill(ctx, hx, ver.payload, exp); err != nil {
			v.backendFailed(ctx, opRedisFill, err)
		}
	}
	if e != nil {
		e.checkedAt.Store(ns)
		return missResult{e: e}
	}
	if e = v.admit(h, c, ns, ns); e == nil {
		return missResult{reason: ReasonRevoked}
	}
	return missResult{e: e}
}

// firstSight reports whether a never-seen token may be decided from the
// revocation window alone at now: push mode (strict mode promises a per-request
// log read and keeps its store check), the local cache on (without it every
// token is "never seen", and the operator asked for Redis), the operator did not
// opt out (--first-sight-session-check), the window loaded, and the feed fresh:
// every revocation committed before now - MaxStaleness has been applied, the
// same bound a cached entry is trusted on.
func (v *Verifier) firstSight(now int64) bool {
	return !v.strict && !v.cfg.NoLocalCache && !v.cfg.FirstSightSessionCheck &&
		v.rev.loaded.Load() && v.feedFresh(now)
}

// windowCovers reports whether every way the session of checked claims can have
// ended is known to the verifier at now, so that no tombstone means live. Each
// of them writes a row to the store's revocation log in the transaction that
// ends the session (logout, logout everywhere, refresh-token reuse, user
// disabled or deleted, password changed, roles changed, second factors reset,
// back-channel logout, an operator's revoke), and the window holds every row
// from `from` on; the one exception is the session's own expiry, which writes
// nothing: the issuer sets it to refresh-ttl after the token's iat, and
// refresh-ttl is longer than access-ttl, so a token before its exp (leeway
// not counted) has a session not yet expired.
//   - iat at or after the window's start: a revocation before the window began
//     (not loaded) came before the token, which the issuer does not mint for a
//     revoked session. checkClaims bounds exp - iat by MaxTokenLife, and the
//     window reaches MaxTokenLife + leeway + a minute back from the verifier's
//     start, so this holds for any token that passed them unless a clock moved.
//   - now before exp: within the leeway after exp the session may have expired
//     without a row; such a token goes to the store as before.
func (v *Verifier) windowCovers(c *tokenClaims, now int64) bool {
	from := v.rev.from.Load()
	return from != 0 && c.Iat.ns >= from && now < c.Exp.ns
}

// admitFirstSight decides checked claims from the window: tombstoned → revoked,
// else cached as checked now. Redis is not filled: the issuer wrote
// access_token:{h} when it minted the token, a peer whose feed is fresh decides
// the token the same way without asking, and a fill (even in the background)
// would put one Redis write per new token back on the path this avoids.
func (v *Verifier) admitFirstSight(h *[32]byte, c *tokenClaims, now int64) missResult {
	v.m.firstSight.Inc()
	return v.admitLive(h, c, now)
}

// admitLive caches claims vouched for at now (by Redis or by the window), unless
// their session is tombstoned: then the token is revoked.
func (v *Verifier) admitLive(h *[32]byte, c *tokenClaims, now int64) missResult {
	if v.tombs.has(c.Sid, now) {
		return missResult{reason: ReasonRevoked}
	}
	if e := v.admit(h, c, now, now); e != nil {
		return missResult{e: e}
	}
	return missResult{reason: ReasonRevoked}
}

// verifyResult is a shared signature check's outcome.
type verifyResult struct {
	ver    verified
	e      *entry
	cached bool // e was found in the local cache: nothing was verified
	reason Reason
	err    error
}

// admit builds the entry for checked claims and caches it, unless its session is
// (or, by the time it is in, has become) tombstoned; then it returns nil.
func (v *Verifier) admit(h *[32]byte, c *tokenClaims, now, checkedAt int64) *entry {
	deadline := c.Exp.ns + v.leeway
	e := newEntry(c, v.shapes.get(c.Roles, c.Amr), deadline, checkedAt)
	if v.cfg.NoLocalCache {
		return e
	}
	life := deadline - now
	for {
		cur := v.maxLife.Load()
		if life <= cur || v.maxLife.CompareAndSwap(cur, life) {
			break
		}
	}
	v.cache.put(h, e, now)
	// A revocation applied between the check and the insert tombstoned the session
	// before reading maxLife, so this sees it.
	if v.tombs.has(c.Sid, now) {
		v.cache.remove(h, e)
		return nil
	}
	return e
}

// Cache size and state, for tests and the benchmark harness.

// CachedEntries is the number of tokens in the local cache.
func (v *Verifier) CachedEntries() int { return int(v.cache.n.Load()) }
