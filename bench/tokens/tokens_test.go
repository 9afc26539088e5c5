package tokens

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// issuerToken signs claims the way pkg/issue does: jws.Sign with kid and typ at+jwt.
func issuerToken(t *testing.T, alg jwa.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, "kid-1")
	hdr.Set(jws.TypeKey, "at+jwt")
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func issuerClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "http://127.0.0.1:8080", "sub": "user-0", "aud": "vexen",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": "original", "sid": "session-0", "email": "zero@example.com", "roles": []string{"user", "admin"},
	}
}

func TestMintES256VerifiesAsTheIssuersWould(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParseTemplate(issuerToken(t, jwa.ES256, key, issuerClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Alg != "ES256" || tmpl.Kid != "kid-1" {
		t.Errorf("template alg %q kid %q", tmpl.Alg, tmpl.Kid)
	}
	iat := time.Now().Truncate(time.Second)
	c := Claims{Subject: "user-7", SessionID: "session-7", Email: `seven"@example.com`, IssuedAt: iat, ExpiresAt: iat.Add(time.Hour)}
	tok, err := tmpl.Mint(c, ES256(key))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseString(tok, jwt.WithKey(jwa.ES256, &key.PublicKey),
		jwt.WithIssuer("http://127.0.0.1:8080"), jwt.WithAudience("vexen"), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if parsed.Subject() != c.Subject || !parsed.Expiration().Equal(c.ExpiresAt) || !parsed.IssuedAt().Equal(iat) || !parsed.NotBefore().Equal(iat) {
		t.Errorf("claims: sub %q exp %v iat %v nbf %v", parsed.Subject(), parsed.Expiration(), parsed.IssuedAt(), parsed.NotBefore())
	}
	for k, want := range map[string]any{"sid": "session-7", "email": `seven"@example.com`} {
		if v, _ := parsed.Get(k); v != want {
			t.Errorf("claim %s = %v, want %v", k, v, want)
		}
	}
	if roles, _ := parsed.Get("roles"); !slices.Equal(toStrings(roles), []string{"user", "admin"}) {
		t.Errorf("roles = %v, not copied", roles)
	}
	if jti := parsed.JwtID(); jti == "" || jti == "original" {
		t.Errorf("jti = %q, want a fresh one", jti)
	}
	msg, err := jws.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.KeyID() != "kid-1" || h.Type() != "at+jwt" {
		t.Errorf("header kid %q typ %q, want the template's", h.KeyID(), h.Type())
	}
	other, _ := tmpl.Mint(c, ES256(key))
	if other == tok {
		t.Error("two mints of the same claims are identical (jti not random)")
	}
}

func TestMintEdDSAWithKey(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParseTemplate(issuerToken(t, jwa.ES256, ecKey, issuerClaims()))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ed.pem")
	edKey, err := WriteEdKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	loaded, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := loaded.(ed25519.PrivateKey); !ok || !k.Equal(edKey) {
		t.Fatalf("LoadKey = %T, not the key written", loaded)
	}
	if _, err := LoadECKey(path); !errors.Is(err, ErrKey) {
		t.Errorf("LoadECKey of an Ed25519 key: %v, want ErrKey", err)
	}
	ed, err := tmpl.WithKey("EdDSA", "ed-1")
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Now().Truncate(time.Second)
	c := Claims{Subject: "user-7", SessionID: "session-7", Email: "seven@example.com", IssuedAt: iat, ExpiresAt: iat.Add(time.Hour)}
	if _, err := ed.Mint(c, ES256(ecKey)); !errors.Is(err, ErrAlg) {
		t.Errorf("ES256 signer on an EdDSA template: %v, want ErrAlg", err)
	}
	tok, err := ed.Mint(c, EdDSA(edKey))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseString(tok, jwt.WithKey(jwa.EdDSA, edKey.Public()),
		jwt.WithIssuer("http://127.0.0.1:8080"), jwt.WithAudience("vexen"), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("minted EdDSA token does not verify: %v", err)
	}
	if parsed.Subject() != c.Subject {
		t.Errorf("sub %q", parsed.Subject())
	}
	msg, err := jws.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.KeyID() != "ed-1" || h.Algorithm() != jwa.EdDSA || h.Type() != "at+jwt" {
		t.Errorf("header kid %q alg %q typ %q", h.KeyID(), h.Algorithm(), h.Type())
	}
	if _, err := jwt.ParseString(tok, jwt.WithKey(jwa.ES256, &ecKey.PublicKey)); err == nil {
		t.Error("the EdDSA token verified with the ES256 key")
	}
}

func toStrings(v any) []string {
	var out []string
	if xs, ok := v.([]any); ok {
		for _, x := range xs {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

func TestMintHS256(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	tmpl, err := ParseTemplate(issuerToken(t, jwa.HS256, secret, issuerClaims()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := tmpl.Mint(Claims{Subject: "u", SessionID: "s", Email: "e@x", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, HS256(secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.ParseString(tok, jwt.WithKey(jwa.HS256, secret), jwt.WithValidate(true)); err != nil {
		t.Fatalf("HS256 token does not verify: %v", err)
	}
	tok2, payload, err := tmpl.MintPayload(Claims{Subject: "u2", SessionID: "s2", Email: "e2@x", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, HS256(secret))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Verify([]byte(tok2), jws.WithKey(jwa.HS256, secret))
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != string(payload) {
		t.Errorf("MintPayload's payload %s is not the token's %s", payload, msg)
	}
	if _, err := jwt.ParseString(tok, jwt.WithKey(jwa.HS256, []byte("another secret, 32 bytes long!!!"))); err == nil {
		t.Error("verifies with the wrong secret")
	}
	if _, err := tmpl.Mint(Claims{}, ES256(nil)); !errors.Is(err, ErrAlg) {
		t.Errorf("ES256 signer on an HS256 template: err = %v, want ErrAlg", err)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30.x" /* header without alg */, "eyJhbGciOiJFUzI1NiJ9.!!.x", "eyJhbGciOiJFUzI1NiJ9.WzFd.x" /* claims not an object */} {
		if _, err := ParseTemplate(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTemplate(%q): err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestLoadECKey(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "kid.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	got, err := LoadECKey(good)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Error("loaded key differs")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKCS8PrivateKey(p384)
	wrongCurve := filepath.Join(dir, "p384.pem")
	os.WriteFile(wrongCurve, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der384}), 0o600)
	notPEM := filepath.Join(dir, "junk.pem")
	os.WriteFile(notPEM, []byte("junk"), 0o600)
	for _, p := range []string{wrongCurve, notPEM} {
		if _, err := LoadECKey(p); !errors.Is(err, ErrKey) {
			t.Errorf("LoadECKey(%s): err = %v, want ErrKey", filepath.Base(p), err)
		}
	}
}

func TestHashAndID(t *testing.T) {
	// sha256("abc")
	if got := Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash = %s", got)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewID(), NewID()
	if !uuid.MatchString(a) || a == b {
		t.Errorf("NewID = %q, %q", a, b)
	}
}

func TestTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.txt")
	in := []string{"a.b.c", "d.e.f"}
	if err := WriteFile(p, in); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "a.b.c\nd.e.f\n" {
		t.Errorf("file = %q", b)
	}
	out, err := ReadFile(p)
	if err != nil || !slices.Equal(out, in) {
		t.Errorf("ReadFile = %v, %v", out, err)
	}
	if err := WriteFile(p, []string{"a\nb"}); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Errorf("token with a newline: err = %v", err)
	}
}
