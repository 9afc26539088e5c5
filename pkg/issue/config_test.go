package issue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.IssuerURL != "http://localhost:8080" || c.Audience != "vexen" || c.AccessTTL != 15*time.Minute ||
		c.RefreshTTL != 720*time.Hour || c.RefreshGrace != 5*time.Second || c.KeysDir != "./data/keys" ||
		c.Alg != "ES256" || c.CookieName != "vexen_access" || c.DefaultRedirect != "/" {
		t.Errorf("defaults differ from the contract: %+v", c)
	}
	if c.Password != (PasswordParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}) {
		t.Errorf("password params %+v", c.Password)
	}
	// The zero Config means the defaults too (but for RefreshGrace, where 0 is "none").
	z := Config{}.withDefaults()
	if z.AccessTTL != c.AccessTTL || z.Alg != c.Alg || z.Password != c.Password || z.RefreshGrace != 0 ||
		len(z.AllowedRedirectHosts) != 1 || z.AllowedRedirectHosts[0] != "localhost" {
		t.Errorf("zero config filled in as %+v", z)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	// An issuer host that is no allowlist entry is left out of the default rather
	// than failing a setting the operator never set.
	u := Config{IssuerURL: "http://vexen_issuer:8080"}
	if got := u.withDefaults().AllowedRedirectHosts; len(got) != 0 {
		t.Errorf("default allowed redirect hosts %q for an issuer host with \"_\"", got)
	}
	if err := u.Validate(); err != nil {
		t.Errorf("issuer host with \"_\": %v", err)
	}
	if !z.TrustedProxies[0].Contains(netip.MustParseAddr("127.0.0.1")) || z.TrustedProxies[1] != netip.MustParsePrefix("::1/128") {
		t.Errorf("trusted proxies %v", z.TrustedProxies)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		setting string
	}{
		{"relative issuer", func(c *Config) { c.IssuerURL = "localhost:8080" }, "issuer-url"},
		{"ftp issuer", func(c *Config) { c.IssuerURL = "ftp://x" }, "issuer-url"},
		{"issuer with query", func(c *Config) { c.IssuerURL = "https://x/?a=b" }, "issuer-url"},
		{"audience blanks", func(c *Config) { c.Audience = " vexen" }, "audience"},
		{"negative access ttl", func(c *Config) { c.AccessTTL = -time.Minute }, "access-ttl"},
		{"tiny access ttl", func(c *Config) { c.AccessTTL = time.Millisecond }, "access-ttl"},
		{"refresh shorter than access", func(c *Config) { c.RefreshTTL = time.Minute }, "refresh-ttl"},
		{"negative grace", func(c *Config) { c.RefreshGrace = -time.Second }, "refresh-grace"},
		{"huge grace", func(c *Config) { c.RefreshGrace = time.Hour }, "refresh-grace"},
		{"alg none", func(c *Config) { c.Alg = "none" }, "alg"},
		{"negative key rotation", func(c *Config) { c.KeyRotation = -time.Hour }, "key-rotation"},
		{"rotation within prepublish", func(c *Config) { c.KeyRotation = time.Hour }, "key-rotation"},
		{"negative prepublish", func(c *Config) { c.KeyPrepublish = -time.Hour }, "key-prepublish"},
		{"rotation of the HS256 secret", func(c *Config) {
			c.Alg, c.Secret, c.KeyRotation = AlgHS256, Secret(strings.Repeat("s", 32)), 720*time.Hour
		}, "key-rotation"},
		{"alg lower case", func(c *Config) { c.Alg = "es256" }, "alg"},
		{"HS256 without secret", func(c *Config) { c.Alg = AlgHS256 }, "JWT_SECRET_KEY"},
		{"HS256 short secret", func(c *Config) { c.Alg = AlgHS256; c.Secret = "short-secret" }, "JWT_SECRET_KEY"},
		{"argon2 memory", func(c *Config) { c.Password.Memory = 64 }, "argon2-memory"},
		{"argon2 time", func(c *Config) { c.Password.Time = 1000 }, "argon2-time"},
		{"argon2 salt", func(c *Config) { c.Password.SaltLen = 4 }, "argon2-salt-len"},
		{"hash concurrency", func(c *Config) { c.HashConcurrency = -1 }, "hash-concurrency"},
		{"ip rate", func(c *Config) { c.LoginRate.PerIP = Rate{Events: -1, Per: time.Minute} }, "login-rate-ip"},
		{"account rate", func(c *Config) { c.LoginRate.PerAccount = Rate{Events: 5} }, "login-rate-account"},
		{"cookie name", func(c *Config) { c.CookieName = "a b" }, "cookie-name"},
		{"cookie domain", func(c *Config) { c.CookieDomain = "a;b" }, "cookie-domain"},
		{"redirect host", func(c *Config) { c.AllowedRedirectHosts = []string{"a.*.com"} }, "allowed-redirect-hosts"},
		{"redirect host path", func(c *Config) { c.AllowedRedirectHosts = []string{"a.com/x"} }, "allowed-redirect-hosts"},
		{"redirect host port", func(c *Config) { c.AllowedRedirectHosts = []string{"a.com:8443"} }, "allowed-redirect-hosts"},
		{"redirect host bare wildcard", func(c *Config) { c.AllowedRedirectHosts = []string{"*."} }, "allowed-redirect-hosts"},
		{"redirect host trailing dot", func(c *Config) { c.AllowedRedirectHosts = []string{"a.com."} }, "allowed-redirect-hosts"},
		{"default redirect", func(c *Config) { c.DefaultRedirect = "javascript:alert(1)" }, "default-redirect"},
		{"trusted proxy", func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} }, "trusted-proxies"},
		{"rp id of another site", func(c *Config) { c.IssuerURL = "https://auth.example.com"; c.WebAuthnRPID = "evil.com" }, "webauthn-rp-id"},
		{"rp id a suffix but no parent", func(c *Config) { c.IssuerURL = "https://auth.example.com"; c.WebAuthnRPID = "ample.com" }, "webauthn-rp-id"},
		{"rp id a child", func(c *Config) { c.IssuerURL = "https://example.com"; c.WebAuthnRPID = "auth.example.com" }, "webauthn-rp-id"},
		{"rp id upper case", func(c *Config) { c.IssuerURL = "https://auth.example.com"; c.WebAuthnRPID = "Example.com" }, "webauthn-rp-id"},
		{"rp id a public suffix", func(c *Config) { c.IssuerURL = "https://auth.example.com"; c.WebAuthnRPID = "com" }, "webauthn-rp-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.setting) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s", msg, tt.setting)
			}
			if _, err := New(c, Deps{Store: newMemStore()}); err == nil {
				t.Error("New accepted what Validate refuses")
			}
		})
	}
	good := DefaultConfig()
	good.Alg = AlgHS256
	good.Secret = Secret(strings.Repeat("x", 32))
	good.AllowedRedirectHosts = []string{"app.example.com", "*.example.com"}
	if err := good.Validate(); err != nil {
		t.Errorf("good HS256 config: %v", err)
	}
	for _, id := range []string{"auth.example.com", "example.com"} {
		c := DefaultConfig()
		c.IssuerURL, c.WebAuthnRPID = "https://auth.example.com", id
		if err := c.Validate(); err != nil {
			t.Errorf("webauthn-rp-id %s for https://auth.example.com: %v", id, err)
		}
	}
}

func TestSecretRedacts(t *testing.T) {
	const value = "super-secret-signing-key-0123456789"
	c := DefaultConfig()
	c.Secret = Secret(value)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("config", "secret", c.Secret, "cfg", c)
	js, _ := json.Marshal(c)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c.Secret),
		"%s":   fmt.Sprintf("%s", c.Secret),
		"%q":   fmt.Sprintf("%q", c.Secret),
		"%#v":  fmt.Sprintf("%#v", c.Secret),
		"cfg":  fmt.Sprintf("%+v", c),
		"cfg#": fmt.Sprintf("%#v", c),
		"slog": logs.String(),
		"json": string(js),
	}
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, "super-secret") {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("%s does not say it redacted: %s", name, out)
		}
	}
	if string(c.Secret) != value {
		t.Error("the value itself is lost")
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty")
	}
}
