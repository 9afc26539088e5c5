package verify

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds every child resolved once, in New: the request path only calls Inc
// and Observe on them.
type metrics struct {
	decisions     [numReasons]prometheus.Counter // rule="none"
	decisionVec   *prometheus.CounterVec         // for a policy's children (SetPolicy)
	duration      prometheus.Histogram
	propagation   prometheus.Histogram
	backendErrors [numBackendOps]prometheus.Counter
	jwksFetches   [2]prometheus.Counter // ok, error
	jwksRefetches prometheus.Counter
	firstSight    prometheus.Counter // never-seen tokens decided from the window alone
	keys          prometheus.Gauge

	redisHits   atomic.Uint64
	redisMisses atomic.Uint64
}

// Backend operations counted when they fail.
type backendOp uint8

const (
	opRedisLookup backendOp = iota
	opRedisFill
	opRedisMarkRevoked
	opStoreSession
	opStoreLog
	numBackendOps
)

var backendOpLabels = [numBackendOps][2]string{
	opRedisLookup:      {"redis", "lookup"},
	opRedisFill:        {"redis", "fill"},
	opRedisMarkRevoked: {"redis", "mark_revoked"},
	opStoreSession:     {"store", "session_state"},
	opStoreLog:         {"store", "revocation_log"},
}

// decisionOf is the decision label of a reason.
func decisionOf(r Reason) string {
	switch r {
	case ReasonOK:
		return "allow"
	case ReasonUnavailable:
		return "error"
	}
	return "deny"
}

func newMetrics(reg prometheus.Registerer, v *Verifier) (*metrics, error) {
	m := &metrics{}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vexen_verifier_decisions_total",
		Help: "Decisions by outcome (allow, deny, error), reason and deciding policy rule (a rule name, default, or none).",
	}, []string{"decision", "reason", "rule"})
	m.decisionVec = decisions
	for r := Reason(0); r < numReasons; r++ {
		m.decisions[r] = decisions.WithLabelValues(decisionOf(r), r.String(), "none")
	}
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vexen_verifier_decision_duration_seconds",
		Help:    "Time to decide, from token to answer.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 11), // 1µs … 1s
	})
	m.propagation = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vexen_verifier_revocation_propagation_seconds",
		Help:    "Time from a revocation (its timestamp in the store) to its being applied here.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms … 16s
	})
	backend := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vexen_verifier_backend_errors_total",
		Help: "Failed calls to Redis and the store, by backend and operation.",
	}, []string{"backend", "op"})
	for op := range numBackendOps {
		m.backendErrors[op] = backend.WithLabelValues(backendOpLabels[op][0], backendOpLabels[op][1])
	}
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vexen_verifier_jwks_fetches_total",
		Help: "JWKS fetches by result.",
	}, []string{"result"})
	m.jwksFetches[0] = fetches.WithLabelValues("ok")
	m.jwksFetches[1] = fetches.WithLabelValues("error")
	m.jwksRefetches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vexen_verifier_jwks_unknown_kid_refetches_total",
		Help: "JWKS fetches caused by a token with an unknown kid (at most one per 10s).",
	})
	m.firstSight = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vexen_verifier_first_sight_known_total",
		Help: "Never-seen tokens decided from the revocation window, with no Redis or store call.",
	})
	m.keys = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vexen_verifier_signing_keys",
		Help: "Keys trusted for verification.",
	})
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vexen_verifier_local_cache_entries",
		Help: "Tokens in the in-process cache.",
	}, func() float64 { return float64(v.cache.n.Load()) })
	tombs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vexen_verifier_tombstones",
		Help: "Revoked sessions remembered so that no cached token of theirs is honoured.",
	}, func() float64 { return float64(v.tombs.n.Load()) })
	fresh := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vexen_verifier_feed_fresh",
		Help: "1 while the revocation feed is fresh (cached decisions trusted without a re-check).",
	}, func() float64 {
		if v.feedFresh(v.now().UnixNano()) {
			return 1
		}
		return 0
	})
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vexen_verifier_audit_denials_dropped_total",
		Help: "Denials left out of the audit log by its rate limit (DenialAuditRate a second).",
	}, func() float64 {
		if v.denials == nil {
			return 0
		}
		return float64(v.denials.Dropped())
	})
	for _, c := range []prometheus.Collector{decisions, m.duration, m.propagation, backend, fetches,
		m.jwksRefetches, m.firstSight, m.keys, entries, tombs, fresh, dropped, &cacheCollector{v: v}} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("verify: metrics already registered (one Verifier per Registerer)")
			}
			return nil, err
		}
	}
	return m, nil
}

// cacheCollector exports the per-layer lookup counters, kept as plain atomics (the
// local ones per shard, beside the shard's lock), and the hit ratios derived from them.
type cacheCollector struct{ v *Verifier }

var (
	cacheRequestsDesc = prometheus.NewDesc("vexen_verifier_cache_requests_total",
		"Cache lookups by layer (local, redis) and result (hit, miss).", []string{"layer", "result"}, nil)
	cacheRatioDesc = prometheus.NewDesc("vexen_verifier_cache_hit_ratio",
		"Hits / lookups per cache layer over the process lifetime.", []string{"layer"}, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheRequestsDesc
	ch <- cacheRatioDesc
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	lh, lm := c.v.cache.stats()
	rh, rm := c.v.m.redisHits.Load(), c.v.m.redisMisses.Load()
	for _, l := range []struct {
		layer     string
		hit, miss uint64
	}{{"local", lh, lm}, {"redis", rh, rm}} {
		ch <- prometheus.MustNewConstMetric(cacheRequestsDesc, prometheus.CounterValue, float64(l.hit), l.layer, "hit")
		ch <- prometheus.MustNewConstMetric(cacheRequestsDesc, prometheus.CounterValue, float64(l.miss), l.layer, "miss")
		ratio := 0.0
		if total := l.hit + l.miss; total > 0 {
			ratio = float64(l.hit) / float64(total)
		}
		ch <- prometheus.MustNewConstMetric(cacheRatioDesc, prometheus.GaugeValue, ratio, l.layer)
	}
}
