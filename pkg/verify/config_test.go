package verify

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		setting string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero config (defaults apply)", func(c *Config) { *c = Config{} }, ""},
		{"strict", func(c *Config) { c.Revocation = ModeStrict }, ""},
		{"bad mode", func(c *Config) { c.Revocation = "pull" }, "VERIFIER_REVOCATION"},
		{"short secret", func(c *Config) { c.Secret = "short" }, "JWT_SECRET_KEY"},
		{"secret ignores the JWKS URL", func(c *Config) { c.Secret = strings.Repeat("x", 32); c.JWKSURL = "::" }, ""},
		{"JWKS not http", func(c *Config) { c.JWKSURL = "file:///etc/passwd" }, "JWKS_URL"},
		{"JWKS without host", func(c *Config) { c.JWKSURL = "http:///jwks" }, "JWKS_URL"},
		{"JWKS with userinfo", func(c *Config) { c.JWKSURL = "https://u:p@issuer/jwks" }, "JWKS_URL"},
		{"cookie name", func(c *Config) { c.CookieName = "a b" }, "COOKIE_NAME"},
		{"staleness too small", func(c *Config) { c.MaxStaleness = time.Microsecond }, "VERIFIER_MAX_STALENESS"},
		{"negative staleness", func(c *Config) { c.MaxStaleness = -time.Second }, "VERIFIER_MAX_STALENESS"},
		{"JWKS refresh too short", func(c *Config) { c.JWKSRefresh = 10 * time.Millisecond }, "JWKS_REFRESH"},
		{"negative JWKS refresh", func(c *Config) { c.JWKSRefresh = -time.Second }, "JWKS_REFRESH"},
		{"leeway too large", func(c *Config) { c.Leeway = time.Hour }, "VERIFIER_LEEWAY"},
		{"negative leeway means none", func(c *Config) { c.Leeway = -1 }, ""},
		{"negative cache", func(c *Config) { c.CacheEntries = -1 }, "VERIFIER_CACHE_ENTRIES"},
		{"tiny token limit", func(c *Config) { c.MaxTokenBytes = 10 }, "VERIFIER_MAX_TOKEN_BYTES"},
		{"login URL", func(c *Config) { c.LoginURL = "https://auth.example.com/login" }, ""},
		{"login URL not absolute", func(c *Config) { c.LoginURL = "/login" }, "VERIFIER_LOGIN_URL"},
		{"login URL javascript", func(c *Config) { c.LoginURL = "javascript:alert(1)" }, "VERIFIER_LOGIN_URL"},
		{"redirect hosts", func(c *Config) { c.AllowedRedirectHosts = []string{"a.example.com", "*.example.org"} }, ""},
		{"bad redirect host", func(c *Config) { c.AllowedRedirectHosts = []string{"https://a.example.com"} }, "ALLOWED_REDIRECT_HOSTS"},
		{"bare wildcard host", func(c *Config) { c.AllowedRedirectHosts = []string{"*"} }, "ALLOWED_REDIRECT_HOSTS"},
		{"invalid proxy prefix", func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} }, "TRUSTED_PROXIES"},
		{"rules", func(c *Config) { c.Rules = []string{"* /admin admin", "app.example.com / *"} }, ""},
		{"bad rule", func(c *Config) { c.Rules = []string{"/admin admin"} }, "VERIFIER_RULES"},
		{"issuer with blanks", func(c *Config) { c.Issuer = " http://x" }, "VERIFIER_ISSUER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.setting == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted it, want an error naming %s", tc.setting)
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.setting) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line naming %s, matching ErrInvalidConfig", err, tc.setting)
			}
		})
	}
}

func TestConfigRedactsSecret(t *testing.T) {
	c := DefaultConfig()
	c.Secret = "hunter2-hunter2-hunter2-hunter2-hunter2"
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint(&c)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
		if !strings.Contains(s, "xxxxx") {
			t.Fatalf("no redaction marker: %s", s)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", c)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), `"secret":"xxxxx"`) {
		t.Fatalf("logged: %s", buf.String())
	}
}

func TestDefaults(t *testing.T) {
	c := Config{LoginURL: "https://auth.example.com/login"}.withDefaults()
	if c.Issuer != DefaultIssuer || c.Audience != DefaultAudience || c.JWKSURL != DefaultJWKSURL ||
		c.CookieName != DefaultCookieName || c.Revocation != ModePush || c.MaxStaleness != time.Second ||
		c.Leeway != DefaultLeeway || c.CacheEntries != DefaultCacheEntries || c.MaxTokenBytes != 8<<10 {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.TrustedProxies) != 2 || !c.TrustedProxies[0].Contains(netip.MustParseAddr("127.0.0.1")) ||
		!c.TrustedProxies[1].Contains(netip.MustParseAddr("::1")) {
		t.Fatalf("trusted proxies %v", c.TrustedProxies)
	}
	if len(c.AllowedRedirectHosts) != 1 || c.AllowedRedirectHosts[0] != "auth.example.com" {
		t.Fatalf("redirect hosts %v", c.AllowedRedirectHosts)
	}
	if c := (Config{Leeway: -1}).withDefaults(); c.Leeway != 0 {
		t.Fatalf("negative leeway → %v, want 0", c.Leeway)
	}
}

func TestNewRequiresSessions(t *testing.T) {
	if _, err := New(t.Context(), DefaultConfig(), Deps{}); !errors.Is(err, ErrNoSessions) {
		t.Fatalf("New without Sessions: %v", err)
	}
	if _, err := New(t.Context(), Config{Revocation: "x"}, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with a bad config: %v", err)
	}
}
