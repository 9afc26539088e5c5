package issue

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoints, the values of the endpoint label: a fixed set, never a raw path.
const (
	epLogin      = "login"
	epRefresh    = "refresh"
	epLogout     = "logout"
	epLogoutAll  = "logout_all"
	epSessions   = "sessions"
	epJWKS       = "jwks"
	epDiscovery  = "discovery"
	epHealthz    = "healthz"
	epReadyz     = "readyz"
	epNotFound   = "not_found"
	epLoginPage  = "login_page"  // GET|POST /login
	epLogoutPage = "logout_page" // GET|POST /logout
	epAccount    = "account"     // GET /
	// The account lifecycle.
	epPassword      = "password"       // POST /v1/password
	epPasswordReset = "password_reset" // POST /v1/password/reset
	epPasswordPage  = "password_page"  // POST /password (the account page's form)
	epResetPage     = "reset_page"     // GET|POST /reset
	epLoginMFA      = "login_mfa"      // /v1/login/mfa, /v1/login/step-up
	epMFA           = "mfa"            // /v1/mfa/…

	// Federated sign-in, every provider: /oidc/{id}/start, callback, backchannel-logout, logged-out.
	epOIDCStart       = "oidc_start"
	epOIDCCallback    = "oidc_callback"
	epOIDCBackchannel = "oidc_backchannel_logout"
	epOIDCLoggedOut   = "oidc_logged_out"
	numEndpoints      = 23
)

var endpoints = [numEndpoints]string{epLogin, epRefresh, epLogout, epLogoutAll, epSessions, epJWKS, epDiscovery, epHealthz, epReadyz, epNotFound,
	epLoginPage, epLogoutPage, epAccount, epPassword, epPasswordReset, epPasswordPage, epResetPage, epLoginMFA, epMFA,
	epOIDCStart, epOIDCCallback, epOIDCBackchannel, epOIDCLoggedOut}

// Login results, the values of vexen_issuer_logins_total{result}.
const (
	loginSuccess       = "success"
	loginWrongPass     = "wrong_password"
	loginUnknownUser   = "unknown_user"
	loginDisabled      = "disabled"
	loginRateLimited   = "rate_limited"
	loginError         = "error"
	loginMFARequired   = "mfa_required" // the password was right; the second factor is owed
	loginWrongCode     = "wrong_code"   // the second step's code was wrong or replayed
	refreshSuccess     = "success"
	refreshInvalid     = "invalid"
	refreshReused      = "reused"
	refreshError       = "error"
	refreshRateLimited = "rate_limited"
	redisOpStorePair   = "store_pair"
	redisOpDrop        = "drop_refresh"
	redisOpRevoke      = "revoke"
	redisOpRateLimit   = "rate_limit"
	redisOpPing        = "ping"
	redisOpSweep       = "sweep_user_tokens"
	metricsNamespace   = "vexen"
	metricsSubsystem   = "issuer"
	durationHelp       = "Time to answer an issuer API request, by endpoint."
	requestsHelp       = "Issuer API requests, by endpoint and HTTP status code."
	loginsHelp         = "Login attempts, by result."
	refreshesHelp      = "Refresh attempts, by result (reused: a replayed refresh token revoked its session; rate_limited: refused by the per-address limit)."
	redisErrorsHelp    = "Redis operations that failed; the request went on without Redis."
	revocationsHelp    = "Sessions revoked, by reason."
	hashesWaitingHelp  = "Password hashes waiting for a free hashing slot."
	resyncedHelp       = "Revocations written through to Redis by the repair job (their first write-through failed, or they were made without Redis)."
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    map[string]prometheus.Observer
	logins      map[string]prometheus.Counter
	refreshes   map[string]prometheus.Counter
	redisErrors map[string]prometheus.Counter
	revocations *prometheus.CounterVec
	waiting     prometheus.Gauge
	resynced    prometheus.Counter
	rehashes    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "requests_total", Help: requestsHelp,
	}, []string{"endpoint", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "request_duration_seconds", Help: durationHelp,
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"endpoint"})
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "logins_total", Help: loginsHelp,
	}, []string{"result"})
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "refreshes_total", Help: refreshesHelp,
	}, []string{"result"})
	redisErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "redis_errors_total", Help: redisErrorsHelp,
	}, []string{"op"})
	revocations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "revocations_total", Help: revocationsHelp,
	}, []string{"reason"})
	waiting := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "password_hashes_waiting", Help: hashesWaitingHelp,
	})
	resynced := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "revocations_resynced_total", Help: resyncedHelp,
	})
	rehashes := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "password_rehashes_total",
		Help: "Password hashes upgraded at login to raised argon2 parameters.",
	})
	var errs []error
	for _, c := range []prometheus.Collector{requests, duration, logins, refreshes, redisErrors, revocations, waiting, resynced, rehashes} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := &metrics{
		requests:    requests,
		duration:    make(map[string]prometheus.Observer, numEndpoints),
		logins:      map[string]prometheus.Counter{},
		refreshes:   map[string]prometheus.Counter{},
		redisErrors: map[string]prometheus.Counter{},
		revocations: revocations,
		waiting:     waiting,
		resynced:    resynced,
		rehashes:    rehashes,
	}
	for _, ep := range endpoints {
		m.duration[ep] = duration.WithLabelValues(ep)
	}
	for _, r := range []string{loginSuccess, loginWrongPass, loginUnknownUser, loginDisabled, loginRateLimited, loginError, loginMFARequired, loginWrongCode} {
		m.logins[r] = logins.WithLabelValues(r)
	}
	for _, r := range []string{refreshSuccess, refreshInvalid, refreshReused, refreshRateLimited, refreshError} {
		m.refreshes[r] = refreshes.WithLabelValues(r)
	}
	for _, op := range []string{redisOpStorePair, redisOpDrop, redisOpRevoke, redisOpRateLimit, redisOpPing, redisOpSweep} {
		m.redisErrors[op] = redisErrors.WithLabelValues(op)
	}
	return m, nil
}
