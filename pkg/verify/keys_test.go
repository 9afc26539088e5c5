package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// TestUnknownKidRefetch: tokens with unknown kids cause at most one JWKS fetch per
// 10 s, however many arrive.
func TestUnknownKidRefetch(t *testing.T) {
	f := newFixture(t)
	if got := f.jwks.Fetches(); got != 1 {
		t.Fatalf("fetches after start = %d, want 1", got)
	}
	stranger := verifytest.NewKey(t, jwa.ES256)
	m := &verifytest.Minter{Key: stranger, Now: f.clock.Now}
	for i := range 20 {
		tok := m.Mint(t, verifytest.Claims{SessionID: "s" + string(rune('a'+i))})
		f.mustDeny(tok, ReasonSignature)
	}
	if got := f.jwks.Fetches(); got != 2 {
		t.Fatalf("fetches after 20 unknown kids = %d, want 2 (one refetch)", got)
	}
	f.clock.Advance(refetchEvery + time.Second)
	f.mustDeny(m.Mint(t, verifytest.Claims{SessionID: "later"}), ReasonSignature)
	if got := f.jwks.Fetches(); got != 3 {
		t.Fatalf("fetches after the interval = %d, want 3", got)
	}
	if got := metricValue(t, f.reg, "vexen_verifier_jwks_unknown_kid_refetches_total", nil); got != 2 {
		t.Fatalf("refetch metric = %v, want 2", got)
	}
}

// TestKeyRotation: a token signed by a key the issuer just published verifies
// after the one refetch its unknown kid causes.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	next := verifytest.NewKey(t, jwa.EdDSA)
	f.jwks.SetKeys(t, f.key, next)
	m := &verifytest.Minter{Key: next, Now: f.clock.Now}
	f.sessions.Add("s2", "u2", f.clock.Now().Add(time.Hour))
	id := f.mustAllow(m.Mint(t, verifytest.Claims{SessionID: "s2", Subject: "u2"}))
	if id.UserID != "u2" {
		t.Fatalf("user %q", id.UserID)
	}
	// The old key still works.
	f.mustAllow(f.token("s1", "u1"))
}

// TestScheduledJWKSRefresh: a key the issuer prepublishes reaches the verifier on
// its JWKSRefresh schedule, before any token names it: the first token it signs
// verifies without the unknown-kid refetch (which a flood of rotations could not
// rely on: it runs at most once per 10 s).
func TestScheduledJWKSRefresh(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.JWKSRefresh = 100 * time.Millisecond }))
	next := verifytest.NewKey(t, jwa.ES256)
	f.jwks.SetKeys(t, f.key, next)
	before := f.jwks.Fetches()
	waitFor(t, "the scheduled JWKS fetch", func() bool {
		_, ok := f.v.keys.current().lookup(next.KID)
		return ok
	})
	if f.jwks.Fetches() <= before {
		t.Fatal("the prepublished key arrived without a fetch")
	}
	m := &verifytest.Minter{Key: next, Now: f.clock.Now}
	f.sessions.Add("s2", "u2", f.clock.Now().Add(time.Hour))
	f.mustAllow(m.Mint(t, verifytest.Claims{SessionID: "s2", Subject: "u2"}))
	if got := metricValue(t, f.reg, "vexen_verifier_jwks_unknown_kid_refetches_total", nil); got != 0 {
		t.Fatalf("unknown-kid refetches = %v, want 0: the key was known before its first token", got)
	}
}

func TestFilterKeys(t *testing.T) {
	good := verifytest.NewKey(t, jwa.ES256)
	eddsa := verifytest.NewKey(t, jwa.EdDSA)
	rs := verifytest.NewKey(t, jwa.RS256)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakKey := verifytest.KeyFromRaw(t, jwa.RS256, weak, "weak")
	dup1 := verifytest.NewKey(t, jwa.ES256)
	dup2 := verifytest.NewKey(t, jwa.ES256)
	_ = dup2.Public.Set(jwk.KeyIDKey, dup1.KID)
	noKid := verifytest.NewKey(t, jwa.ES256)
	_ = noKid.Public.Remove(jwk.KeyIDKey)
	enc := verifytest.NewKey(t, jwa.ES256)
	_ = enc.Public.Set(jwk.KeyUsageKey, "enc")
	lying := verifytest.NewKey(t, jwa.ES256)
	_ = lying.Public.Set(jwk.AlgorithmKey, jwa.HS256)
	noAlg := verifytest.NewKey(t, jwa.ES384)
	_ = noAlg.Public.Remove(jwk.AlgorithmKey)
	secret, _ := jwk.FromRaw([]byte(strings.Repeat("k", 32)))
	_ = secret.Set(jwk.KeyIDKey, "oct")
	_ = secret.Set(jwk.AlgorithmKey, jwa.HS256)
	private := verifytest.NewKey(t, jwa.ES256) // a private key published by mistake: its public half is used

	set := jwk.NewSet()
	for _, k := range []jwk.Key{good.Public, eddsa.Public, rs.Public, weakKey.Public, dup1.Public, dup2.Public,
		noKid.Public, enc.Public, lying.Public, noAlg.Public, secret, private.Private} {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	clean, algs, skipped := filterKeys(set)
	want := map[string]jwa.SignatureAlgorithm{
		good.KID: jwa.ES256, eddsa.KID: jwa.EdDSA, rs.KID: jwa.RS256, noAlg.KID: jwa.ES384, private.KID: jwa.ES256,
	}
	if len(algs) != len(want) {
		t.Fatalf("trusted %v, want %v (skipped %q)", algs, want, skipped)
	}
	for kid, alg := range want {
		if algs[kid] != alg {
			t.Errorf("kid %s: alg %q, want %q", kid, algs[kid], alg)
		}
	}
	if clean.Len() != len(want) {
		t.Fatalf("clean set has %d keys, want %d", clean.Len(), len(want))
	}
	for i := range clean.Len() {
		k, _ := clean.Key(i)
		var raw any
		if err := k.Raw(&raw); err != nil {
			t.Fatal(err)
		}
		switch raw.(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		default:
			t.Errorf("kid %s: %T in the trusted set, want a public key", k.KeyID(), raw)
		}
		if k.KeyUsage() != "sig" {
			t.Errorf("kid %s: use %q", k.KeyID(), k.KeyUsage())
		}
	}
	// weak RSA, the duplicate kid, no kid, use=enc, a lying alg, the secret key.
	if len(skipped) != 6 {
		t.Fatalf("skipped %d keys, want 6: %q", len(skipped), skipped)
	}
}

// TestKeysNotLoaded: without keys a token cannot be verified, which is an error
// (503), never an allow and never a plain deny.
func TestKeysNotLoaded(t *testing.T) {
	key := verifytest.NewKey(t, jwa.ES256)
	jwks := verifytest.NewJWKSServer(t, key)
	jwks.SetBody([]byte("oops"), http.StatusInternalServerError)
	sessions := verifytest.NewSessions()
	ctx, cancel := context.WithCancel(context.Background())
	v, err := New(ctx, Config{JWKSURL: jwks.URL()}, Deps{Sessions: sessions})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "a failed JWKS fetch", func() bool { return jwks.Fetches() >= 1 })

	m := &verifytest.Minter{Key: key}
	sessions.Add("session-1", "user-1", time.Now().Add(time.Hour))
	d, err := v.Decide(context.Background(), &Request{Token: m.Mint(t, verifytest.Claims{})})
	if !errors.Is(err, ErrKeysUnavailable) || d.Allow || d.Status != http.StatusServiceUnavailable {
		t.Fatalf("decision %+v, %v; want 503 ErrKeysUnavailable", d, err)
	}
	if err := v.Ready(context.Background()); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Ready = %v", err)
	}
	// A JWKS with nothing usable in it does not count as loaded either.
	jwks.SetBody([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"x"}]}`), http.StatusOK)
	waitFor(t, "another fetch", func() bool { return jwks.Fetches() >= 3 })
	if v.keys.current() != nil {
		t.Fatal("a JWKS with only a secret key was installed")
	}
	jwks.SetKeys(t, key)
	waitFor(t, "keys loaded", func() bool { return v.keys.current() != nil })
	if d, err := v.Decide(context.Background(), &Request{Token: m.Mint(t, verifytest.Claims{})}); err != nil || !d.Allow {
		t.Fatalf("after loading: %+v, %v", d, err)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
}

func TestHS256(t *testing.T) {
	secret := strings.Repeat("s3cr3t", 6)
	f := newFixture(t, withConfig(func(c *Config) { c.Secret = secret }))
	if got := f.jwks.Fetches(); got != 0 {
		t.Fatalf("JWKS fetched %d times in an HS256 deployment", got)
	}
	f.sessions.Add("session-1", "user-1", f.clock.Now().Add(time.Hour))
	payload := f.mint.Payload(t, verifytest.Claims{})
	hs := func(key []byte, kid string) string {
		h := map[string]any{"alg": "HS256", "typ": "at+jwt"}
		if kid != "" {
			h["kid"] = kid
		}
		return verifytest.Sign(t, jwa.HS256, key, h, payload)
	}
	f.mustAllow(hs([]byte(secret), ""))
	f.mustAllow(hs([]byte(secret), "any-kid"))
	f.mustDeny(hs([]byte(secret+"x"), ""), ReasonSignature)
	f.mustDeny(f.mint.Mint(t, verifytest.Claims{}), ReasonSignature) // ES256 is not trusted here
	f.mustDeny(verifytest.Unsigned(t, map[string]any{"alg": "none", "typ": "at+jwt"}, payload), ReasonMalformed)
	hs384 := verifytest.Sign(t, jwa.HS384, []byte(secret), map[string]any{"alg": "HS384", "typ": "at+jwt"}, payload)
	f.mustDeny(hs384, ReasonSignature)
}

func TestJWKSClientLimits(t *testing.T) {
	key := verifytest.NewKey(t, jwa.ES256)
	jwks := verifytest.NewJWKSServer(t, key)
	big := `{"keys":[` + strings.Repeat(`{"kty":"oct","k":"AAAA"},`, maxJWKSBytes/20) + `]}`
	jwks.SetBody([]byte(big), http.StatusOK)
	c := jwksClient(nil)
	res, err := c.Get(jwks.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v any
	if err := json.NewDecoder(res.Body).Decode(&v); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("decoding an oversized JWKS: %v, want the size error", err)
	}
	if lt, ok := c.Transport.(limitedTransport); !ok || lt.timeout <= 0 {
		t.Fatal("JWKS client without a deadline")
	}
}

// TestJWKSDeadline: a JWKS server that stalls (here, mid-body) fails the fetch
// at the deadline.
func TestJWKSDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := jwksClient(nil)
	c.Transport = limitedTransport{base: c.Transport.(limitedTransport).base, timeout: 100 * time.Millisecond}
	start := time.Now()
	res, err := c.Get(srv.URL)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("stalled fetch: %v after %v", err, time.Since(start))
	}
}
