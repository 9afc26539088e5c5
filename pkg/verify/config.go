package verify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/hostlist"
	"github.com/vexen/vexen-auth/pkg/policy"
)

// Revocation modes (Config.Revocation).
const (
	// ModePush trusts a cached decision while the revocation feed is fresh and
	// re-checks it after MaxStaleness otherwise.
	ModePush = "push"
	// ModeStrict makes every decision wait for a read of the store's revocation log
	// that started after the request arrived (concurrent requests share one read):
	// a request that starts after a revoking call returned is refused, whatever
	// Redis holds. Without the store's log, strict decisions answer 503.
	ModeStrict = "strict"
)

// Defaults of Config.
const (
	DefaultIssuer        = "http://localhost:8080"
	DefaultAudience      = "vexen"
	DefaultJWKSURL       = "http://localhost:8080/.well-known/jwks.json"
	DefaultJWKSRefresh   = 5 * time.Minute
	DefaultCookieName    = "vexen_access"
	DefaultMaxStaleness  = time.Second
	DefaultLeeway        = 5 * time.Second
	DefaultCacheEntries  = 1_000_000
	DefaultMaxTokenBytes = 8 << 10
	DefaultMaxTokenLife  = time.Hour

	// MinSecretBytes is the shortest JWT_SECRET_KEY accepted: RFC 7518 §3.2 requires
	// an HS256 key of at least the hash's size (256 bits).
	MinSecretBytes = 32
	// maxLeeway bounds Config.Leeway: clock skew is seconds, not hours.
	maxLeeway = 5 * time.Minute
)

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("verify: invalid configuration")

// configError names the setting (by its environment variable, as the contract does)
// in a one-line message, and matches ErrInvalidConfig.
type configError struct {
	setting string
	msg     string
}

func (e *configError) Error() string        { return "invalid " + e.setting + ": " + e.msg }
func (e *configError) Is(target error) bool { return target == ErrInvalidConfig }

func invalid(setting, format string, args ...any) error {
	return &configError{setting: setting, msg: fmt.Sprintf(format, args...)}
}

// Config is the verifier's configuration. Zero values mean the default named in each
// field's comment; DefaultConfig returns them filled in.
type Config struct {
	Issuer   string // required iss claim; default DefaultIssuer
	Audience string // required aud claim; default DefaultAudience
	// JWKSURL is the issuer's key set, fetched in the background (and, for an unknown
	// kid, at most once per 10 s); default DefaultJWKSURL. Ignored when Secret is set.
	JWKSURL string
	// JWKSRefresh is how often the JWKS is fetched on schedule, so that a key the
	// issuer prepublishes (its --key-prepublish, which must be longer) is known
	// before the first token it signs; default DefaultJWKSRefresh; at least 100ms.
	JWKSRefresh time.Duration
	// Secret is JWT_SECRET_KEY: an HS256 deployment's shared key (at least 32 bytes);
	// then no JWKS is fetched and only HS256 is accepted. It never appears when the
	// Config is printed or logged.
	Secret     string
	CookieName string // cookie holding the token when no Authorization header is sent; default DefaultCookieName
	// Revocation is ModePush (default) or ModeStrict.
	Revocation string
	// MaxStaleness is the longest a cached decision is trusted without hearing from
	// Redis (push mode), and without Redis the longest a revocation takes to be seen;
	// default DefaultMaxStaleness.
	MaxStaleness time.Duration
	// MaxTokenLife is the longest life (exp - iat) of an access token the verifier
	// accepts; a longer-lived token is refused (reason claims). It sizes the
	// revocation window: the verifier holds every revocation of the last
	// MaxTokenLife + Leeway, loaded from the store's log before its first 200, so no
	// token it accepts can belong to a session revoked before the window. Default
	// DefaultMaxTokenLife; it must be at least the issuer's access-token TTL.
	MaxTokenLife time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat; default DefaultLeeway
	// (at most 5m). Set it to a negative value for no leeway at all.
	Leeway time.Duration
	// CacheEntries bounds the in-process cache (about 0.4 KiB per entry); default
	// DefaultCacheEntries.
	CacheEntries int
	// NoLocalCache disables the in-process cache: every decision asks Redis (or
	// verifies the token and asks the store). For benchmarks.
	NoLocalCache bool
	// FirstSightSessionCheck makes every never-seen token ask Redis and the store,
	// as before first-sight decisions existed; default false: in push mode, while
	// the revocation feed is fresh, a never-seen token whose signature and claims
	// are good and whose session has no tombstone is admitted from the window
	// alone (see the package doc).
	FirstSightSessionCheck bool
	// LoginURL is where browser navigations that opted in (see Handler) are sent
	// instead of a 401, with the original URL in rd; "" = never redirect.
	LoginURL string
	// AllowedRedirectHosts lists the hosts (and "*.parent" wildcards, which match any
	// name below parent) whose URLs may be passed to the login page as rd; default:
	// LoginURL's host.
	AllowedRedirectHosts []string
	// TrustedProxies are the peers whose X-Forwarded-* and X-Original-* headers are
	// believed; default loopback (127.0.0.0/8, ::1/128).
	TrustedProxies []netip.Prefix
	// Rules are access rules "HOST PATH_PREFIX ROLE[,ROLE…]" (see the package
	// documentation), compiled into a policy (policy.FromRules); none and no
	// Policy = any valid token is allowed everywhere.
	Rules []string
	// Policy is the access policy (policy.Load); nil = none, or Rules. Policy and
	// Rules cannot both be set. Verifier.SetPolicy replaces it at run time.
	Policy *policy.Policy
	// MaxTokenBytes is the longest token considered; longer ones are malformed
	// without being parsed. Default DefaultMaxTokenBytes.
	MaxTokenBytes int
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Issuer:       DefaultIssuer,
		Audience:     DefaultAudience,
		JWKSURL:      DefaultJWKSURL,
		JWKSRefresh:  DefaultJWKSRefresh,
		CookieName:   DefaultCookieName,
		Revocation:   ModePush,
		MaxStaleness: DefaultMaxStaleness,
		Leeway:       DefaultLeeway,
		CacheEntries: DefaultCacheEntries,
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
		},
		MaxTokenBytes: DefaultMaxTokenBytes,
		MaxTokenLife:  DefaultMaxTokenLife,
	}
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Issuer == "" {
		c.Issuer = d.Issuer
	}
	if c.Audience == "" {
		c.Audience = d.Audience
	}
	if c.JWKSURL == "" {
		c.JWKSURL = d.JWKSURL
	}
	if c.JWKSRefresh == 0 {
		c.JWKSRefresh = d.JWKSRefresh
	}
	if c.CookieName == "" {
		c.CookieName = d.CookieName
	}
	if c.Revocation == "" {
		c.Revocation = d.Revocation
	}
	if c.MaxTokenLife == 0 {
		c.MaxTokenLife = d.MaxTokenLife
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = d.MaxStaleness
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = d.Leeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = d.CacheEntries
	}
	if c.TrustedProxies == nil {
		c.TrustedProxies = d.TrustedProxies
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = d.MaxTokenBytes
	}
	if len(c.AllowedRedirectHosts) == 0 && c.LoginURL != "" {
		if u, err := url.Parse(c.LoginURL); err == nil && u.Hostname() != "" {
			c.AllowedRedirectHosts = []string{u.Hostname()}
		}
	}
	return c
}

// Validate checks the configuration (after defaults) without side effects. Its
// errors are one line, name the setting by its environment variable and match
// ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := c.validateIssuer(); err != nil {
		return err
	}
	if strings.TrimSpace(c.Audience) != c.Audience {
		return invalid("VERIFIER_AUDIENCE", "%q has surrounding blanks", c.Audience)
	}
	if c.Secret != "" {
		if len(c.Secret) < MinSecretBytes {
			return invalid("JWT_SECRET_KEY", "%d bytes is shorter than the %d bytes HS256 needs", len(c.Secret), MinSecretBytes)
		}
	} else if err := validateHTTPURL(c.JWKSURL); err != nil {
		return invalid("JWKS_URL", "%v", err)
	}
	if !validCookieName(c.CookieName) {
		return invalid("COOKIE_NAME", "%q is not a cookie name", c.CookieName)
	}
	if c.Revocation != ModePush && c.Revocation != ModeStrict {
		return invalid("VERIFIER_REVOCATION", "%q is neither %s nor %s", c.Revocation, ModePush, ModeStrict)
	}
	if c.MaxTokenLife < time.Minute {
		return invalid("VERIFIER_MAX_TOKEN_LIFE", "%v is below 1m", c.MaxTokenLife)
	}
	if c.MaxTokenLife > 7*24*time.Hour {
		return invalid("VERIFIER_MAX_TOKEN_LIFE", "%v is above 168h (the revocation window would be kept that long)", c.MaxTokenLife)
	}
	if c.JWKSRefresh < 100*time.Millisecond {
		return invalid("JWKS_REFRESH", "%v is below 100ms", c.JWKSRefresh)
	}
	if c.MaxStaleness < time.Millisecond {
		return invalid("VERIFIER_MAX_STALENESS", "%v is below 1ms", c.MaxStaleness)
	}
	if c.Leeway > maxLeeway {
		return invalid("VERIFIER_LEEWAY", "%v is above %v", c.Leeway, maxLeeway)
	}
	if c.CacheEntries < 0 {
		return invalid("VERIFIER_CACHE_ENTRIES", "%d is negative", c.CacheEntries)
	}
	if c.MaxTokenBytes < 256 || c.MaxTokenBytes > 1<<20 {
		return invalid("VERIFIER_MAX_TOKEN_BYTES", "%d is outside 256 … 1048576", c.MaxTokenBytes)
	}
	if c.LoginURL != "" {
		if err := validateHTTPURL(c.LoginURL); err != nil {
			return invalid("VERIFIER_LOGIN_URL", "%v", err)
		}
	}
	if _, err := hostlist.Parse(c.AllowedRedirectHosts); err != nil {
		return invalid("ALLOWED_REDIRECT_HOSTS", "%v", err)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return invalid("TRUSTED_PROXIES", "%v is not a valid CIDR", p)
		}
	}
	if len(c.Rules) > 0 {
		if c.Policy != nil {
			return invalid("VERIFIER_RULES", "--rule and --policy cannot be combined: write the rules into the policy file")
		}
		if _, err := policy.FromRules(c.Rules); err != nil {
			return invalid("VERIFIER_RULES", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	return nil
}

func (c Config) validateIssuer() error {
	if strings.TrimSpace(c.Issuer) != c.Issuer {
		return invalid("VERIFIER_ISSUER", "%q has surrounding blanks", c.Issuer)
	}
	return nil
}

func validateHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must have no fragment and no user info", raw)
	}
	return nil
}

// validCookieName: an RFC 6265 token.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// String prints the configuration with the secret redacted.
func (c Config) String() string {
	type plain Config // no methods: no recursion
	p := plain(c)
	p.Secret = redact(c.Secret)
	return fmt.Sprintf("%+v", p)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return "verify.Config" + c.String() }

// LogValue logs the configuration with the secret redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuer", c.Issuer),
		slog.String("audience", c.Audience),
		slog.String("jwks_url", c.JWKSURL),
		slog.String("secret", redact(c.Secret)),
		slog.String("cookie_name", c.CookieName),
		slog.String("revocation", c.Revocation),
		slog.Duration("max_staleness", c.MaxStaleness),
		slog.Duration("leeway", c.Leeway),
		slog.Int("cache_entries", c.CacheEntries),
		slog.Bool("no_local_cache", c.NoLocalCache),
		slog.Bool("first_sight_session_check", c.FirstSightSessionCheck),
		slog.String("login_url", c.LoginURL),
		slog.Any("allowed_redirect_hosts", c.AllowedRedirectHosts),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.Int("rules", len(c.Rules)),
		slog.Bool("policy", c.Policy != nil),
		slog.Int("max_token_bytes", c.MaxTokenBytes),
	)
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "xxxxx"
}
