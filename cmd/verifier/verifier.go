package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/extra/redisprometheus/v9"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/vexen/vexen-auth/internal/cli"
	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/config"
	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/policy"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/postgres" // DATABASE_URL=postgres://…
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"   // DATABASE_URL=sqlite:PATH (default)
	"github.com/vexen/vexen-auth/pkg/tracing"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// Main is the verifier program: ParseFlags, then Run, then Close. Tests start it
// in-process on port 0.
type Main struct {
	Config          verify.Config
	Listen          string
	GRPCListen      string
	MetricsListen   string // a second, private place for /metrics; "" = off
	DatabaseURL     string
	RedisURL        string
	RedisPrefix     string
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long Drain keeps serving with readiness failing; default 5s.
	ShutdownDelay  time.Duration
	MaxHeaderBytes int
	PolicyFile     string
	// TLS of the HTTP, gRPC and metrics listeners; the client CA is not asked
	// for on the metrics listener.
	TLS      cli.TLSOptions
	AuditLog string // file the audit log is appended to; "" = Stdout
	// Tracing is the OTEL_* environment (ParseFlags reads it): spans of the
	// decisions that leave the cache; off unless an endpoint is set.
	Tracing        tracing.Config
	trustedProxies []string
	getenv         func(string) string
	tracer         *tracing.Provider

	Stdout io.Writer // the audit log without AuditLog; nil = os.Stdout
	Stderr io.Writer
	// Audit takes the audit events (denials, policy reloads); Run sets it from
	// AuditLog unless a test did.
	Audit     audit.Recorder
	auditFile *os.File
	Logger    *slog.Logger
	Registry  *prometheus.Registry
	Verifier  *verify.Verifier

	store   store.Store
	rdb     redis.UniversalClient
	srv     *http.Server
	ln      net.Listener
	grpcSrv *grpc.Server
	authz   *extauthz.Server
	grpcLn  net.Listener
	served  <-chan error
	reload  *policy.Reloader
	hup     chan os.Signal
	cancel  context.CancelFunc
	bg      sync.WaitGroup
	set     *config.Set
	// The metrics server (nil when MetricsListen is empty).
	metricsSrv    *http.Server
	metricsLn     net.Listener
	metricsServed <-chan error
}

// NewMain returns a Main with the contract's defaults.
func NewMain() *Main {
	return &Main{
		Config:          verify.DefaultConfig(),
		Listen:          ":8081",
		LogLevel:        "info",
		ShutdownTimeout: 15 * time.Second,
		ShutdownDelay:   5 * time.Second,
		MaxHeaderBytes:  16 << 10,
		trustedProxies:  []string{"127.0.0.0/8", "::1/128"},
	}
}

func (m *Main) flags(getenv func(string) string) *config.Set {
	s := config.New("verifier", getenv)
	m.set = s
	m.getenv = getenv
	c := &m.Config
	s.String(&m.Listen, "listen", "VERIFIER_LISTEN", "address to serve the HTTP decision endpoint (/auth), health and metrics on")
	s.String(&m.GRPCListen, "grpc-listen", "VERIFIER_GRPC_LISTEN", "address of the Envoy ext_authz v3 gRPC server; empty = off")
	s.String(&m.MetricsListen, "metrics-listen", "METRICS_LISTEN", "address to serve Prometheus /metrics on as well (it stays on --listen too); empty = off")
	s.String(&m.TLS.CertFile, "tls-cert", "TLS_CERT", "PEM certificate (chain) of the HTTP, gRPC and metrics listeners, reloaded when it changes; empty = plain TCP")
	s.String(&m.TLS.KeyFile, "tls-key", "TLS_KEY", "PEM private key of --tls-cert, reloaded with it")
	s.String(&m.TLS.ClientCAFile, "tls-client-ca", "TLS_CLIENT_CA", "PEM CA bundle: the HTTP and gRPC listeners accept only clients (proxies) with a certificate it signed; empty = no client certificate asked")
	s.String(&c.JWKSURL, "jwks-url", "JWKS_URL", "the issuer's JWKS (ignored when JWT_SECRET_KEY is set)")
	s.Duration(&c.JWKSRefresh, "jwks-refresh", "JWKS_REFRESH", "how often the JWKS is fetched on schedule (an unknown kid also fetches it, at most once per 10s); shorter than the issuer's --key-prepublish")
	s.String(&c.Issuer, "issuer", "VERIFIER_ISSUER", "required iss claim")
	s.String(&c.Audience, "audience", "VERIFIER_AUDIENCE", "required aud claim")
	s.String(&c.CookieName, "cookie-name", "COOKIE_NAME", "cookie holding the access token when no Authorization header is sent")
	s.Secret(&c.Secret, "JWT_SECRET_KEY")
	s.String(&c.Revocation, "revocation", "VERIFIER_REVOCATION", "push (revocation events + the store's log read every max-staleness/2) or strict (every decision waits for a log read that started after it)")
	s.Duration(&c.MaxStaleness, "max-staleness", "VERIFIER_MAX_STALENESS", "longest a revocation can take to be seen in push mode, Redis or not: a cached decision is trusted only while the store's revocation log was read within it")
	s.Duration(&c.MaxTokenLife, "max-token-life", "VERIFIER_MAX_TOKEN_LIFE", "longest access-token life (exp - iat) accepted; the revocation window held in memory is this plus the leeway (at least the issuer's --access-ttl)")
	s.Duration(&c.Leeway, "leeway", "VERIFIER_LEEWAY", "clock skew allowed on exp, nbf and iat")
	s.Int(&c.CacheEntries, "cache-entries", "VERIFIER_CACHE_ENTRIES", "bound of the in-process decision cache; 0 = the default")
	s.Bool(&c.NoLocalCache, "no-local-cache", "VERIFIER_NO_LOCAL_CACHE", "disable the in-process cache (benchmarks; Redis then answers)")
	s.Bool(&c.FirstSightSessionCheck, "first-sight-session-check", "VERIFIER_FIRST_SIGHT_SESSION_CHECK", "ask Redis and the store about every never-seen token, even while the revocation window and a fresh feed can vouch for it")
	s.String(&c.LoginURL, "login-url", "VERIFIER_LOGIN_URL", "login page for browser redirects (routes that opt in); empty = never redirect")
	s.List(&c.AllowedRedirectHosts, "allowed-redirect-hosts", "ALLOWED_REDIRECT_HOSTS", "hosts (and *.parent wildcards) allowed as return URLs in browser redirects")
	s.List(&m.trustedProxies, "trusted-proxies", "TRUSTED_PROXIES", "CIDRs whose X-Forwarded-* and X-Original-* headers are believed")
	s.String(&m.PolicyFile, "policy", "VERIFIER_POLICY", "access policy file (YAML; reloaded on SIGHUP and when it changes); empty = any valid token passes")
	s.Strings(&c.Rules, "rule", "VERIFIER_RULES", ";", `access rule "HOST PATH_PREFIX ROLE[,ROLE]" (repeat the flag; env: separate rules with ';'); not with --policy`)
	s.Int(&c.MaxTokenBytes, "max-token-bytes", "VERIFIER_MAX_TOKEN_BYTES", "longest token considered; longer ones are malformed")
	s.Int(&m.MaxHeaderBytes, "max-header-bytes", "VERIFIER_MAX_HEADER_BYTES", "largest request header block accepted (larger: 431)")
	s.SecretString(&m.DatabaseURL, "database-url", "DATABASE_URL", "postgres://… or sqlite:PATH (default sqlite:./data/vexen.db); read-only use")
	s.SecretString(&m.RedisURL, "redis-url", "REDIS_URL", "redis://[:password@]host:port/db, rediss://…, redis+sentinel://[:pw@]h1:26379,h2:26379/db?master=NAME or redis+cluster://[:pw@]h1:7000,h2:7001; empty = no Redis")
	s.String(&m.RedisPrefix, "redis-prefix", "REDIS_PREFIX", "prefix for every Redis key and channel (the issuer's too)")
	s.String(&m.LogFormat, "log-format", "LOG_FORMAT", "text or json")
	s.String(&m.LogLevel, "log-level", "LOG_LEVEL", "debug, info, warn or error")
	s.String(&m.AuditLog, "audit-log", "AUDIT_LOG", "file to append the audit log to (JSON lines, created 0600): denials (at most 10 a second) and policy reloads; empty = standard output")
	s.Duration(&m.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", "how long SIGTERM waits for requests in flight")
	s.Duration(&m.ShutdownDelay, "shutdown-delay", "SHUTDOWN_DELAY", "after SIGTERM, how long /readyz (and gRPC health) report not ready while requests are still served, before the graceful drain")
	s.ConfigFile()
	return s
}

// ParseFlags reads the environment and args into m and validates the result.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	s := m.flags(getenv)
	if err := s.Parse(args); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return err
		}
		return cli.Usage(err)
	}
	if len(s.Args()) > 0 {
		return cli.Usage(errors.New("unexpected argument " + s.Args()[0]))
	}
	return cli.Usage(m.validate())
}

func (m *Main) validate() error {
	prefixes, err := config.Prefixes("TRUSTED_PROXIES", m.trustedProxies)
	if err != nil {
		return err
	}
	m.Config.TrustedProxies = prefixes
	if m.PolicyFile != "" {
		if len(m.Config.Rules) > 0 {
			return config.Invalid("VERIFIER_POLICY", "--rule and --policy cannot be combined: write the rules into the policy file")
		}
		p, err := policy.Load(m.PolicyFile)
		if err != nil {
			return err // FILE:LINE: message, one line per problem
		}
		m.Config.Policy = p
	}
	if err := m.Config.Validate(); err != nil {
		return m.set.Annotate(err)
	}
	if err := store.CheckURL(m.DatabaseURL); err != nil {
		return err // names DATABASE_URL, never its password
	}
	if m.RedisURL != "" {
		if err := rediscache.CheckURL(m.RedisURL); err != nil {
			return config.Invalid("REDIS_URL", "not a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL")
		}
	}
	if m.GRPCListen != "" {
		if err := m.grpcOptions().Validate(); err != nil {
			return config.Invalid("VERIFIER_LOGIN_URL", "%v", err)
		}
	}
	if err := m.TLS.Validate(); err != nil {
		return err
	}
	if m.MaxHeaderBytes < 4096 {
		return config.Invalid("VERIFIER_MAX_HEADER_BYTES", "%d is below 4096", m.MaxHeaderBytes)
	}
	if m.Tracing, err = cli.TracingConfig(m.getenv); err != nil {
		return err
	}
	_, err = cli.Logger(io.Discard, m.LogFormat, m.LogLevel)
	return err
}

// Run opens the store and Redis, builds the verifier, starts its background work
// and the servers; it returns once the listeners are open.
func (m *Main) Run(ctx context.Context) error {
	if m.Audit == nil {
		if m.AuditLog != "" {
			f, err := audit.OpenFile(m.AuditLog)
			if err != nil {
				return cli.Usage(fmt.Errorf("AUDIT_LOG: %w", err))
			}
			m.auditFile = f
			m.Audit = audit.New(f)
		} else {
			out := m.Stdout
			if out == nil {
				out = os.Stdout
			}
			m.Audit = audit.New(out)
		}
	}
	b, err := cli.OpenBackends(ctx, cli.BackendOptions{Logger: m.Logger, Stderr: m.Stderr,
		LogFormat: m.LogFormat, LogLevel: m.LogLevel, DatabaseURL: m.DatabaseURL, RedisURL: m.RedisURL})
	m.Logger, m.store, m.rdb = b.Logger, b.Store, b.Redis
	if err != nil {
		return err
	}
	tlsCfg, err := cli.ServerTLS(m.TLS, m.Logger)
	if err != nil {
		return cli.Usage(err)
	}
	if m.tracer, err = cli.StartTracing(ctx, m.Tracing, "vexen-verifier", m.Logger); err != nil {
		return cli.Usage(err)
	}
	st := m.store
	m.Registry = cli.Registry()
	deps := verify.Deps{Sessions: st, Registerer: m.Registry, Logger: m.Logger, Audit: m.Audit,
		TracerProvider: m.tracer.TracerProvider()}
	if rdb := m.rdb; rdb != nil {
		deps.Shared = rediscache.New(rdb, rediscache.Options{Prefix: m.RedisPrefix, Registerer: m.Registry, Logger: m.Logger})
		m.Registry.MustRegister(redisprometheus.NewCollector("vexen", "verifier_redis", rdb))
	}
	bgctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	v, err := verify.New(bgctx, m.Config, deps)
	if err != nil {
		return err
	}
	m.Verifier = v
	if m.PolicyFile != "" {
		for _, w := range m.Config.Policy.Warnings() {
			m.Logger.Warn("access policy: unreachable rule", "warning", w)
		}
		if m.reload, err = policy.NewReloader(m.PolicyFile, m.Config.Policy, v.SetPolicy, m.Registry, m.Logger); err != nil {
			return err
		}
		m.reload.SetAudit(m.Audit)
		m.hup = make(chan os.Signal, 1)
		signal.Notify(m.hup, syscall.SIGHUP)
		m.bg.Go(func() { m.reload.Watch(bgctx, policyPoll) })
		m.bg.Go(func() {
			for {
				select {
				case <-bgctx.Done():
					return
				case <-m.hup:
					_ = m.reload.Reload() // logged and counted
				}
			}
		})
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		if err := v.Run(bgctx); err != nil && !errors.Is(err, context.Canceled) {
			m.Logger.Error("verifier background work stopped", "err", err)
		}
	}()

	ln, err := cli.Listen("VERIFIER_LISTEN", m.Listen)
	if err != nil {
		return err
	}
	m.ln = ln
	m.srv = cli.NewServer(cli.WithMetrics(v.Handler(), m.Registry), cli.ServerOptions{
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxHeaderBytes: m.MaxHeaderBytes,
	}, m.Logger)
	m.srv.TLSConfig = tlsCfg.Clone() // net/http adds its ALPN protocols to its own copy
	m.served = cli.Serve(m.srv, ln)

	if m.MetricsListen != "" {
		if m.metricsLn, err = cli.Listen("METRICS_LISTEN", m.MetricsListen); err != nil {
			return err
		}
		m.metricsSrv = cli.MetricsServer(m.Registry, m.Logger)
		m.metricsSrv.TLSConfig = cli.WithoutClientAuth(tlsCfg)
		m.metricsServed = cli.Serve(m.metricsSrv, m.metricsLn)
	}

	if m.GRPCListen != "" {
		gl, err := cli.Listen("VERIFIER_GRPC_LISTEN", m.GRPCListen)
		if err != nil {
			return err
		}
		m.grpcLn = gl
		var opts []grpc.ServerOption
		if tlsCfg != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
		}
		m.grpcSrv = extauthz.NewGRPCServer(opts...)
		m.authz = extauthz.New(v, m.grpcOptions())
		m.authz.Register(m.grpcSrv)
		go func() {
			if err := m.grpcSrv.Serve(gl); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				m.Logger.Error("gRPC server stopped", "err", err)
			}
		}()
	}
	m.Logger.Info("verifier listening", "addr", ln.Addr().String(), "grpc", m.GRPCListen, "metrics", m.MetricsAddr(),
		"tls", tlsCfg != nil, "client_certificates", m.TLS.ClientCAFile != "", "store", store.Redact(orDefault(m.DatabaseURL, store.DefaultURL)), "redis", m.rdb != nil,
		"revocation", m.Config.Revocation, "max_staleness", m.Config.MaxStaleness)
	return nil
}

// policyPoll is how often the policy file is checked for changes.
const policyPoll = time.Second

// ReloadPolicy reads the policy file again, as SIGHUP does: a bad file leaves the
// policy in force (the error is logged, counted and returned).
func (m *Main) ReloadPolicy() error {
	if m.reload == nil {
		return errors.New("verifier: no --policy file")
	}
	return m.reload.Reload()
}

// grpcOptions are the ext_authz server's options, taken from the verifier's.
func (m *Main) grpcOptions() extauthz.Options {
	return extauthz.Options{
		CookieName:           m.Config.CookieName,
		Logger:               m.Logger,
		LoginURL:             m.Config.LoginURL,
		AllowedRedirectHosts: m.Config.AllowedRedirectHosts,
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Addr is the HTTP listener's address; GRPCAddr the gRPC one ("" when off).
func (m *Main) Addr() string { return m.ln.Addr().String() }

func (m *Main) GRPCAddr() string {
	if m.grpcLn == nil {
		return ""
	}
	return m.grpcLn.Addr().String()
}

// MetricsAddr is the metrics listener's address ("" when off).
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Wait blocks until ctx ends or an HTTP server fails.
func (m *Main) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-m.served:
		return err
	case err := <-m.metricsServed: // nil channel (never ready) when metrics are off
		return fmt.Errorf("metrics server: %w", err)
	}
}

// Drain is the first step of a graceful shutdown: /readyz answers 503 and the
// gRPC health service NOT_SERVING for ShutdownDelay, while decisions go on, so
// that health checks take this verifier out of rotation before it stops
// accepting connections. It returns early when ctx ends.
func (m *Main) Drain(ctx context.Context) {
	if m.Verifier == nil {
		return
	}
	m.Verifier.Drain()
	if m.authz != nil {
		m.authz.SetServing(false)
	}
	if m.ShutdownDelay <= 0 {
		return
	}
	m.Logger.Info("draining: readiness fails while requests are still served", "delay", m.ShutdownDelay)
	t := time.NewTimer(m.ShutdownDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Close stops the servers gracefully, then the background work, Redis and the store.
func (m *Main) Close() error {
	var errs []error
	if m.srv != nil {
		errs = append(errs, cli.Shutdown(m.srv, m.ShutdownTimeout))
	}
	if m.metricsSrv != nil {
		errs = append(errs, cli.Shutdown(m.metricsSrv, m.ShutdownTimeout))
	}
	if m.grpcSrv != nil {
		m.authz.SetServing(false) // Envoy's health checks move traffic away first
		stopped := make(chan struct{})
		go func() { m.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(m.ShutdownTimeout):
			m.grpcSrv.Stop()
		}
	}
	if m.hup != nil {
		signal.Stop(m.hup)
	}
	errs = append(errs, cli.StopTracing(m.tracer)) // the spans of the last decisions
	m.tracer = nil
	if m.cancel != nil {
		m.cancel()
		m.bg.Wait()
	}
	if m.rdb != nil {
		errs = append(errs, m.rdb.Close())
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
	}
	if m.auditFile != nil {
		errs = append(errs, m.auditFile.Close())
		m.auditFile = nil
	}
	return errors.Join(errs...)
}
