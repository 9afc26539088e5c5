package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/extra/redisprometheus/v9"
	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/internal/cli"
	"github.com/vexen/vexen-auth/internal/safetext"
	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/config"
	"github.com/vexen/vexen-auth/pkg/issue"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/postgres" // DATABASE_URL=postgres://…
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"   // DATABASE_URL=sqlite:PATH (default)
	"github.com/vexen/vexen-auth/pkg/tracing"
)

// Main is the issuer program: ParseFlags, then Run, then Close. Tests start it
// in-process on port 0.
type Main struct {
	Config          issue.Config
	Retention       issue.RetentionConfig
	Listen          string
	MetricsListen   string // the only place /metrics is served; "" = off
	DatabaseURL     string
	RedisURL        string
	RedisPrefix     string
	LogFormat       string
	LogLevel        string
	AuditLog        string // file the audit log is appended to; "": Stdout (serve) or Stderr (admin commands)
	ShutdownTimeout time.Duration
	TLS             cli.TLSOptions // of the HTTP and metrics listeners
	// Tracing is the OTEL_* environment (read with the flags): one span per
	// request of `issuer serve`; off unless an endpoint is set.
	Tracing        tracing.Config
	trustedProxies []string
	getenv         func(string) string
	tracer         *tracing.Provider
	argon2Memory   int
	argon2Time     int
	argon2Threads  int
	rateIP         string
	rateAccount    string
	rateRefresh    string
	set            *config.Set

	Stdout, Stderr io.Writer
	Logger         *slog.Logger
	// Audit takes the audit events (set by openAudit, or by a test before Run).
	Audit     audit.Recorder
	auditFile *os.File

	store    store.Store
	rdb      redis.UniversalClient
	Service  *issue.Service
	Registry *prometheus.Registry
	srv      *http.Server
	ln       net.Listener
	served   <-chan error

	// Federated sign-in: the providers file, and whether the password form stays on.
	providersFile string
	passwordLogin bool

	stopRetention context.CancelFunc
	retentionDone chan struct{}
	// The metrics server (nil when MetricsListen is empty).
	metricsSrv    *http.Server
	metricsLn     net.Listener
	metricsServed <-chan error
}

// NewMain returns a Main with the contract's defaults.
func NewMain() *Main {
	c := issue.DefaultConfig()
	return &Main{
		argon2Memory:    int(c.Password.Memory),
		argon2Time:      int(c.Password.Time),
		argon2Threads:   int(c.Password.Threads),
		rateIP:          formatRate(c.LoginRate.PerIP),
		rateAccount:     formatRate(c.LoginRate.PerAccount),
		rateRefresh:     formatRate(c.LoginRate.RefreshPerIP),
		Config:          c,
		Retention:       issue.RetentionConfig{Interval: issue.DefaultRetentionInterval, Window: issue.DefaultRetentionWindow},
		Listen:          ":8080",
		MetricsListen:   "127.0.0.1:9090",
		LogLevel:        "info",
		ShutdownTimeout: 15 * time.Second,
		trustedProxies:  []string{"127.0.0.0/8", "::1/128"},
		passwordLogin:   true,
	}
}

// flags binds every setting of the issuer to a flag and its variable.
func (m *Main) flags(name string, getenv func(string) string) *config.Set {
	s := config.New(name, getenv)
	m.getenv = getenv
	m.set = s
	c := &m.Config
	s.String(&m.Listen, "listen", "ISSUER_LISTEN", "address to serve HTTP on (the API, the pages, the JWKS; never /metrics)")
	s.String(&m.MetricsListen, "metrics-listen", "METRICS_LISTEN", "address to serve Prometheus /metrics on, the only place it is served (keep it private); empty = off")
	s.String(&m.TLS.CertFile, "tls-cert", "TLS_CERT", "PEM certificate (chain) of the HTTP and metrics listeners, reloaded when it changes; empty = plain TCP")
	s.String(&m.TLS.KeyFile, "tls-key", "TLS_KEY", "PEM private key of --tls-cert, reloaded with it")
	s.String(&c.IssuerURL, "issuer-url", "ISSUER_URL", "public URL of the issuer; the iss claim")
	s.String(&c.Audience, "audience", "ISSUER_AUDIENCE", "aud claim of access tokens")
	s.Duration(&c.AccessTTL, "access-ttl", "ACCESS_TOKEN_TTL", "access token lifetime")
	s.Duration(&c.RefreshTTL, "refresh-ttl", "REFRESH_TOKEN_TTL", "refresh token lifetime")
	s.Duration(&c.RefreshGrace, "refresh-grace", "REFRESH_GRACE", "how long a just-rotated refresh token may be presented again without being taken for a replay")
	s.String(&c.KeysDir, "keys", "ISSUER_KEYS", "directory of PKCS#8 PEM signing keys (KID.pem, mode 0600); one is generated on first start")
	s.String(&c.TOTPKeyFile, "totp-key-file", "TOTP_KEY_FILE", "32-byte key (mode 0600) sealing TOTP secrets in the database; generated on first start; empty = KEYS/totp.key")
	s.String(&c.Alg, "alg", "ISSUER_ALG", "signing algorithm: ES256, EdDSA, RS256 or HS256 (HS256 takes the secret from JWT_SECRET_KEY)")
	s.Secret((*string)(&c.Secret), "JWT_SECRET_KEY")
	s.Duration(&c.KeyRotation, "key-rotation", "ISSUER_KEY_ROTATION", "how often a new signing key is added (once across replicas sharing --keys and the database), e.g. 720h; 0 = manual (issuer keys rotate)")
	s.Duration(&c.KeyPrepublish, "key-prepublish", "ISSUER_KEY_PREPUBLISH", "how long a new key (scheduled or from issuer keys rotate) is in the JWKS before it signs; longer than the verifiers' --jwks-refresh")
	s.Duration(&c.KeyRescan, "key-rescan", "ISSUER_KEY_RESCAN", "how often --keys is read again (keys added by another replica or by issuer keys rotate)")
	s.String(&c.CookieName, "cookie-name", "COOKIE_NAME", "name of the access-token cookie (the verifier's too)")
	s.String(&c.CookieDomain, "cookie-domain", "COOKIE_DOMAIN", "Domain attribute of the cookies; empty = host-only")
	s.List(&c.AllowedRedirectHosts, "allowed-redirect-hosts", "ALLOWED_REDIRECT_HOSTS", "hosts (and *.parent wildcards) allowed as return URLs; default: the issuer URL's host")
	s.String(&c.DefaultRedirect, "default-redirect", "DEFAULT_REDIRECT", "where a refused return URL sends the browser")
	s.String(&m.providersFile, "providers", "ISSUER_PROVIDERS", "YAML file of OpenID Connect providers for federated sign-in; empty = none")
	s.String(&c.WebAuthnRPID, "webauthn-rp-id", "WEBAUTHN_RP_ID", "passkeys' relying party id: the issuer URL's host or a parent domain (empty = the issuer URL's host; passkeys are off for an IP address)")
	s.SecretString((*string)(&c.StateSecret), "oidc-state-secret", "OIDC_STATE_SECRET", "secret sealing the federated sign-in cookie; the same on every replica (empty = random per process)")
	s.Bool(&m.passwordLogin, "password-login", "PASSWORD_LOGIN", "offer the password form and POST /v1/login (false: SSO-only)")
	s.List(&m.trustedProxies, "trusted-proxies", "TRUSTED_PROXIES", "CIDRs whose X-Forwarded-For is believed (client IP for throttling and sessions)")
	s.Int(&m.argon2Memory, "argon2-memory", "ARGON2_MEMORY", "argon2id memory for new password hashes, KiB (existing hashes keep their own)")
	s.Int(&m.argon2Time, "argon2-time", "ARGON2_TIME", "argon2id passes for new password hashes")
	s.Int(&m.argon2Threads, "argon2-threads", "ARGON2_THREADS", "argon2id lanes for new password hashes")
	s.Int(&c.HashConcurrency, "hash-concurrency", "HASH_CONCURRENCY", "password hashes computed at once (each holds --argon2-memory); more wait")
	s.String(&m.rateIP, "login-rate-ip", "LOGIN_RATE_IP", "login attempts allowed per client IP, as EVENTS/PERIOD (burst EVENTS)")
	s.String(&m.rateAccount, "login-rate-account", "LOGIN_RATE_ACCOUNT", "failed logins allowed per account, as EVENTS/PERIOD (burst EVENTS)")
	s.String(&m.rateRefresh, "refresh-rate-ip", "REFRESH_RATE_IP", "refreshes allowed per client IP, as EVENTS/PERIOD (burst EVENTS)")
	s.SecretString(&m.DatabaseURL, "database-url", "DATABASE_URL", "postgres://… or sqlite:PATH (default sqlite:./data/vexen.db)")
	s.SecretString(&m.RedisURL, "redis-url", "REDIS_URL", "redis://[:password@]host:port/db, rediss://…, redis+sentinel://[:pw@]h1:26379,h2:26379/db?master=NAME or redis+cluster://[:pw@]h1:7000,h2:7001; empty = no Redis")
	s.String(&m.RedisPrefix, "redis-prefix", "REDIS_PREFIX", "prefix for every Redis key and channel")
	s.String(&m.LogFormat, "log-format", "LOG_FORMAT", "text or json")
	s.String(&m.LogLevel, "log-level", "LOG_LEVEL", "debug, info, warn or error")
	s.String(&m.AuditLog, "audit-log", "AUDIT_LOG", "file to append the audit log to (JSON lines, created 0600); empty = standard output (admin commands: standard error)")
	s.Duration(&m.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", "how long SIGTERM waits for requests in flight")
	s.Duration(&m.Retention.Interval, "retention-interval", "RETENTION_INTERVAL", "how often issuer serve prunes expired and revoked rows from the store")
	s.Duration(&m.Retention.Window, "retention-window", "RETENTION_WINDOW", "how long rows are kept after they expire or their session is revoked (at least access-ttl + 1h)")
	s.ConfigFile()
	return s
}

// validate checks the whole configuration without side effects.
func (m *Main) validate() error {
	prefixes, err := config.Prefixes("TRUSTED_PROXIES", m.trustedProxies)
	if err != nil {
		return err
	}
	m.Config.TrustedProxies = prefixes
	for _, v := range []struct {
		name   string
		n, max int
	}{{"argon2-memory", m.argon2Memory, 1 << 22}, {"argon2-time", m.argon2Time, 1 << 10}, {"argon2-threads", m.argon2Threads, 255}} {
		if v.n < 1 || v.n > v.max {
			return m.set.Annotate(config.Invalid(v.name, "%d is outside 1..%d", v.n, v.max))
		}
	}
	m.Config.Password.Memory = uint32(m.argon2Memory)
	m.Config.Password.Time = uint32(m.argon2Time)
	m.Config.Password.Threads = uint8(m.argon2Threads)
	if m.Config.LoginRate.PerIP, err = parseRate(m.rateIP); err != nil {
		return m.set.Annotate(config.Invalid("login-rate-ip", "%v", err))
	}
	if m.Config.LoginRate.PerAccount, err = parseRate(m.rateAccount); err != nil {
		return m.set.Annotate(config.Invalid("login-rate-account", "%v", err))
	}
	if m.Config.LoginRate.RefreshPerIP, err = parseRate(m.rateRefresh); err != nil {
		return m.set.Annotate(config.Invalid("refresh-rate-ip", "%v", err))
	}
	m.Config.NoPasswordLogin = !m.passwordLogin
	if m.providersFile != "" {
		ps, err := issue.LoadProviders(m.providersFile)
		if err != nil {
			return err // names the provider and the problem
		}
		m.Config.Providers = ps
	} else if !m.passwordLogin {
		return config.Invalid("password-login", "false needs --providers (no way to sign in otherwise)")
	}
	if err := m.Config.Validate(); err != nil {
		return m.set.Annotate(err)
	}
	m.Retention.AccessTTL = m.Config.AccessTTL
	if err := m.Retention.Validate(); err != nil {
		return m.set.Annotate(err)
	}
	if err := store.CheckURL(m.DatabaseURL); err != nil {
		return err // names DATABASE_URL, never its password
	}
	if m.RedisURL != "" {
		if err := rediscache.CheckURL(m.RedisURL); err != nil {
			return config.Invalid("REDIS_URL", "%v", redactErr(err))
		}
	}
	if err := m.TLS.Validate(); err != nil {
		return err
	}
	if _, err := cli.Logger(io.Discard, m.LogFormat, m.LogLevel); err != nil {
		return err
	}
	tc, err := cli.TracingConfig(m.getenv)
	m.Tracing = tc
	return err
}

// parseRate reads "EVENTS/PERIOD", e.g. "30/1m"; the burst is EVENTS.
func parseRate(v string) (issue.Rate, error) {
	ev, per, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(strings.TrimSpace(ev))
	if !ok || err != nil || n < 1 {
		return issue.Rate{}, fmt.Errorf("%q is not EVENTS/PERIOD, e.g. 30/1m", v)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return issue.Rate{}, fmt.Errorf("%q is not EVENTS/PERIOD, e.g. 30/1m", v)
	}
	return issue.Rate{Events: n, Per: d, Burst: n}, nil
}

func formatRate(r issue.Rate) string { return strconv.Itoa(r.Events) + "/" + r.Per.String() }

func redactErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "@"); i >= 0 {
		return "malformed URL"
	}
	return s
}

// open builds the logger, the store and (if configured) the Redis client.
func (m *Main) open(ctx context.Context) error {
	b, err := cli.OpenBackends(ctx, cli.BackendOptions{Logger: m.Logger, Stderr: m.Stderr,
		LogFormat: m.LogFormat, LogLevel: m.LogLevel, DatabaseURL: m.DatabaseURL, RedisURL: m.RedisURL})
	m.Logger, m.store, m.rdb = b.Logger, b.Store, b.Redis
	return err
}

// buildService migrates the store and builds the issue.Service: the full one for
// serving, or (admin) one that loads no signing keys, so an admin command run as
// another Unix user never creates a key file the server cannot read.
func (m *Main) buildService(ctx context.Context, admin bool) error {
	if err := m.store.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	m.Registry = cli.Registry()
	deps := issue.Deps{Store: m.store, Registerer: m.Registry, Logger: m.Logger, Audit: m.Audit}
	if !admin {
		deps.TracerProvider = m.tracer.TracerProvider()
	}
	if m.rdb != nil {
		cache := rediscache.New(m.rdb, rediscache.Options{Prefix: m.RedisPrefix, Registerer: m.Registry, Logger: m.Logger})
		deps.Cache = cache
		deps.Limiter = issue.NewRedisLimiter(m.rdb).WithPrefix(m.RedisPrefix)
		m.Registry.MustRegister(redisprometheus.NewCollector("vexen", "issuer_redis", m.rdb))
	}
	build := issue.New
	if admin {
		build = issue.NewAdmin
	}
	svc, err := build(m.Config, deps)
	if err != nil {
		return err
	}
	m.Service = svc
	return nil
}

// Run opens everything and starts serving; it returns once the listener is open.
func (m *Main) Run(ctx context.Context) error {
	out := m.Stdout
	if out == nil {
		out = os.Stdout
	}
	if err := m.openAudit(out); err != nil {
		return err
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	tlsCfg, err := cli.ServerTLS(m.TLS, m.Logger)
	if err != nil {
		return cli.Usage(err)
	}
	if m.tracer, err = cli.StartTracing(ctx, m.Tracing, "vexen-issuer", m.Logger); err != nil {
		return cli.Usage(err)
	}
	if err := m.buildService(ctx, false); err != nil {
		return err
	}
	retention, err := issue.NewRetention(m.Retention, issue.RetentionDeps{Store: m.store, Registerer: m.Registry, Logger: m.Logger})
	if err != nil {
		return err
	}
	ln, err := cli.Listen("ISSUER_LISTEN", m.Listen)
	if err != nil {
		return err
	}
	if m.MetricsListen != "" {
		if m.metricsLn, err = cli.Listen("METRICS_LISTEN", m.MetricsListen); err != nil {
			ln.Close()
			return err
		}
		m.metricsSrv = cli.MetricsServer(m.Registry, m.Logger)
		m.metricsSrv.TLSConfig = tlsCfg.Clone()
		m.metricsServed = cli.Serve(m.metricsSrv, m.metricsLn)
	}
	rctx, stop := context.WithCancel(context.Background())
	m.stopRetention, m.retentionDone = stop, make(chan struct{})
	go func() {
		defer close(m.retentionDone)
		retention.Run(rctx)
	}()
	m.ln = ln
	// The public port serves no /metrics: its login counters by result would tell
	// anyone whether an email has an account.
	m.srv = cli.NewServer(m.Service.Handler(), cli.ServerOptions{}, m.Logger)
	m.srv.TLSConfig = tlsCfg.Clone() // net/http adds its ALPN protocols to its own copy
	m.served = cli.Serve(m.srv, ln)
	m.Logger.Info("issuer listening", "addr", ln.Addr().String(), "metrics", m.MetricsAddr(), "tls", tlsCfg != nil, "issuer", m.Config.IssuerURL,
		"store", store.Redact(orDefault(m.DatabaseURL, store.DefaultURL)), "redis", m.rdb != nil, "alg", m.Config.Alg)
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Addr is the address the HTTP server listens on (useful with port 0).
func (m *Main) Addr() string { return m.ln.Addr().String() }

// MetricsAddr is the address the metrics server listens on, "" when it is off.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Wait blocks until ctx ends or a server fails.
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

// Close shuts the server down gracefully and closes the store and Redis.
func (m *Main) Close() error {
	var errs []error
	if m.srv != nil {
		errs = append(errs, cli.Shutdown(m.srv, m.ShutdownTimeout))
	}
	if m.stopRetention != nil {
		m.stopRetention() // a run in flight is cancelled; the next start goes on
		<-m.retentionDone
		m.stopRetention = nil
	}
	if m.metricsSrv != nil {
		errs = append(errs, cli.Shutdown(m.metricsSrv, m.ShutdownTimeout))
	}
	errs = append(errs, cli.StopTracing(m.tracer)) // the spans of the last requests
	m.tracer = nil
	if m.Service != nil {
		errs = append(errs, m.Service.Close())
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

// dispatch picks the subcommand.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var words []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && len(words) < 2 {
		words = append(words, args[0])
		args = args[1:]
		if len(words) == 1 && (words[0] == "serve" || words[0] == "migrate") {
			break
		}
	}
	cmd := strings.Join(words, " ")
	if sub, ok := groups[words0(words)]; ok && (len(words) == 1 || words[1] == "help") {
		// "issuer user --help", "issuer user help": the group's commands;
		// "issuer user" alone is a usage error that names them.
		if len(words) == 1 && !helpAsked(args) {
			return cli.Usage(fmt.Errorf("%s: want a command: %s (issuer %s --help)", words[0], strings.Join(sub, ", "), words[0]))
		}
		fmt.Fprintf(stdout, "Usage:\n")
		for _, c := range sub {
			fmt.Fprintf(stdout, "  %-58s %s\n", commands[c].synopsis, commands[c].about)
		}
		fmt.Fprintf(stdout, "\nissuer %s COMMAND --help shows a command's flags.\n", words[0])
		return nil
	}
	m := NewMain()
	m.Stdout, m.Stderr = stdout, stderr
	s := m.flags("issuer "+cmd, getenv)
	var email, passwordFile string
	var roles []string
	var passwordStdin bool
	switch cmd {
	case "", "serve", "migrate", "keys rotate":
	case "user add":
		s.String(&email, "email", "", "the user's email (required)")
		s.List(&roles, "role", "", "a role; repeat for several")
		s.Bool(&passwordStdin, "password-stdin", "", "read the password from standard input (required)")
		_ = passwordFile
	case "user disable", "user enable", "user delete", "user reset-mfa", "user reset-link", "sessions list", "sessions revoke":
		s.String(&email, "email", "", "the user's email (required)")
	case "user set-roles":
		s.String(&email, "email", "", "the user's email (required)")
		s.List(&roles, "role", "", "a role; repeat for several (none: the user keeps no role)")
	case "user set-password":
		s.String(&email, "email", "", "the user's email (required)")
		s.Bool(&passwordStdin, "password-stdin", "", "read the new password from standard input (required)")
	case "user list":
	case "help":
		usage(stdout, m, getenv)
		return nil
	default:
		return cli.Usage(fmt.Errorf("unknown command %q (want serve, migrate, user add|list|disable|enable|delete|set-roles|set-password|reset-mfa|reset-link, sessions list|revoke, keys rotate, healthcheck)", cmd))
	}
	if err := s.Parse(args); err != nil {
		if errors.Is(err, config.ErrHelp) {
			if cmd == "" {
				usage(stdout, m, getenv)
			} else {
				commandUsage(stdout, cmd, s)
			}
			return nil
		}
		return cli.Usage(err)
	}
	if len(s.Args()) > 0 {
		return cli.Usage(fmt.Errorf("unexpected argument %q", s.Args()[0]))
	}
	if err := m.validate(); err != nil {
		return cli.Usage(err)
	}
	if (strings.HasPrefix(cmd, "user ") || strings.HasPrefix(cmd, "sessions ")) && cmd != "user list" && email == "" {
		return cli.Usage(errors.New("--email is required"))
	}
	if cmd != "" && cmd != "serve" && cmd != "migrate" {
		// An admin command keeps stdout for its answer (serve's Run audits to stdout).
		if err := m.openAudit(stderr); err != nil {
			return err
		}
		ctx = audit.WithClient(ctx, audit.Client{Via: "cli", Operator: operator()})
	}

	switch cmd {
	case "", "serve":
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		err := m.Wait(ctx)
		m.Logger.Info("issuer shutting down")
		return errors.Join(err, m.Close())
	case "keys rotate":
		defer m.Close()
		kid, err := issue.RotateKey(m.Config.KeysDir, m.Config.Alg)
		if err != nil {
			m.Audit.Record(ctx, audit.Event{Event: audit.EventKeyRotated, Result: audit.Failure, Actor: audit.ActorAdmin,
				Attrs: []slog.Attr{slog.String("alg", m.Config.Alg), slog.String("dir", m.Config.KeysDir), slog.Any("err", err)}})
			return err
		}
		m.Audit.Record(ctx, audit.Event{Event: audit.EventKeyRotated, Result: audit.Success, Actor: audit.ActorAdmin,
			Attrs: []slog.Attr{slog.String("key_id", kid), slog.String("alg", m.Config.Alg), slog.String("dir", m.Config.KeysDir)}})
		fmt.Fprintf(stdout, "new signing key %s in %s (published at the issuers' next rescan, signs --key-prepublish after now: %v here)\n",
			kid, m.Config.KeysDir, orDuration(m.Config.KeyPrepublish, issue.DefaultConfig().KeyPrepublish))
		return nil
	}

	// The remaining commands work on the store (and Redis, so revocations reach verifiers).
	if err := m.open(ctx); err != nil {
		return errors.Join(err, m.Close())
	}
	defer m.Close()
	if cmd == "migrate" {
		if err := m.store.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	}
	if err := m.buildService(ctx, true); err != nil {
		return err
	}
	switch cmd {
	case "user add":
		if !passwordStdin {
			return cli.Usage(errors.New("--password-stdin is required (passwords never go on the command line)"))
		}
		pw, err := readPassword(stdin)
		if err != nil {
			return cli.Usage(err)
		}
		u, err := m.Service.AddUser(ctx, email, pw, roles)
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("user %s already exists", email)
			}
			return err
		}
		fmt.Fprintf(stdout, "user %s added with id %s\n", safetext.Escape(u.Email), safetext.Escape(u.ID))
	case "user disable":
		if err := m.Service.DisableUser(ctx, email); err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "user %s disabled; every session revoked\n", safetext.Escape(email))
	default:
		return m.userCommand(ctx, cmd, email, roles, passwordStdin, stdin, stdout)
	case "sessions list":
		list, err := m.Service.ListSessions(ctx, email)
		if err != nil {
			return notFound(err, email)
		}
		// The User-Agent and IP came from the client: escaped, so that no control
		// or bidirectional character reaches the terminal (nor a tab the columns).
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tLAST USED\tEXPIRES\tIP\tUSER AGENT")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safetext.Escape(s.ID), s.CreatedAt.UTC().Format(time.RFC3339),
				s.LastUsedAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339),
				safetext.Escape(s.IP), safetext.Escape(s.UserAgent))
		}
		tw.Flush()
	case "sessions revoke":
		n, err := m.Service.RevokeSessions(ctx, email)
		if err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "%d session(s) of %s revoked\n", n, safetext.Escape(email))
	}
	return nil
}

// openAudit sets m.Audit, unless a test set it: the --audit-log file (appended to,
// created 0600), or def.
func (m *Main) openAudit(def io.Writer) error {
	if m.Audit != nil {
		return nil
	}
	if m.AuditLog == "" {
		m.Audit = audit.New(def)
		return nil
	}
	f, err := audit.OpenFile(m.AuditLog)
	if err != nil {
		return cli.Usage(fmt.Errorf("AUDIT_LOG: %w", err))
	}
	m.auditFile = f
	m.Audit = audit.New(f)
	return nil
}

// operator names the OS user running an admin command, for the audit log.
func operator() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func notFound(err error, email string) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, issue.ErrUnknownUser) {
		return fmt.Errorf("no user with email %s", email)
	}
	return err
}

// readPassword reads one line from r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no standard input to read the password from")
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password on standard input")
	}
	return pw, nil
}

// commands describes each subcommand for its --help.
var commands = map[string]struct{ synopsis, about string }{
	"serve":             {"issuer [serve] [flags]", "run the service (the default command)"},
	"migrate":           {"issuer migrate [flags]", "apply the schema migrations to DATABASE_URL and exit"},
	"user add":          {"issuer user add --email E [--role R]... --password-stdin", "add a user; the password is read from standard input"},
	"user disable":      {"issuer user disable --email E", "disable the user and revoke every session"},
	"user enable":       {"issuer user enable --email E", "lift a disable (revoked sessions stay revoked)"},
	"user list":         {"issuer user list [flags]", "list every user: email, id, roles, state, creation time"},
	"user delete":       {"issuer user delete --email E", "revoke every session of the user, then delete the user"},
	"user set-roles":    {"issuer user set-roles --email E [--role R]...", "replace the user's roles and revoke every session (tokens carry roles)"},
	"user set-password": {"issuer user set-password --email E --password-stdin", "set the user's password from standard input and revoke every session"},
	"user reset-mfa":    {"issuer user reset-mfa --email E", "remove every second factor of the user (TOTP, recovery codes, passkeys) and revoke every session"},
	"user reset-link":   {"issuer user reset-link --email E", "print a one-time link, valid one hour, with which the user chooses a new password"},
	"sessions list":     {"issuer sessions list --email E", "list the user's sessions"},
	"sessions revoke":   {"issuer sessions revoke --email E", "revoke every session of the user"},
	"keys rotate":       {"issuer keys rotate [flags]", "add a new signing key to --keys (published at once, signs after --key-prepublish)"},
}

// groups are the two-word commands, by their first word.
var groups = map[string][]string{
	"user":     {"user add", "user list", "user disable", "user enable", "user delete", "user set-roles", "user set-password", "user reset-mfa", "user reset-link"},
	"sessions": {"sessions list", "sessions revoke"},
	"keys":     {"keys rotate"},
}

func words0(words []string) string {
	if len(words) == 0 {
		return ""
	}
	return words[0]
}

func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// commandUsage is one subcommand's --help: its synopsis, what it does, its flags.
func commandUsage(w io.Writer, cmd string, s *config.Set) {
	c := commands[cmd]
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n\nFlags (each also read from the environment variable shown, or from --config FILE; precedence flag > environment > file > default):\n", c.synopsis, c.about)
	s.PrintDefaults(w)
	fmt.Fprintln(w, "  JWT_SECRET_KEY or JWT_SECRET_KEY_FILE (environment only)\n    \tshared secret for --alg HS256")
}

// tracingHelp lists the OTEL_* variables `issuer serve` reads.
const tracingHelp = "  OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL (grpc|http/protobuf),\n" +
	"  OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER (environment only)\n" +
	"    \tOpenTelemetry tracing: one span per request; off unless an endpoint is set"

func usage(w io.Writer, m *Main, getenv func(string) string) {
	fmt.Fprint(w, `Usage:
  issuer [serve] [flags]                 run the service (default)
  issuer migrate [flags]                 apply schema migrations
  issuer user add --email E [--role R]... --password-stdin
  issuer user list                       list every user
  issuer user disable --email E          disable the user and revoke every session
  issuer user enable --email E           lift a disable
  issuer user delete --email E           revoke every session, then delete the user
  issuer user set-roles --email E [--role R]...   replace the roles; every session is revoked
  issuer user set-password --email E --password-stdin   set the password; every session is revoked
  issuer user reset-mfa --email E        remove every second factor; every session is revoked
  issuer user reset-link --email E       print a one-time password reset link (valid 1h)
  issuer sessions list --email E
  issuer sessions revoke --email E       revoke every session of the user
  issuer keys rotate [flags]             add a new signing key (signs after --key-prepublish)
  issuer healthcheck [--cacert F] [--cert F --key F] [URL]
                                         exit 0 when URL (default http://127.0.0.1:8080/readyz) answers 2xx
  issuer --version                       print version, commit and Go version

issuer COMMAND --help shows a command's own usage and flags.

Flags (each also read from the environment variable shown, or from --config FILE; precedence flag > environment > file > default):
`)
	m.flags("issuer", getenv).PrintDefaults(w)
	fmt.Fprintln(w, "  JWT_SECRET_KEY or JWT_SECRET_KEY_FILE (environment only)\n    \tshared secret for --alg HS256")
	fmt.Fprintln(w, tracingHelp)
}

// orDuration is d, or def when d is zero (the default).
func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
