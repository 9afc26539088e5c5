package verifytest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Defaults of a Minter, the verifier's defaults too.
const (
	DefaultIssuer   = "http://localhost:8080"
	DefaultAudience = "vexen"
	DefaultTTL      = 15 * time.Minute
)

// Minter signs access tokens the way the issuer does: header {alg, kid, typ:
// "at+jwt"}, claims iss, sub, aud, exp, iat, nbf, jti, sid, email, roles.
type Minter struct {
	Key      *Key
	Issuer   string           // "" = DefaultIssuer
	Audience string           // "" = DefaultAudience
	TTL      time.Duration    // 0 = DefaultTTL
	Now      func() time.Time // nil = time.Now
}

// Claims describes one token. Zero fields take the Minter's defaults; Omit drops
// claims by name and Extra adds or overrides any (after everything else).
type Claims struct {
	Subject   string // default "user-1"
	SessionID string // default "session-1"
	Email     string // default "user@example.com"
	Roles     []string
	Issuer    string
	Audience  any // string or []string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	Omit      []string
	Extra     map[string]any
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Payload renders the claims as the JSON a token carries.
func (m *Minter) Payload(tb testing.TB, c Claims) []byte {
	tb.Helper()
	b, err := json.Marshal(m.ClaimsMap(c))
	if err != nil {
		tb.Fatalf("verifytest: claims: %v", err)
	}
	return b
}

// ClaimsMap renders the claims as a map, defaults applied.
func (m *Minter) ClaimsMap(c Claims) map[string]any {
	now := m.now()
	iss := orDefault(c.Issuer, orDefault(m.Issuer, DefaultIssuer))
	var aud any = orDefault(m.Audience, DefaultAudience)
	if c.Audience != nil {
		aud = c.Audience
	}
	ttl := m.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	iat := pick(c.IssuedAt, now)
	claims := map[string]any{
		"iss":   iss,
		"sub":   orDefault(c.Subject, "user-1"),
		"aud":   aud,
		"exp":   pick(c.Expiry, now.Add(ttl)).Unix(),
		"iat":   iat.Unix(),
		"nbf":   pick(c.NotBefore, iat).Unix(),
		"jti":   randomKID(),
		"sid":   orDefault(c.SessionID, "session-1"),
		"email": orDefault(c.Email, "user@example.com"),
		"roles": orEmpty(c.Roles),
	}
	for _, k := range c.Omit {
		delete(claims, k)
	}
	maps.Copy(claims, c.Extra)
	return claims
}

// Mint signs a token with the minter's key.
func (m *Minter) Mint(tb testing.TB, c Claims) string {
	tb.Helper()
	return Sign(tb, m.Key.Alg, m.Key.Raw(), m.Header(), m.Payload(tb, c))
}

// Header is the issuer's JOSE header for the minter's key.
func (m *Minter) Header() map[string]any {
	return map[string]any{"alg": m.Key.Alg.String(), "kid": m.Key.KID, "typ": "at+jwt"}
}

// Sign builds a compact JWS over payload with exactly the given header (nothing is
// added or checked, so hostile headers can be made), signed by key with alg.
func Sign(tb testing.TB, alg jwa.SignatureAlgorithm, key any, header map[string]any, payload []byte) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatalf("verifytest: header: %v", err)
	}
	return SignRaw(tb, alg, key, h, payload)
}

// SignRaw is Sign with the header as raw JSON bytes, so that headers no map can
// hold (a member given twice, names in another case) can be signed.
func SignRaw(tb testing.TB, alg jwa.SignatureAlgorithm, key any, header, payload []byte) string {
	tb.Helper()
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	signer, err := jws.NewSigner(alg)
	if err != nil {
		tb.Fatalf("verifytest: signer %s: %v", alg, err)
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		tb.Fatalf("verifytest: sign %s: %v", alg, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Unsigned builds "header.payload." (alg none style: an empty signature).
func Unsigned(tb testing.TB, header map[string]any, payload []byte) string {
	tb.Helper()
	return signingInput(tb, header, payload) + "."
}

func signingInput(tb testing.TB, header map[string]any, payload []byte) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatalf("verifytest: header: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
}

// Hash is {h}: the lowercase hex SHA-256 of a token, as Redis keys use it.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func pick(t, d time.Time) time.Time {
	if t.IsZero() {
		return d
	}
	return t
}
