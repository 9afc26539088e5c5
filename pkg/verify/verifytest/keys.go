package verifytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Key is a signing key pair with its kid.
type Key struct {
	KID     string
	Alg     jwa.SignatureAlgorithm
	Private jwk.Key // kid and alg set
	Public  jwk.Key // kid, alg and use=sig set
	raw     any     // the private crypto key
}

// NewKey generates a key for alg: ES256, ES384, ES512, EdDSA, RS256 (2048 bits) or
// PS256. The kid is random.
func NewKey(tb testing.TB, alg jwa.SignatureAlgorithm) *Key {
	tb.Helper()
	var raw any
	var err error
	switch alg {
	case jwa.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.ES384:
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jwa.ES512:
		raw, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jwa.EdDSA:
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	case jwa.RS256, jwa.PS256:
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		tb.Fatalf("verifytest: NewKey: unsupported alg %s", alg)
	}
	if err != nil {
		tb.Fatalf("verifytest: generate %s key: %v", alg, err)
	}
	return keyOf(tb, alg, raw, randomKID())
}

// KeyFromRaw wraps an existing private key (e.g. an RSA key of a chosen size).
func KeyFromRaw(tb testing.TB, alg jwa.SignatureAlgorithm, raw any, kid string) *Key {
	tb.Helper()
	return keyOf(tb, alg, raw, kid)
}

func keyOf(tb testing.TB, alg jwa.SignatureAlgorithm, raw any, kid string) *Key {
	tb.Helper()
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		tb.Fatalf("verifytest: jwk.FromRaw: %v", err)
	}
	_ = priv.Set(jwk.KeyIDKey, kid)
	_ = priv.Set(jwk.AlgorithmKey, alg)
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		tb.Fatalf("verifytest: public key: %v", err)
	}
	_ = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
	return &Key{KID: kid, Alg: alg, Private: priv, Public: pub, raw: raw}
}

func randomKID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Raw is the private crypto key (*ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey).
func (k *Key) Raw() any { return k.raw }

// JWKS renders the public keys as a JSON Web Key Set.
func JWKS(tb testing.TB, keys ...*Key) []byte {
	tb.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k.Public); err != nil {
			tb.Fatalf("verifytest: JWKS: %v", err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatalf("verifytest: JWKS: %v", err)
	}
	return b
}

// JWKSServer serves a JWKS at /.well-known/jwks.json and counts the fetches.
type JWKSServer struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	body    []byte
	status  int
}

// NewJWKSServer starts a server for the keys; it is closed when the test ends.
func NewJWKSServer(tb testing.TB, keys ...*Key) *JWKSServer {
	tb.Helper()
	s := &JWKSServer{body: JWKS(tb, keys...), status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		s.fetches.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// URL is the JWKS URL.
func (s *JWKSServer) URL() string { return s.Server.URL + "/.well-known/jwks.json" }

// SetKeys replaces the served keys.
func (s *JWKSServer) SetKeys(tb testing.TB, keys ...*Key) {
	tb.Helper()
	s.SetBody(JWKS(tb, keys...), http.StatusOK)
}

// SetBody serves an arbitrary body and status (e.g. 500, or a malformed set).
func (s *JWKSServer) SetBody(body []byte, status int) {
	s.mu.Lock()
	s.body, s.status = body, status
	s.mu.Unlock()
}

// Fetches is how many times the JWKS was requested.
func (s *JWKSServer) Fetches() int64 { return s.fetches.Load() }
