package issue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexen/vexen-auth/pkg/config"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Pruner is the part of store.Store the retention job uses.
type Pruner interface {
	PruneExpired(ctx context.Context, before time.Time) (store.Pruned, error)
}

var _ Pruner = (store.Store)(nil)

// Retention defaults and limits.
const (
	DefaultRetentionInterval = time.Hour
	DefaultRetentionWindow   = 24 * time.Hour
	// RetentionMargin is how much longer than an access token's life the window must
	// be. Verifiers load the revocation log of the last (longest access-token life +
	// leeway) when they start, and a revoked session's access tokens can be presented
	// until they expire: a log row must outlive both, with room for clock skew.
	RetentionMargin = time.Hour
	// MinRetentionInterval keeps a misconfigured job from hammering the store.
	MinRetentionInterval = time.Second
)

// RetentionConfig configures the retention job. Zero fields mean their default.
type RetentionConfig struct {
	// Interval is how often the job runs; default 1h (DefaultRetentionInterval).
	Interval time.Duration
	// Window is how long rows are kept after they stop mattering: a token pair after
	// both its tokens expired (or, in a revoked session, after its access token
	// expired), a session after it expired or was revoked and lost its pairs, a log
	// row after its session went. Default 24h; at least AccessTTL + RetentionMargin.
	Window time.Duration
	// AccessTTL is the issuer's access-token lifetime (Config.AccessTTL); default 15m.
	AccessTTL time.Duration
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	setDuration(&c.Interval, DefaultRetentionInterval)
	setDuration(&c.Window, DefaultRetentionWindow)
	setDuration(&c.AccessTTL, DefaultConfig().AccessTTL)
	return c
}

// Validate checks the configuration (after filling in defaults) without side
// effects; the error names the setting by its flag name.
func (c RetentionConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Interval < MinRetentionInterval:
		return config.Invalid("retention-interval", "%v is shorter than %v", c.Interval, MinRetentionInterval)
	case c.AccessTTL < 0:
		return config.Invalid("access-ttl", "%v is negative", c.AccessTTL)
	case c.Window < c.AccessTTL+RetentionMargin:
		return config.Invalid("retention-window", "%v is shorter than access-ttl %v + %v: a revoked session's log row could go while its access tokens can still be presented, and a verifier starting then would not see the revocation",
			c.Window, c.AccessTTL, RetentionMargin)
	}
	return nil
}

// RetentionDeps are the retention job's collaborators.
type RetentionDeps struct {
	Store      Pruner                // required
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	Logger     *slog.Logger          // nil: no logs
	Now        func() time.Time      // nil: time.Now
}

// Results of a run, the values of vexen_issuer_retention_runs_total{result}.
const (
	retentionOK      = "ok"
	retentionSkipped = "skipped" // another issuer holds the prune lock
	retentionError   = "error"
)

// Kinds of pruned rows, the values of vexen_issuer_retention_pruned_total{kind}.
const (
	prunedTokens      = "refresh_tokens"
	prunedSessions    = "sessions"
	prunedRevocations = "revocations"
)

// Retention is the job `issuer serve` runs in the background: every Interval it asks
// the store to prune what stopped mattering more than Window ago (store.Store's
// PruneExpired says exactly what), counts the rows in
// vexen_issuer_retention_pruned_total{kind} and the run in
// vexen_issuer_retention_runs_total{result}, and logs one line with the counts and
// the duration. Replicas sharing a PostgreSQL database prune one at a time (the
// others' runs are "skipped").
//
// What is kept, and why: a used refresh token of a live session stays until it
// expires, because reuse detection must recognise it if it is replayed (the price is
// one row per refresh for the refresh-token lifetime; a shorter --refresh-ttl bounds
// it). Once a session is revoked, Rotate refuses all its tokens whatever their rows
// say, so its rows (and its log row) go Window after the revocation and after its last
// access token expired, whichever is later.
type Retention struct {
	cfg   RetentionConfig
	store Pruner
	log   *slog.Logger
	now   func() time.Time

	runs     map[string]prometheus.Counter
	pruned   map[string]prometheus.Counter
	lastDone prometheus.Gauge
}

// NewRetention validates cfg and builds the job; Run starts it.
func NewRetention(cfg RetentionConfig, d RetentionDeps) (*Retention, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil {
		return nil, errors.New("issue: RetentionDeps.Store is required")
	}
	r := &Retention{cfg: cfg.withDefaults(), store: d.Store, log: d.Logger, now: d.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	reg := d.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "retention_runs_total",
		Help: "Retention job runs, by result (skipped: another issuer was pruning the same database).",
	}, []string{"result"})
	pruned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "retention_pruned_total",
		Help: "Store rows the retention job deleted, by kind.",
	}, []string{"kind"})
	lastDone := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "retention_last_success_timestamp_seconds",
		Help: "When the retention job last finished a run without error (Unix time).",
	})
	if err := errors.Join(reg.Register(runs), reg.Register(pruned), reg.Register(lastDone)); err != nil {
		return nil, fmt.Errorf("issue: register retention metrics: %w", err)
	}
	r.runs = map[string]prometheus.Counter{}
	for _, res := range []string{retentionOK, retentionSkipped, retentionError} {
		r.runs[res] = runs.WithLabelValues(res)
	}
	r.pruned = map[string]prometheus.Counter{}
	for _, k := range []string{prunedTokens, prunedSessions, prunedRevocations} {
		r.pruned[k] = pruned.WithLabelValues(k)
	}
	r.lastDone = lastDone
	return r, nil
}

// Config returns the configuration in use, defaults filled in.
func (r *Retention) Config() RetentionConfig { return r.cfg }

// Run runs the job at once and then every Interval, until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce prunes the rows that stopped mattering more than Window ago, counts and
// logs the run, and returns what the store deleted (what it managed to, on error).
func (r *Retention) RunOnce(ctx context.Context) (store.Pruned, error) {
	before := r.now().Add(-r.cfg.Window)
	start := time.Now()
	p, err := r.store.PruneExpired(ctx, before)
	took := time.Since(start)
	r.pruned[prunedTokens].Add(float64(p.Tokens))
	r.pruned[prunedSessions].Add(float64(p.Sessions))
	r.pruned[prunedRevocations].Add(float64(p.Revocations))
	attrs := []any{"refresh_tokens", p.Tokens, "sessions", p.Sessions, "revocations", p.Revocations,
		"before", before.UTC().Format(time.RFC3339), "duration", took}
	switch {
	case err != nil:
		r.runs[retentionError].Inc()
		r.log.Warn("retention: prune failed; will retry next run", append(attrs, "err", err)...)
		return p, fmt.Errorf("issue: retention: %w", err)
	case p.Skipped:
		r.runs[retentionSkipped].Inc()
		r.log.Info("retention: skipped, another issuer is pruning", attrs...)
	default:
		r.runs[retentionOK].Inc()
		r.lastDone.Set(float64(r.now().Unix()))
		r.log.Info("retention: pruned", attrs...)
	}
	return p, nil
}
