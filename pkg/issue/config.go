package issue

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/config"
	"github.com/vexen/vexen-auth/pkg/hostlist"
)

// Signing algorithms the issuer can use (the values of Config.Alg).
const (
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256 (default)
	AlgEdDSA = "EdDSA" // Ed25519
	AlgRS256 = "RS256" // RSA PKCS#1 v1.5 with SHA-256, 2048-bit keys or larger
	AlgHS256 = "HS256" // HMAC-SHA-256 with the shared secret JWT_SECRET_KEY
)

// MinSecretLen is the shortest JWT_SECRET_KEY accepted for HS256, in bytes (RFC 7518
// §3.2: a key of the same size as the hash output, 256 bits, or larger).
const MinSecretLen = 32

// MaxBodyBytes bounds every request body the API reads.
const MaxBodyBytes = 1 << 20

// Secret is a string that redacts itself when printed or logged: %v, %s, %q, %#v,
// slog and JSON all show "[redacted]" (or "" when empty). Convert it to string
// explicitly where the value is really needed. It is a string underneath, so a
// config.Set can bind it with Secret((*string)(&cfg.Secret), "JWT_SECRET_KEY").
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `issue.Secret("` + s.String() + `")` }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (JSON, YAML) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PasswordParams are the argon2id parameters new password hashes are made with.
// Verification always uses the parameters recorded in the stored hash, so they can be
// raised at any time; existing hashes keep working.
//
// The default is the second of OWASP's equivalent argon2id configurations (Password
// Storage Cheat Sheet): 19 MiB of memory, 2 passes, 1 lane. It costs about 35 ms of
// one core here, and its smaller memory footprint (against the 46 MiB, 1 pass variant)
// leaves room for concurrent logins in a small container. Hashing concurrency is
// bounded separately by Config.HashConcurrency.
type PasswordParams struct {
	Memory  uint32 // KiB; default 19456 (19 MiB); at least 1024
	Time    uint32 // passes; default 2
	Threads uint8  // lanes; default 1
	SaltLen uint32 // bytes; default 16
	KeyLen  uint32 // bytes; default 32
}

// DefaultPasswordParams returns the default argon2id parameters.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Rate is a GCRA rate limit: Burst events at once, refilled at Events per Per.
type Rate struct {
	Events int           // events per Per; must be positive
	Per    time.Duration // the period; must be positive
	Burst  int           // how many events may happen at once; default Events
}

func (r Rate) emission() time.Duration { return r.Per / time.Duration(r.Events) }

func (r Rate) burst() int {
	if r.Burst <= 0 {
		return r.Events
	}
	return r.Burst
}

// RateLimits configures the throttling of logins and refreshes.
type RateLimits struct {
	// PerIP counts every login attempt from one client address (an IPv6 client by its
	// /64). Default: 30 per minute, burst 30.
	PerIP Rate
	// PerAccount counts login attempts for one email address (lower-cased, whether or
	// not it has an account); a successful login gives its event back, so only
	// failures add up. Default: 10 per 10 minutes, burst 10: ten failures at once,
	// then one more a minute.
	PerAccount Rate
	// RefreshPerIP counts every refresh attempt (POST /v1/refresh and the sign-in
	// page's silent refresh) from one client address (an IPv6 client by its /64).
	// Default: 120 per minute, burst 120 (a NAT in front of many browsers, each
	// refreshing once per access-token lifetime, stays far below it).
	RefreshPerIP Rate
	// MaxKeys bounds the in-memory limiter (used without Redis, and while Redis is
	// failing); default 100000 keys, a few MiB.
	MaxKeys int
}

// DefaultRateLimits returns the default login throttling.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		PerIP:        Rate{Events: 30, Per: time.Minute, Burst: 30},
		PerAccount:   Rate{Events: 10, Per: 10 * time.Minute, Burst: 10},
		RefreshPerIP: Rate{Events: 120, Per: time.Minute, Burst: 120},
		MaxKeys:      100_000,
	}
}

// Config is the issuer's configuration. Start from DefaultConfig; a zero field means
// its default, except RefreshGrace, where zero means no grace period at all.
type Config struct {
	IssuerURL    string        // the iss claim and the base of discovery URLs; default http://localhost:8080
	Audience     string        // the aud claim; default "vexen"
	AccessTTL    time.Duration // access token lifetime; default 15m
	RefreshTTL   time.Duration // refresh token lifetime (sliding, renewed on refresh); default 720h
	RefreshGrace time.Duration // how long a rotated refresh token may be presented again; default 5s (DefaultConfig), zero: none
	KeysDir      string        // directory of KID.pem signing keys; default ./data/keys
	// TOTPKeyFile holds the 32-byte key (AES-256-GCM) that seals TOTP secrets in the
	// store; generated (mode 0600) on first start. Default: KeysDir/totp.key.
	TOTPKeyFile string
	Alg         string // ES256 (default), EdDSA, RS256 or HS256
	Secret      Secret // JWT_SECRET_KEY: the HS256 key, at least 32 bytes; unused otherwise
	// KeyRescan is how often KeysDir is re-read, so that a key added by `issuer keys
	// rotate` starts signing without a restart; default 30s.
	KeyRescan time.Duration
	// KeyRotation is how often a new signing key is made (`issuer serve`
	// --key-rotation): one replica adds it under the store's lock (store.Locker)
	// KeyPrepublish before it is due to sign. Zero (default): manual rotation only
	// (`issuer keys rotate`).
	KeyRotation time.Duration
	// KeyPrepublish is how long a new key, scheduled or added by `issuer keys
	// rotate`, is in the JWKS before it signs (verifiers fetch it on their schedule
	// meanwhile); default 1h. The first key of an algorithm signs at once.
	KeyPrepublish time.Duration
	// Leeway is the clock skew allowed when checking the issuer's own access tokens
	// (logout, logout-all, sessions); default 30s.
	Leeway time.Duration

	CookieName           string   // the access-token cookie; default vexen_access
	CookieDomain         string   // default "" (host-only cookie)
	AllowedRedirectHosts []string // hosts and *.parent wildcards allowed in rd; default the issuer URL's host
	DefaultRedirect      string   // where a disallowed rd goes; default "/"

	Password PasswordParams // argon2id parameters for new hashes; see DefaultPasswordParams
	// HashConcurrency bounds how many password hashes run at once (each holds
	// Password.Memory); more wait their turn. Default GOMAXPROCS.
	HashConcurrency int
	LoginRate       RateLimits // see DefaultRateLimits

	// Providers are the OpenID Connect providers of federated sign-in (LoadProviders
	// reads the --providers file); none by default.
	Providers []Provider
	// WebAuthnRPID is the passkeys' relying party id: the issuer URL's host or a
	// parent domain of it (example.com for auth.example.com: the passkeys then
	// survive moving the issuer to another subdomain). Default: the issuer URL's host;
	// passkeys are off when that is an IP address. The origin is the issuer URL's.
	WebAuthnRPID string
	// StateSecret seals the cookie that carries a federated sign-in from start to
	// callback; every replica needs the same. Empty: a random one per process.
	StateSecret Secret
	// NoPasswordLogin switches the password form and POST /v1/login off (SSO-only
	// sites, --password-login=false); default false: passwords work.
	NoPasswordLogin bool

	// TrustedProxies are the peers whose X-Forwarded-For is believed when finding the
	// client address; default loopback only (127.0.0.0/8, ::1/128).
	TrustedProxies []netip.Prefix
}

// DefaultConfig returns the configuration the contract documents.
func DefaultConfig() Config {
	return Config{
		IssuerURL:       "http://localhost:8080",
		Audience:        "vexen",
		AccessTTL:       15 * time.Minute,
		RefreshTTL:      720 * time.Hour,
		RefreshGrace:    5 * time.Second,
		KeysDir:         "./data/keys",
		Alg:             AlgES256,
		KeyRescan:       30 * time.Second,
		KeyPrepublish:   time.Hour,
		Leeway:          30 * time.Second,
		CookieName:      "vexen_access",
		DefaultRedirect: "/",
		Password:        DefaultPasswordParams(),
		HashConcurrency: runtime.GOMAXPROCS(0),
		LoginRate:       DefaultRateLimits(),
		TrustedProxies:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
}

// withDefaults fills in every zero field (but RefreshGrace) from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setString(&c.IssuerURL, d.IssuerURL)
	setString(&c.Audience, d.Audience)
	setDuration(&c.AccessTTL, d.AccessTTL)
	setDuration(&c.RefreshTTL, d.RefreshTTL)
	setString(&c.KeysDir, d.KeysDir)
	setString(&c.Alg, d.Alg)
	setDuration(&c.KeyRescan, d.KeyRescan)
	setDuration(&c.KeyPrepublish, d.KeyPrepublish)
	setDuration(&c.Leeway, d.Leeway)
	setString(&c.CookieName, d.CookieName)
	setString(&c.DefaultRedirect, d.DefaultRedirect)
	if c.Password == (PasswordParams{}) {
		c.Password = d.Password
	} else {
		p := &c.Password
		if p.Memory == 0 {
			p.Memory = d.Password.Memory
		}
		if p.Time == 0 {
			p.Time = d.Password.Time
		}
		if p.Threads == 0 {
			p.Threads = d.Password.Threads
		}
		if p.SaltLen == 0 {
			p.SaltLen = d.Password.SaltLen
		}
		if p.KeyLen == 0 {
			p.KeyLen = d.Password.KeyLen
		}
	}
	if c.HashConcurrency == 0 {
		c.HashConcurrency = d.HashConcurrency
	}
	if c.LoginRate.PerIP == (Rate{}) {
		c.LoginRate.PerIP = d.LoginRate.PerIP
	}
	if c.LoginRate.PerAccount == (Rate{}) {
		c.LoginRate.PerAccount = d.LoginRate.PerAccount
	}
	if c.LoginRate.RefreshPerIP == (Rate{}) {
		c.LoginRate.RefreshPerIP = d.LoginRate.RefreshPerIP
	}
	if c.LoginRate.MaxKeys == 0 {
		c.LoginRate.MaxKeys = d.LoginRate.MaxKeys
	}
	if c.TrustedProxies == nil {
		c.TrustedProxies = d.TrustedProxies
	}
	if len(c.AllowedRedirectHosts) == 0 {
		// The default is left out when the issuer's host is no allowlist entry (a
		// name with "_", say): rd may then only be a path, as it could before.
		if u, err := url.Parse(c.IssuerURL); err == nil && u.Hostname() != "" {
			if _, err := hostlist.Parse([]string{u.Hostname()}); err == nil {
				c.AllowedRedirectHosts = []string{u.Hostname()}
			}
		}
	}
	return c
}

func setString(p *string, d string) {
	if *p == "" {
		*p = d
	}
}

func setDuration(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

// Validate checks the configuration (after filling in defaults) without side effects.
// The error is one line naming the setting, by its flag name.
func (c Config) Validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.IssuerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return config.Invalid("issuer-url", "%q is not an absolute http(s) URL without query or fragment", c.IssuerURL)
	}
	if id := c.WebAuthnRPID; id != "" {
		host := strings.ToLower(u.Hostname())
		if id != strings.ToLower(id) || strings.Trim(id, ".") != id || !strings.Contains(id, ".") && id != "localhost" ||
			host != id && !strings.HasSuffix(host, "."+id) {
			return config.Invalid("webauthn-rp-id", "%q is not the issuer URL's host %q or a parent domain of it", id, host)
		}
	}
	if strings.TrimSpace(c.Audience) != c.Audience {
		return config.Invalid("audience", "%q has surrounding blanks", c.Audience)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"access-ttl", c.AccessTTL}, {"refresh-ttl", c.RefreshTTL}, {"key-rescan", c.KeyRescan}, {"leeway", c.Leeway},
		{"key-rotation", c.KeyRotation}, {"key-prepublish", c.KeyPrepublish}} {
		if d.v < 0 {
			return config.Invalid(d.name, "%v is negative", d.v)
		}
	}
	if c.AccessTTL < time.Second {
		return config.Invalid("access-ttl", "%v is shorter than a second", c.AccessTTL)
	}
	if c.KeyRotation != 0 && c.Alg == AlgHS256 {
		return config.Invalid("key-rotation", "HS256 signs with JWT_SECRET_KEY: rotate it by changing the secret")
	}
	if c.KeyRotation != 0 && c.KeyRotation <= c.KeyPrepublish {
		return config.Invalid("key-rotation", "%v must be longer than key-prepublish %v", c.KeyRotation, c.KeyPrepublish)
	}
	if c.RefreshTTL <= c.AccessTTL {
		return config.Invalid("refresh-ttl", "%v must be longer than access-ttl %v", c.RefreshTTL, c.AccessTTL)
	}
	if c.RefreshGrace < 0 {
		return config.Invalid("refresh-grace", "%v is negative", c.RefreshGrace)
	}
	if c.RefreshGrace > time.Minute {
		return config.Invalid("refresh-grace", "%v is longer than a minute: a replayed refresh token would go unnoticed that long", c.RefreshGrace)
	}
	switch c.Alg {
	case AlgES256, AlgEdDSA, AlgRS256:
	case AlgHS256:
		if c.Secret == "" {
			return config.Invalid("JWT_SECRET_KEY", "required with alg HS256")
		}
		if len(c.Secret) < MinSecretLen {
			return config.Invalid("JWT_SECRET_KEY", "%d bytes; HS256 needs at least %d", len(c.Secret), MinSecretLen)
		}
	default:
		return config.Invalid("alg", "%q is not one of ES256, EdDSA, RS256, HS256", c.Alg)
	}
	if err := c.Password.validate(); err != nil {
		return err
	}
	if c.HashConcurrency < 0 {
		return config.Invalid("hash-concurrency", "%d is negative", c.HashConcurrency)
	}
	for _, r := range []struct {
		name string
		r    Rate
	}{{"login-rate-ip", c.LoginRate.PerIP}, {"login-rate-account", c.LoginRate.PerAccount}, {"refresh-rate-ip", c.LoginRate.RefreshPerIP}} {
		if r.r.Events <= 0 || r.r.Per <= 0 || r.r.Burst < 0 || r.r.Per/time.Duration(r.r.Events) <= 0 {
			return config.Invalid(r.name, "%d events per %v (burst %d) is not a usable rate", r.r.Events, r.r.Per, r.r.Burst)
		}
	}
	if c.LoginRate.MaxKeys < 0 {
		return config.Invalid("login-rate-max-keys", "%d is negative", c.LoginRate.MaxKeys)
	}
	if strings.ContainsAny(c.CookieName, " \t\r\n;,=\"") {
		return config.Invalid("cookie-name", "%q is not a valid cookie name", c.CookieName)
	}
	if strings.ContainsAny(c.CookieDomain, " \t\r\n;,\"/") {
		return config.Invalid("cookie-domain", "%q is not a domain", c.CookieDomain)
	}
	if c.CookieDomain != "" {
		// net/http would silently drop an invalid Domain, and browsers refuse a cookie
		// whose Domain does not contain the host that sets it: sign-in would loop.
		if (&http.Cookie{Name: "x", Value: "x", Domain: c.CookieDomain}).Valid() != nil {
			return config.Invalid("cookie-domain", "%q is not a domain", c.CookieDomain)
		}
		d, h := strings.ToLower(strings.TrimPrefix(c.CookieDomain, ".")), strings.ToLower(u.Hostname())
		if h != d && !strings.HasSuffix(h, "."+d) {
			return config.Invalid("cookie-domain", "%q does not contain the issuer URL's host %q; browsers would refuse the cookies", c.CookieDomain, h)
		}
	}
	if _, err := hostlist.Parse(c.AllowedRedirectHosts); err != nil {
		return config.Invalid("allowed-redirect-hosts", "%v", err)
	}
	if !strings.HasPrefix(c.DefaultRedirect, "/") && !strings.HasPrefix(c.DefaultRedirect, "http://") &&
		!strings.HasPrefix(c.DefaultRedirect, "https://") {
		return config.Invalid("default-redirect", "%q is neither a path nor an http(s) URL", c.DefaultRedirect)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return config.Invalid("trusted-proxies", "invalid prefix %v", p)
		}
	}
	return nil
}

// validate checks parameters for new hashes.
func (p PasswordParams) validate() error {
	switch {
	case p.Memory < 1024:
		return config.Invalid("argon2-memory", "%d KiB is below the 1024 KiB floor", p.Memory)
	case p.Memory > maxMemoryKiB:
		return config.Invalid("argon2-memory", "%d KiB is above the %d KiB ceiling", p.Memory, maxMemoryKiB)
	case p.Time < 1 || p.Time > maxTime:
		return config.Invalid("argon2-time", "%d is outside 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return config.Invalid("argon2-threads", "%d is outside 1..%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads):
		return config.Invalid("argon2-memory", "%d KiB is less than 8 KiB per thread", p.Memory)
	case p.SaltLen < 16 || p.SaltLen > 64:
		return config.Invalid("argon2-salt-len", "%d is outside 16..64", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > 64:
		return config.Invalid("argon2-key-len", "%d is outside 16..64", p.KeyLen)
	}
	return nil
}
