package issue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// TestMintDecodesWithJWX decodes minted tokens with jwx the way a verifier would (the
// public JWKS, or the shared secret) and checks every header and claim.
func TestMintDecodesWithJWX(t *testing.T) {
	secret := strings.Repeat("k", 40)
	for _, alg := range []string{AlgES256, AlgEdDSA, AlgRS256, AlgHS256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, newMemStore(), func(c *Config, _ *Deps) {
				c.Alg = alg
				c.Secret = Secret(secret)
				c.IssuerURL = "https://issuer.example"
				c.Audience = "apps"
				c.AccessTTL = 10 * time.Minute
			})
			now := e.clock.Now()
			m, err := e.svc.mint("sid-1", "user-1", "u@example.com", []string{"a", "b"}, now, tokenExtras{AMR: []string{"pwd"}})
			if err != nil {
				t.Fatal(err)
			}
			var keyOpt jwt.ParseOption
			if alg == AlgHS256 {
				keyOpt = jwt.WithKey(jwa.HS256, []byte(secret))
			} else {
				set, err := jwk.Parse(e.svc.JWKS())
				if err != nil {
					t.Fatal(err)
				}
				keyOpt = jwt.WithKeySet(set)
			}
			tok, err := jwt.ParseString(m.access, keyOpt, jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(e.clock.Now)),
				jwt.WithIssuer("https://issuer.example"), jwt.WithAudience("apps"))
			if err != nil {
				t.Fatalf("jwx rejects the token: %v", err)
			}
			msg, err := jws.ParseString(m.access)
			if err != nil || len(msg.Signatures()) != 1 {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if h.Algorithm() != jwa.SignatureAlgorithm(alg) || h.KeyID() != e.svc.KeyID() || h.Type() != "at+jwt" {
				t.Errorf("header alg %s kid %s typ %s", h.Algorithm(), h.KeyID(), h.Type())
			}
			if tok.Subject() != "user-1" || tok.Issuer() != "https://issuer.example" || strings.Join(tok.Audience(), ",") != "apps" {
				t.Errorf("sub %s iss %s aud %v", tok.Subject(), tok.Issuer(), tok.Audience())
			}
			if !tok.IssuedAt().Equal(now) || !tok.NotBefore().Equal(now) || !tok.Expiration().Equal(now.Add(10*time.Minute)) {
				t.Errorf("iat %v nbf %v exp %v", tok.IssuedAt(), tok.NotBefore(), tok.Expiration())
			}
			if len(tok.JwtID()) < 22 {
				t.Errorf("jti %q", tok.JwtID())
			}
			for name, want := range map[string]any{"sid": "sid-1", "email": "u@example.com"} {
				if v, _ := tok.Get(name); v != want {
					t.Errorf("%s = %v, want %v", name, v, want)
				}
			}
			if v, _ := tok.Get("roles"); jsonString(v) != `["a","b"]` {
				t.Errorf("roles = %v", v)
			}
			if !m.accessExp.Equal(now.Add(10*time.Minute)) || m.accessHash != TokenHash(m.access) || m.refreshHash != TokenHash(m.refresh) {
				t.Error("minted bookkeeping does not match the tokens")
			}
			if string(m.claims) != string(msg.Payload()) {
				t.Errorf("cached claims %s differ from the payload %s", m.claims, msg.Payload())
			}
		})
	}
}

func TestMintClaimsShape(t *testing.T) {
	e := newEnv(t, newMemStore(), nil)
	m, err := e.svc.mint("s", "u", "e@x.io", nil, e.clock.Now(), tokenExtras{AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(m.claims, &raw); err != nil {
		t.Fatal(err)
	}
	want := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "email", "roles", "amr"}
	if len(raw) != len(want) {
		t.Errorf("claims %s, want exactly %v", m.claims, want)
	}
	for _, k := range want {
		if _, ok := raw[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if string(raw["roles"]) != "[]" {
		t.Errorf("roles %s, want [] (never null)", raw["roles"])
	}
	m2, _ := e.svc.mint("s", "u", "e@x.io", nil, e.clock.Now(), tokenExtras{AMR: []string{"pwd"}})
	if m2.access == m.access || m2.refresh == m.refresh {
		t.Error("two mints gave the same token")
	}
	if len(m.refresh) != 43 || !wellFormedRefresh(m.refresh) {
		t.Errorf("refresh token %q", m.refresh)
	}
}

func TestVerifyAccessToken(t *testing.T) {
	e := newEnv(t, newMemStore(), nil)
	now := e.clock.Now()
	good, err := e.svc.mint("sid", "uid", "x@example.com", []string{"r"}, now, tokenExtras{AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	signer := e.svc.keys.current().signer
	sign := func(hdr map[string]any, claims map[string]any, key any, alg jwa.SignatureAlgorithm) string {
		h := jws.NewHeaders()
		for k, v := range hdr {
			h.Set(k, v)
		}
		b, err := jws.Sign([]byte(jsonString(claims)), jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "http://localhost:8080", "sub": "uid", "aud": "vexen", "exp": now.Add(time.Minute).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "jti": "j", "sid": "sid", "email": "x@example.com", "roles": []string{}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	okHdr := map[string]any{"kid": signer.kid, "typ": "at+jwt"}
	// rawSign signs a header and claims given as raw JSON, so that a member can be
	// given twice or in another case.
	rawSign := func(hdr, claims string) string {
		in := b64url.EncodeToString([]byte(hdr)) + "." + b64url.EncodeToString([]byte(claims))
		s, err := jws.NewSigner(jwa.ES256)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.Sign([]byte(in), signer.private)
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + b64url.EncodeToString(sig)
	}
	rawHdr := `{"alg":"ES256","kid":"` + signer.kid + `","typ":"at+jwt"`
	rawClaims := strings.TrimSuffix(jsonString(claims(nil)), "}")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name         string
		token        string
		allowExpired bool
		ok           bool
	}{
		{"minted", good.access, false, true},
		{"hand-signed", sign(okHdr, claims(nil), signer.private, jwa.ES256), false, true},
		{"expired", sign(okHdr, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }), signer.private, jwa.ES256), false, false},
		{"expired, allowed", sign(okHdr, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), signer.private, jwa.ES256), true, true},
		{"expired within leeway", sign(okHdr, claims(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() }), signer.private, jwa.ES256), false, true},
		{"not yet valid", sign(okHdr, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), signer.private, jwa.ES256), true, false},
		{"wrong issuer", sign(okHdr, claims(func(c map[string]any) { c["iss"] = "https://evil" }), signer.private, jwa.ES256), true, false},
		{"wrong audience", sign(okHdr, claims(func(c map[string]any) { c["aud"] = "other" }), signer.private, jwa.ES256), true, false},
		{"no sid", sign(okHdr, claims(func(c map[string]any) { delete(c, "sid") }), signer.private, jwa.ES256), true, false},
		{"no sub", sign(okHdr, claims(func(c map[string]any) { delete(c, "sub") }), signer.private, jwa.ES256), true, false},
		{"no exp", sign(okHdr, claims(func(c map[string]any) { delete(c, "exp") }), signer.private, jwa.ES256), false, false},
		{"typ JWT", sign(map[string]any{"kid": signer.kid, "typ": "JWT"}, claims(nil), signer.private, jwa.ES256), true, false},
		{"no typ", sign(map[string]any{"kid": signer.kid}, claims(nil), signer.private, jwa.ES256), true, false},
		{"unknown kid", sign(map[string]any{"kid": "nope", "typ": "at+jwt"}, claims(nil), signer.private, jwa.ES256), true, false},
		// Exact names, no member twice (issue 9): jwx alone keeps the last duplicate.
		{"raw-signed", rawSign(rawHdr+"}", rawClaims+"}"), false, true},
		{"typ spelled TYP", rawSign(`{"alg":"ES256","kid":"`+signer.kid+`","TYP":"at+jwt"}`, rawClaims+"}"), true, false},
		{"typ twice, the last at+jwt", rawSign(`{"alg":"ES256","kid":"`+signer.kid+`","typ":"JWT","typ":"at+jwt"}`, rawClaims+"}"), true, false},
		{"a header member twice", rawSign(rawHdr+`,"x":1,"x":2}`, rawClaims+"}"), true, false},
		{"sub twice", rawSign(rawHdr+"}", rawClaims+`,"sub":"admin"}`), true, false},
		{"sid twice, the second escaped", rawSign(rawHdr+"}", rawClaims+`,"s\u0069d":"other"}`), true, false},
		{"a claim twice in a nested object", rawSign(rawHdr+"}", rawClaims+`,"x":{"a":1,"a":2}}`), true, false},
		{"foreign key, our kid", sign(okHdr, claims(nil), other, jwa.ES256), true, false},
		{"HS256 with the public key", sign(okHdr, claims(nil), []byte(jsonString(e.svc.JWKS())), jwa.HS256), true, false},
		{"alg none", noneToken(okHdr, claims(nil)), true, false},
		{"tampered payload", tamper(good.access), true, false},
		{"garbage", "a.b.c", true, false},
		{"empty", "", true, false},
		{"oversized", strings.Repeat("a", maxTokenLen+1), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.svc.VerifyAccessToken(tt.token, tt.allowExpired)
			if tt.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err %v, want ErrInvalidToken (claims %+v)", err, c)
			}
			if tt.ok && (c.SessionID != "sid" || c.Subject != "uid" || c.Email != "x@example.com" || c.Roles == nil) {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func noneToken(hdr, claims map[string]any) string {
	h := map[string]any{"alg": "none"}
	for k, v := range hdr {
		h[k] = v
	}
	return b64url.EncodeToString([]byte(jsonString(h))) + "." + b64url.EncodeToString([]byte(jsonString(claims))) + "."
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	raw, _ := b64url.DecodeString(parts[1])
	raw = []byte(strings.Replace(string(raw), `"roles":["r"]`, `"roles":["admin"]`, 1))
	parts[1] = b64url.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestRefreshTokenShape(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		rt := newRefreshToken()
		if !wellFormedRefresh(rt) || seen[rt] {
			t.Fatalf("refresh token %q (dup %v)", rt, seen[rt])
		}
		seen[rt] = true
		raw, err := b64url.DecodeString(rt)
		if err != nil || len(raw) != RefreshTokenBytes {
			t.Fatalf("%q decodes to %d bytes, %v", rt, len(raw), err)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("a", 42), strings.Repeat("a", 44), strings.Repeat("=", 43), strings.Repeat("+", 43)} {
		if wellFormedRefresh(bad) {
			t.Errorf("wellFormedRefresh(%q)", bad)
		}
	}
	// {h}: lowercase hex SHA-256 of the token string.
	if got := TokenHash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("TokenHash(abc) = %s", got)
	}
	id := newID()
	if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
		t.Errorf("newID %s is not a v4 UUID", id)
	}
}
