package verify

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

func TestSplitToken(t *testing.T) {
	for _, tc := range []struct {
		tok string
		ok  bool
	}{
		{"ab.cd.ef", true},
		{"a.bc.de", false},
		{"aB-_9.xY.z0", false},
		{"aB-_.xY.z0", true},
		{"", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{".b.c", false},
		{"a..c", false},
		{"a.b.", false},
		{"a.b.c=", false},
		{"a+b.c.d", false},
		{"a.b.c\n", false},
		{"a b.c.d", false},
	} {
		_, _, ok := splitToken(tc.tok)
		if ok != tc.ok {
			t.Errorf("splitToken(%q) ok = %v, want %v", tc.tok, ok, tc.ok)
		}
	}
}

// TestClaimRules mints one token per rule, each differing from a valid token in
// one respect.
func TestClaimRules(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	leeway := DefaultLeeway
	f.sessions.Add("session-1", "user-1", now.Add(time.Hour))
	for _, tc := range []struct {
		name   string
		claims verifytest.Claims
		header map[string]any // overrides of the JOSE header
		want   Reason
	}{
		{name: "valid", want: ReasonOK},
		{name: "roles", claims: verifytest.Claims{Roles: []string{"admin", "dev"}}, want: ReasonOK},
		{name: "wrong iss", claims: verifytest.Claims{Issuer: "http://evil.example"}, want: ReasonClaims},
		{name: "iss with trailing slash", claims: verifytest.Claims{Issuer: DefaultIssuer + "/"}, want: ReasonClaims},
		{name: "wrong aud", claims: verifytest.Claims{Audience: "other"}, want: ReasonClaims},
		{name: "aud list with ours", claims: verifytest.Claims{Audience: []string{"other", "vexen"}}, want: ReasonOK},
		{name: "aud list without ours", claims: verifytest.Claims{Audience: []string{"other"}}, want: ReasonClaims},
		{name: "no aud", claims: verifytest.Claims{Omit: []string{"aud"}}, want: ReasonClaims},
		{name: "no iss", claims: verifytest.Claims{Omit: []string{"iss"}}, want: ReasonClaims},
		{name: "no exp", claims: verifytest.Claims{Omit: []string{"exp"}}, want: ReasonClaims},
		{name: "expired", claims: verifytest.Claims{Expiry: now.Add(-leeway - time.Second)}, want: ReasonExpired},
		{name: "expired within leeway", claims: verifytest.Claims{Expiry: now.Add(-leeway + 2*time.Second)}, want: ReasonOK},
		{name: "nbf in the future", claims: verifytest.Claims{NotBefore: now.Add(leeway + 2*time.Second)}, want: ReasonExpired},
		{name: "nbf within leeway", claims: verifytest.Claims{NotBefore: now.Add(leeway - 2*time.Second)}, want: ReasonOK},
		{name: "iat in the future", claims: verifytest.Claims{IssuedAt: now.Add(leeway + 2*time.Second), NotBefore: now}, want: ReasonExpired},
		{name: "no iat", claims: verifytest.Claims{Omit: []string{"iat"}}, want: ReasonClaims},
		{name: "no nbf is fine", claims: verifytest.Claims{Omit: []string{"nbf"}}, want: ReasonOK},
		{name: "no sub", claims: verifytest.Claims{Omit: []string{"sub"}}, want: ReasonClaims},
		{name: "empty sub", claims: verifytest.Claims{Extra: map[string]any{"sub": ""}}, want: ReasonClaims},
		{name: "no sid", claims: verifytest.Claims{Omit: []string{"sid"}}, want: ReasonClaims},
		{name: "empty sid", claims: verifytest.Claims{Extra: map[string]any{"sid": ""}}, want: ReasonClaims},
		{name: "sid not a string", claims: verifytest.Claims{Extra: map[string]any{"sid": 7}}, want: ReasonClaims},
		{name: "roles not an array", claims: verifytest.Claims{Extra: map[string]any{"roles": "admin"}}, want: ReasonClaims},
		{name: "roles with a number", claims: verifytest.Claims{Extra: map[string]any{"roles": []any{"admin", 1}}}, want: ReasonClaims},
		{name: "role with a comma", claims: verifytest.Claims{Roles: []string{"a,b"}}, want: ReasonClaims},
		{name: "email not a string", claims: verifytest.Claims{Extra: map[string]any{"email": []string{"x"}}}, want: ReasonClaims},
		{name: "email with a newline", claims: verifytest.Claims{Email: "a@b.c\r\nX-Auth-User: admin"}, want: ReasonClaims},
		{name: "exp not a number", claims: verifytest.Claims{Extra: map[string]any{"exp": "tomorrow"}}, want: ReasonClaims},
		{name: "typ JWT", header: map[string]any{"typ": "JWT"}, want: ReasonClaims},
		{name: "no typ", header: map[string]any{"typ": nil}, want: ReasonClaims},
		{name: "typ application/at+jwt", header: map[string]any{"typ": "application/at+jwt"}, want: ReasonOK},
		{name: "typ AT+JWT", header: map[string]any{"typ": "AT+JWT"}, want: ReasonOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.claims
			if c.SessionID == "" {
				c.SessionID = "session-1"
			}
			if c.Subject == "" && !contains(c.Omit, "sub") {
				c.Subject = "user-1"
			}
			h := f.mint.Header()
			for k, v := range tc.header {
				if v == nil {
					delete(h, k)
				} else {
					h[k] = v
				}
			}
			tok := verifytest.Sign(t, f.key.Alg, f.key.Raw(), h, f.mint.Payload(t, c))
			d, err := f.decide(tok)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if d.Reason != tc.want || d.Allow != (tc.want == ReasonOK) {
				t.Fatalf("decision %+v (reason %v), want %v", d, d.Reason, tc.want)
			}
			if !d.Allow && d.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", d.Status)
			}
		})
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestHostileTokens: every forgery is denied, with no error, before the store is asked.
func TestHostileTokens(t *testing.T) {
	f := newFixture(t)
	f.sessions.Add("session-1", "user-1", f.clock.Now().Add(time.Hour))
	attacker := verifytest.NewKey(t, jwa.ES256)
	payload := f.mint.Payload(t, verifytest.Claims{})
	good := f.mint.Mint(t, verifytest.Claims{})
	other := f.mint.Mint(t, verifytest.Claims{Subject: "admin", Roles: []string{"admin"}})

	pub := publicKeyBytes(t, f.key)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	jwkJSON, _ := json.Marshal(f.key.Public)
	attackerJWK := map[string]any{}
	b, _ := json.Marshal(attacker.Public)
	_ = json.Unmarshal(b, &attackerJWK)

	hdr := func(kv ...any) map[string]any {
		h := f.mint.Header()
		for i := 0; i < len(kv); i += 2 {
			h[kv[i].(string)] = kv[i+1]
		}
		return h
	}
	// rawHeader is our header as raw JSON with members added after typ; rawSigned
	// signs a raw header and payload with the genuine key.
	rawHeader := func(extra string) []byte {
		return []byte(`{"alg":"ES256","kid":"` + f.key.KID + `","typ":"at+jwt"` + extra + `}`)
	}
	rawSigned := func(header, payload []byte) string {
		return verifytest.SignRaw(t, jwa.ES256, f.key.Raw(), header, payload)
	}
	// withClaims appends members to the genuine claims object.
	withClaims := func(extra string) []byte {
		return append(payload[:len(payload)-1:len(payload)-1], ","+extra+"}"...)
	}
	noSID := f.mint.Payload(t, verifytest.Claims{Omit: []string{"sid"}})
	noSID = append(noSID[:len(noSID)-1:len(noSID)-1], `,"SID":"session-1"}`...)

	parts := strings.Split(good, ".")
	otherParts := strings.Split(other, ".")
	flipped := []byte(parts[2])
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}

	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"alg none", verifytest.Unsigned(t, hdr("alg", "none"), payload)},
		{"alg none, signature kept", verifytest.Unsigned(t, hdr("alg", "none"), payload) + parts[2]},
		{"alg NONE", verifytest.Unsigned(t, hdr("alg", "NONE"), payload) + parts[2]},
		{"HS256 keyed with the public key (DER)", verifytest.Sign(t, jwa.HS256, pub, hdr("alg", "HS256"), payload)},
		{"HS256 keyed with the public key (PEM)", verifytest.Sign(t, jwa.HS256, pubPEM, hdr("alg", "HS256"), payload)},
		{"HS256 keyed with the JWK JSON", verifytest.Sign(t, jwa.HS256, jwkJSON, hdr("alg", "HS256"), payload)},
		{"embedded jwk, our kid", verifytest.Sign(t, jwa.ES256, attacker.Raw(), hdr("jwk", attackerJWK), payload)},
		{"embedded jwk, its kid", verifytest.Sign(t, jwa.ES256, attacker.Raw(), hdr("jwk", attackerJWK, "kid", attacker.KID), payload)},
		{"jku", verifytest.Sign(t, jwa.ES256, attacker.Raw(), hdr("jku", "http://127.0.0.1:1/jwks.json", "kid", attacker.KID), payload)},
		{"x5u", verifytest.Sign(t, jwa.ES256, attacker.Raw(), hdr("x5u", "http://127.0.0.1:1/cert.pem", "kid", attacker.KID), payload)},
		{"attacker key, our kid", verifytest.Sign(t, jwa.ES256, attacker.Raw(), hdr(), payload)},
		{"unknown kid", verifytest.Sign(t, jwa.ES256, attacker.Raw(), hdr("kid", "nope"), payload)},
		{"no kid", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("kid", nil), payload)},
		{"unknown crit", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("crit", []string{"x-vexen"}, "x-vexen", true), payload)},
		{"b64 false", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("b64", false, "crit", []string{"b64"}), payload)},
		{"nested cty", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("cty", "JWT"), payload)},
		{"alg ES384 on an ES256 key", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("alg", "ES384"), payload)},
		{"alg RS256 on an ES256 key", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("alg", "RS256"), payload)},
		{"signature flipped", parts[0] + "." + parts[1] + "." + string(flipped)},
		{"signature cut", parts[0] + "." + parts[1] + "." + parts[2][:20]},
		{"signature with a byte more", parts[0] + "." + parts[1] + "." + parts[2] + "AA"},
		// The same 64 bytes spelled with non-zero padding bits: one signature has one
		// spelling (and one token one cache key).
		{"signature with padding bits set", parts[0] + "." + parts[1] + "." + nonCanonical(t, parts[2])},
		{"claims swapped under a genuine signature", parts[0] + "." + otherParts[1] + "." + parts[2]},
		{"header swapped under a genuine signature", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"`+f.key.KID+`","typ":"at+jwt" }`)) + "." + parts[1] + "." + parts[2]},
		{"wrong typ", verifytest.Sign(t, jwa.ES256, f.key.Raw(), hdr("typ", "JWT"), payload)},
		{"missing sid", f.mint.Mint(t, verifytest.Claims{Omit: []string{"sid"}})},
		{"64 KiB", good + "." + strings.Repeat("A", 64<<10)},
		{"64 KiB of payload", parts[0] + "." + strings.Repeat("A", 64<<10) + "." + parts[2]},
		{"garbage", "garbage"},
		{"dots", "..."},
		{"four segments", good + ".x"},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"spaces", parts[0] + " ." + parts[1] + "." + parts[2]},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + parts[1] + "." + parts[2]},
		{"header a JSON array", base64.RawURLEncoding.EncodeToString([]byte(`["alg"]`)) + "." + parts[1] + "." + parts[2]},
		{"header not base64", "!!!!." + parts[1] + "." + parts[2]},
		// Member names match exactly and a member given twice is refused (issue 9):
		// encoding/json would take TYP for typ and keep the last of two.
		{"header: typ spelled TYP", rawSigned([]byte(`{"alg":"ES256","kid":"`+f.key.KID+`","TYP":"at+jwt"}`), payload)},
		{"header: typ twice, the last at+jwt", rawSigned([]byte(`{"alg":"ES256","kid":"`+f.key.KID+`","typ":"JWT","typ":"at+jwt"}`), payload)},
		{"header: typ twice, the second escaped", rawSigned([]byte(`{"alg":"ES256","kid":"`+f.key.KID+`","typ":"JWT","t\u0079p":"at+jwt"}`), payload)},
		{"header: typ twice, same value", rawSigned(rawHeader(`,"typ":"at+jwt"`), payload)},
		{"header: alg twice", rawSigned(rawHeader(`,"alg":"ES256"`), payload)},
		{"header: alg twice, HS256 first", rawSigned([]byte(`{"alg":"HS256","alg":"ES256","kid":"`+f.key.KID+`","typ":"at+jwt"}`), payload)},
		{"header: kid twice, ours last", rawSigned([]byte(`{"alg":"ES256","kid":"nope","kid":"`+f.key.KID+`","typ":"at+jwt"}`), payload)},
		{"header: kid spelled KID", rawSigned([]byte(`{"alg":"ES256","KID":"`+f.key.KID+`","typ":"at+jwt"}`), payload)},
		{"header: an unread member twice", rawSigned(rawHeader(`,"x-vexen":1,"x-vexen":2`), payload)},
		{"header: a member twice in a nested object", rawSigned(rawHeader(`,"x-vexen":{"a":1,"a":2}`), payload)},
		{"header: crit null", rawSigned(rawHeader(`,"crit":null`), payload)},
		{"claims: sub twice", rawSigned(rawHeader(""), withClaims(`"sub":"admin"`))},
		{"claims: sub twice, the second escaped", rawSigned(rawHeader(""), withClaims(`"s\u0075b":"admin"`))},
		{"claims: roles twice", rawSigned(rawHeader(""), withClaims(`"roles":["admin"]`))},
		{"claims: exp twice", rawSigned(rawHeader(""), withClaims(`"exp":4102444800`))},
		{"claims: sid twice", rawSigned(rawHeader(""), withClaims(`"sid":"session-1"`))},
		{"claims: an unread claim twice", rawSigned(rawHeader(""), withClaims(`"x":1,"x":2`))},
		{"claims: a member twice in a nested object", rawSigned(rawHeader(""), withClaims(`"x":[{"a":1,"a":2}]`))},
		{"claims: sid spelled SID", rawSigned(rawHeader(""), noSID)},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.sessions.Calls().SessionState
			d, err := f.decide(tc.tok)
			if err != nil {
				t.Fatalf("error %v, want a plain deny", err)
			}
			if d.Allow || d.Status != http.StatusUnauthorized || d.Reason == ReasonOK {
				t.Fatalf("decision %+v, want 401", d)
			}
			if got := f.sessions.Calls().SessionState; got != before {
				t.Fatalf("the store was asked about a forged token")
			}
		})
	}
	// The genuine token still passes: the table above did not break the fixture.
	f.mustAllow(good)
}

// nonCanonical respells an unpadded base64url segment whose last character has
// unused low bits with one of them set: base64.RawURLEncoding (not Strict) reads
// the same bytes from it.
func nonCanonical(t testing.TB, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		t.Fatalf("segment of %d characters has no padding bits", len(seg))
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(alphabet[i|1])
	a, err1 := base64.RawURLEncoding.DecodeString(seg)
	b, err2 := base64.RawURLEncoding.DecodeString(out)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Fatalf("respelling %q: %v %v", seg, err1, err2)
	}
	return out
}

// TestSignatureAlgorithms: a token verifies with the key its kid names, by that
// key's own algorithm, for every algorithm a JWKS key can have; signed by another
// trusted key, or naming another trusted key's algorithm, it does not.
func TestSignatureAlgorithms(t *testing.T) {
	f := newFixture(t)
	keys := []*verifytest.Key{f.key}
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES384, jwa.ES512, jwa.EdDSA, jwa.RS256, jwa.PS256} {
		keys = append(keys, verifytest.NewKey(t, alg))
	}
	f.jwks.SetKeys(t, keys...)
	f.sessions.Add("s-alg", "u-alg", f.clock.Now().Add(time.Hour))
	claims := verifytest.Claims{SessionID: "s-alg", Subject: "u-alg"}
	for i, k := range keys {
		m := &verifytest.Minter{Key: k, Now: f.clock.Now}
		t.Run(k.Alg.String(), func(t *testing.T) {
			f.mustAllow(m.Mint(t, claims))
			other := keys[(i+1)%len(keys)]
			payload := m.Payload(t, claims)
			h := m.Header()
			// Signed by another trusted key, under this key's kid and alg.
			h["alg"] = k.Alg.String()
			if d, _ := f.decide(verifytest.Sign(t, other.Alg, other.Raw(), h, payload)); d.Allow {
				t.Fatal("allowed a token signed by another key")
			}
			// Naming this kid with the other key's algorithm, signed by the other key.
			h["alg"] = other.Alg.String()
			if d, _ := f.decide(verifytest.Sign(t, other.Alg, other.Raw(), h, payload)); d.Allow {
				t.Fatal("allowed a token whose alg is not its key's")
			}
		})
	}
}

// publicKeyBytes is the DER (PKIX) encoding of a key's public half: what an
// attacker has.
func publicKeyBytes(t testing.TB, k *verifytest.Key) []byte {
	t.Helper()
	var raw any
	if err := k.Public.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestExactMemberNames: a claim or header member in another case is an unknown
// member, not the one the verifier reads (encoding/json and goccy/go-json fold
// case: "ROLES" used to override roles), and a duplicated member is a deny with
// reason malformed (header) or claims (payload), never an error.
func TestExactMemberNames(t *testing.T) {
	f := newFixture(t)
	f.sessions.Add("session-1", "user-1", f.clock.Now().Add(time.Hour))
	header := []byte(`{"alg":"ES256","kid":"` + f.key.KID + `","typ":"at+jwt"}`)
	claims := func(extra string) []byte {
		p := f.mint.Payload(t, verifytest.Claims{Roles: []string{"dev"}, Email: "user@example.com"})
		return append(p[:len(p)-1:len(p)-1], ","+extra+"}"...)
	}
	for _, tc := range []struct {
		name         string
		header       []byte
		payload      []byte
		want         Reason
		roles, email string // X-Auth-Roles, X-Auth-Email when allowed
	}{
		{"ROLES is not roles", header, claims(`"ROLES":["admin"]`), ReasonOK, "dev", "user@example.com"},
		{"Roles and EMAIL are not roles and email", header, claims(`"Roles":["admin"],"EMAIL":"root@example.com"`), ReasonOK, "dev", "user@example.com"},
		{"SUB is not sub", header, claims(`"SUB":"admin"`), ReasonOK, "dev", "user@example.com"},
		{"roles twice", header, claims(`"roles":["admin"]`), ReasonClaims, "", ""},
		{"email twice", header, claims(`"email":"root@example.com"`), ReasonClaims, "", ""},
		{"typ twice", []byte(`{"alg":"ES256","kid":"` + f.key.KID + `","typ":"at+jwt","typ":"at+jwt"}`), claims(`"x":1`), ReasonMalformed, "", ""},
		{"TYP instead of typ", []byte(`{"alg":"ES256","kid":"` + f.key.KID + `","TYP":"at+jwt"}`), claims(`"x":1`), ReasonClaims, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := verifytest.SignRaw(t, jwa.ES256, f.key.Raw(), tc.header, tc.payload)
			d, err := f.decide(tok)
			if err != nil || d.Reason != tc.want || d.Allow != (tc.want == ReasonOK) {
				t.Fatalf("decision %+v (reason %v), %v; want %v", d, d.Reason, err, tc.want)
			}
			if !d.Allow {
				return
			}
			if id := d.Identity; id.UserID != "user-1" || strings.Join(id.RolesHeader(), ",") != tc.roles || strings.Join(id.EmailHeader(), ",") != tc.email {
				t.Fatalf("identity %+v, want user-1, roles %q, email %q", id, tc.roles, tc.email)
			}
		})
	}
}

// TestJWXKeepsTheLastDuplicate pins what jwx (v2) does on its own, the reason the
// verifier checks member names itself: jws.Parse and jwt.Parse accept a member
// given twice and keep the last, and read names exactly (TYP is a private member).
// If jwx starts refusing duplicates, this test says so and the check may go.
func TestJWXKeepsTheLastDuplicate(t *testing.T) {
	k := verifytest.NewKey(t, jwa.ES256)
	tok := verifytest.SignRaw(t, jwa.ES256, k.Raw(),
		[]byte(`{"alg":"ES256","kid":"`+k.KID+`","typ":"JWT","typ":"at+jwt","TYP":"x"}`),
		[]byte(`{"sub":"a","sub":"b","roles":["dev"],"ROLES":["admin"]}`))
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatalf("jws.Parse refuses a duplicated header member now: %v", err)
	}
	if typ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "at+jwt" {
		t.Fatalf("jws typ = %q, want the last duplicate at+jwt", typ)
	}
	jt, err := jwt.ParseString(tok, jwt.WithKey(jwa.ES256, k.Public), jwt.WithValidate(false))
	if err != nil {
		t.Fatalf("jwt.Parse refuses duplicated claims now: %v", err)
	}
	roles, _ := jt.Get("roles")
	if jt.Subject() != "b" || fmt.Sprint(roles) != "[dev]" {
		t.Fatalf("jwt sub %q roles %v, want the last sub b and the exact roles [dev]", jt.Subject(), roles)
	}
	// The verifier refuses the same token.
	if _, err := decodeHeader([]byte(`{"typ":"JWT","typ":"at+jwt"}`)); err == nil {
		t.Fatal("decodeHeader accepted a duplicated typ")
	}
}
