package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ErrInvalidURL is returned by Open for a REDIS_URL it cannot use.
var ErrInvalidURL = errors.New("rediscache: invalid REDIS_URL")

// ErrNoUserID is returned by StorePair for a Pair without a UserID.
var ErrNoUserID = errors.New("rediscache: token pair without a user id")

// ErrEmptyClaims is returned by Fill for empty claims, which would read back as a hit
// that cannot be parsed.
var ErrEmptyClaims = errors.New("rediscache: empty claims")

// Client settings Open applies when REDIS_URL does not set them (go-redis reads
// dial_timeout, read_timeout, write_timeout, pool_size, pool_timeout and max_retries
// from the URL's query string). Redis is an accelerator: against a dead or hung
// server a command should fail within a couple of seconds, not go-redis's defaults
// (a 5s dial retried five times, 3s reads, four attempts).
const (
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	DefaultPoolTimeout  = 2 * time.Second
	// DefaultMaxRetries is the retry count after a failed command: one, so a dead
	// server costs at most two timeouts, not go-redis's default four.
	DefaultMaxRetries = 1
	// DialAttempts is go-redis's DialerRetries (dial attempts per connection, with
	// 100ms between them; its default is five). It has no URL form; Open always sets it.
	DialAttempts = 1
)

// DefaultPoolSize is the connection pool size Open applies when REDIS_URL does not
// set pool_size: ten connections per GOMAXPROCS, go-redis's own default, made explicit.
func DefaultPoolSize() int { return 10 * runtime.GOMAXPROCS(0) }

// Open parses a REDIS_URL and returns the client for it, without connecting (call
// Ping, or Cache.Ping, to check the servers). Three forms:
//
//	redis://[:password@]host:port/db            one server (rediss:// for TLS)
//	redis+sentinel://[:password@]h1:26379,h2:26379/db?master=NAME
//	                                            Sentinel: a failover client that asks the
//	                                            sentinels for the master of NAME and follows
//	                                            its failovers (rediss+sentinel:// for TLS)
//	redis+cluster://[:password@]h1:7000,h2:7001 Redis Cluster: the seed nodes of a cluster
//	                                            client (rediss+cluster:// for TLS)
//
// The password is the data nodes' (AUTH on the master, replicas, cluster nodes);
// sentinels that require one of their own get it from the query parameter
// sentinel_password. Any other query parameter is go-redis's (dial_timeout,
// read_timeout, write_timeout, pool_size, pool_timeout, max_retries, ...).
//
// Open enables ContextTimeoutEnabled so callers' deadlines reach Redis, fills in
// explicit dial, read, write and pool timeouts, pool size and retry count where the
// URL leaves them unset, speaks RESP2 unless the URL sets protocol=3, and makes one
// dial attempt per connection. Errors wrap ErrInvalidURL and never contain the
// password.
func Open(redisURL string) (redis.UniversalClient, error) {
	if strings.TrimSpace(redisURL) == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidURL)
	}
	scheme, _, _ := strings.Cut(redisURL, "://")
	switch strings.ToLower(scheme) {
	case "redis+sentinel", "rediss+sentinel":
		return openSentinel(redisURL)
	case "redis+cluster", "rediss+cluster":
		return openCluster(redisURL)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidURL, redactErr(redisURL, err))
	}
	opt.ContextTimeoutEnabled = true
	applyDefaults(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout,
		&opt.PoolSize, &opt.MaxRetries, &opt.Protocol)
	opt.DialerRetries = DialAttempts
	return redis.NewClient(opt), nil
}

// applyDefaults fills in Open's client settings where they are zero.
func applyDefaults(dial, read, write, pool *time.Duration, poolSize, retries, protocol *int) {
	if *dial == 0 {
		*dial = DefaultDialTimeout
	}
	if *read == 0 {
		*read = DefaultReadTimeout
	}
	if *write == 0 {
		*write = DefaultWriteTimeout
	}
	if *pool == 0 {
		*pool = DefaultPoolTimeout
	}
	if *poolSize == 0 {
		*poolSize = DefaultPoolSize()
	}
	if *retries == 0 {
		*retries = DefaultMaxRetries
	}
	if *protocol == 0 {
		// RESP2 unless the URL asks (protocol=3): nothing here uses RESP3 features,
		// and its push-notification handling costs about 4 % of a Redis-bound
		// verifier's CPU (load benchmark profile).
		*protocol = 2
	}
}

// multiHost splits a redis+sentinel:// or redis+cluster:// URL: the scheme go-redis
// knows (redis or rediss), the password, the host:port list, the path and the query.
func multiHost(raw string) (scheme, password string, hosts []string, path string, q url.Values, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", nil, "", nil, err
	}
	scheme, _, _ = strings.Cut(strings.ToLower(u.Scheme), "+")
	if u.User != nil {
		if u.User.Username() != "" {
			return "", "", nil, "", nil, errors.New("a user name is not supported; use [:password@]")
		}
		password, _ = u.User.Password()
	}
	for _, h := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return "", "", nil, "", nil, fmt.Errorf("%q is not host:port", h)
		}
		hosts = append(hosts, h)
	}
	q, err = url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", nil, "", nil, err
	}
	return scheme, password, hosts, u.Path, q, nil
}

// goRedisURL is the one-host URL go-redis's ParseFailoverURL / ParseClusterURL read:
// the first host, the others as addr= parameters.
func goRedisURL(scheme string, hosts []string, path string, q url.Values) string {
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u := url.URL{Scheme: scheme, Host: hosts[0], Path: path, RawQuery: q.Encode()}
	return u.String()
}

func openSentinel(raw string) (redis.UniversalClient, error) {
	bad := func(err error) error { return fmt.Errorf("%w: %s", ErrInvalidURL, redactErr(raw, err)) }
	scheme, password, hosts, path, q, err := multiHost(raw)
	if err != nil {
		return nil, bad(err)
	}
	master := q.Get("master")
	if master == "" {
		return nil, fmt.Errorf("%w: redis+sentinel:// needs ?master=NAME", ErrInvalidURL)
	}
	q.Del("master")
	q.Set("master_name", master)
	sentinelPassword := q.Get("sentinel_password")
	q.Del("sentinel_password")
	opt, err := redis.ParseFailoverURL(goRedisURL(scheme, hosts, path, q))
	if err != nil {
		return nil, bad(err)
	}
	opt.Password = password
	opt.SentinelPassword = sentinelPassword
	opt.ContextTimeoutEnabled = true
	applyDefaults(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout,
		&opt.PoolSize, &opt.MaxRetries, &opt.Protocol)
	opt.DialerRetries = DialAttempts
	return redis.NewFailoverClient(opt), nil
}

func openCluster(raw string) (redis.UniversalClient, error) {
	bad := func(err error) error { return fmt.Errorf("%w: %s", ErrInvalidURL, redactErr(raw, err)) }
	scheme, password, hosts, path, q, err := multiHost(raw)
	if err != nil {
		return nil, bad(err)
	}
	if path != "" && path != "/" && path != "/0" {
		return nil, fmt.Errorf("%w: a Redis Cluster has database 0 only", ErrInvalidURL)
	}
	opt, err := redis.ParseClusterURL(goRedisURL(scheme, hosts, "", q))
	if err != nil {
		return nil, bad(err)
	}
	opt.Password = password
	opt.ContextTimeoutEnabled = true
	applyDefaults(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout,
		&opt.PoolSize, &opt.MaxRetries, &opt.Protocol)
	opt.DialerRetries = DialAttempts
	cc := redis.NewClusterClient(opt)
	cc.OnNewNode(func(n *redis.Client) { n.AddHook(reloadOnNodeFailure{cc}) })
	return cc, nil
}

// reloadOnNodeFailure makes a cluster client re-read the slot map as soon as a node
// cannot be reached. go-redis reloads it on MOVED and READONLY answers, and otherwise
// only when the map is ten seconds old: after a master dies, its slots would be sent
// to the dead address until then, although its replica took over within the
// cluster's node timeout. With this hook a command's retries (MaxRedirects) find
// the new master.
type reloadOnNodeFailure struct{ cc *redis.ClusterClient }

func (h reloadOnNodeFailure) failed(ctx context.Context, err error) {
	var re redis.Error
	if err != nil && !errors.As(err, &re) && ctx.Err() == nil {
		h.cc.ReloadState(ctx)
	}
}

func (h reloadOnNodeFailure) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		h.failed(ctx, err)
		return c, err
	}
}

func (h reloadOnNodeFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.failed(ctx, err)
		return err
	}
}

func (h reloadOnNodeFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.failed(ctx, err)
		return err
	}
}

// redactErr renders a REDIS_URL parse error without the URL itself (url.Parse puts
// the whole string, password included, into its errors) and without the password.
func redactErr(raw string, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, has := u.User.Password(); has && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// Options configures a Cache. The zero value is valid.
type Options struct {
	// Prefix is prepended to every key and to the channel name; default "".
	Prefix string
	// Registerer receives the package's metrics (vexen_redis_errors_total{op},
	// vexen_redis_feed_events_total, vexen_redis_feed_reconnects_total,
	// vexen_redis_feed_malformed_total); nil means no metrics. Caches sharing a
	// registry share the counters. The client's pool statistics are the wiring's
	// to register (go-redis's redisprometheus collector).
	Registerer prometheus.Registerer
	// Logger receives the revocation feed's log lines; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock TTLs and the feed's PING times are computed with; nil means
	// time.Now.
	Now func() time.Time
}

// Cache is the seed's Redis key schema and revocation channel over one client. It is
// safe for concurrent use.
type Cache struct {
	rdb     redis.UniversalClient
	cluster bool // rdb is a *redis.ClusterClient: per-slot transactions, sharded pub/sub
	prefix  string
	log     *slog.Logger
	now     func() time.Time
	m       metrics
	lookups lookupBatcher
}

// New returns a Cache over rdb, which must not be nil. The Cache does not own the
// client: closing it is the caller's business.
func New(rdb redis.UniversalClient, o Options) *Cache {
	c := &Cache{rdb: rdb, prefix: o.Prefix, log: o.Logger, now: o.Now}
	_, c.cluster = rdb.(*redis.ClusterClient)
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.m = newMetrics(o.Registerer)
	return c
}

// Client returns the underlying client.
func (c *Cache) Client() redis.UniversalClient { return c.rdb }

// Ping checks that the server answers.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("rediscache: ping: %w", err)
	}
	return nil
}

// The keys carry their hash or user id in braces, a Redis Cluster hash tag: the
// keys of one token (access_token:{h}, revoked:{h}) and of one user
// (user_session:{uid}, user_tokens:{uid}) hash to one slot, so the verifier's MGET
// and Fill's script work on a cluster as on one server. The braces are part of the
// key name on every deployment, one schema for all.

// AccessKey is access_token:{h}, the JSON claims of a verified access token.
func (c *Cache) AccessKey(h string) string { return c.prefix + "access_token:{" + h + "}" }

// RefreshKey is refresh_token:{h}, the user id of a live refresh token.
func (c *Cache) RefreshKey(h string) string { return c.prefix + "refresh_token:{" + h + "}" }

// RevokedKey is revoked:{h}, "1" while a revoked token would otherwise still be live.
func (c *Cache) RevokedKey(h string) string { return c.prefix + "revoked:{" + h + "}" }

// UserSessionKey is user_session:{uid}, JSON {"user_id","email","last_login"}.
func (c *Cache) UserSessionKey(uid string) string {
	return c.prefix + "user_session:{" + uid + "}"
}

// UserTokensKey is user_tokens:{uid}, the SET of the user's token hashes.
func (c *Cache) UserTokensKey(uid string) string { return c.prefix + "user_tokens:{" + uid + "}" }

// Channel is the revocation pub/sub channel, {prefix}revocations.
func (c *Cache) Channel() string { return c.prefix + "revocations" }

// ttlUntil is the remaining life until exp, truncated to whole milliseconds (Redis's
// resolution); zero or less means "already expired, don't write".
func (c *Cache) ttlUntil(exp time.Time) time.Duration {
	if exp.IsZero() {
		return 0
	}
	return exp.Sub(c.now()).Truncate(time.Millisecond)
}

// Operations, the values of the errors_total op label.
type op uint8

const (
	opStorePair op = iota
	opDropRefresh
	opRevoke
	opPublish
	opLookup
	opFill
	opMarkRevoked
	opFeed
	opSweep
	numOps
)

var opNames = [numOps]string{
	opStorePair:   "store_pair",
	opDropRefresh: "drop_refresh",
	opRevoke:      "revoke",
	opPublish:     "publish",
	opLookup:      "lookup",
	opFill:        "fill",
	opMarkRevoked: "mark_revoked",
	opFeed:        "feed",
	opSweep:       "sweep_user_tokens",
}

type metrics struct {
	errors     [numOps]prometheus.Counter
	events     prometheus.Counter
	reconnects prometheus.Counter
	malformed  prometheus.Counter
}

// newMetrics builds the counters and resolves every child once. Without a registerer
// they still count, unexported, so the code paths need no nil checks.
func newMetrics(reg prometheus.Registerer) metrics {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vexen_redis_errors_total",
		Help: "Redis operations that failed, by operation.",
	}, []string{"op"})
	events := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vexen_redis_feed_events_total",
		Help: "Revocation events delivered from the Redis channel.",
	})
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vexen_redis_feed_reconnects_total",
		Help: "Revocation feed subscription attempts after the first.",
	})
	malformed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vexen_redis_feed_malformed_total",
		Help: "Messages on the revocation channel that were not valid events (dropped).",
	})
	if reg != nil {
		errs = register(reg, errs)
		events = register(reg, events)
		reconnects = register(reg, reconnects)
		malformed = register(reg, malformed)
	}
	var m metrics
	for i := range m.errors {
		m.errors[i] = errs.WithLabelValues(opNames[i])
	}
	m.events, m.reconnects, m.malformed = events, reconnects, malformed
	return m
}

// register registers c, or returns the collector already registered under the same
// descriptors (two Caches on one registry share their counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting registration (same name, other labels) is a wiring bug that
		// would otherwise go unnoticed: the metric would silently never appear.
		panic(fmt.Sprintf("rediscache: register metrics: %v", err))
	}
	return c
}

// fail counts err under o and wraps it with the operation's name.
func (c *Cache) fail(o op, err error) error {
	c.m.errors[o].Inc()
	return fmt.Errorf("rediscache: %s: %w", opNames[o], err)
}

// CheckURL reports whether Open would accept redisURL, without connecting. The
// error wraps ErrInvalidURL and never contains the password.
func CheckURL(redisURL string) error {
	rdb, err := Open(redisURL)
	if err != nil {
		return err
	}
	return rdb.Close()
}
