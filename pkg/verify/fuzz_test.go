package verify

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/vexen/vexen-auth/internal/strictjson"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// FuzzExtractToken: whatever the Authorization and Cookie headers hold, the token
// found is a piece of one of them, without blanks around it.
func FuzzExtractToken(f *testing.F) {
	f.Add("Bearer abc.def.ghi", "")
	f.Add("bearer\tabc", "vexen_access=xyz")
	f.Add("Basic dXNlcg==", `a=1; vexen_access="q"; b=2`)
	f.Add("", "vexen_access=; vexen_access=second")
	f.Add("Bearer", ";;;=;vexen_access")
	f.Fuzz(func(t *testing.T, auth, cookie string) {
		hd := http.Header{}
		if auth != "" {
			hd["Authorization"] = []string{auth}
		}
		if cookie != "" {
			hd["Cookie"] = []string{cookie}
		}
		tok, src := extractToken(hd, "vexen_access")
		switch src {
		case SourceNone:
			if tok != "" {
				t.Fatalf("no source but token %q", tok)
			}
		case SourceHeader:
			if tok == "" || !strings.Contains(auth, tok) || !strings.EqualFold(auth[:6], "bearer") {
				t.Fatalf("header token %q from %q", tok, auth)
			}
		case SourceCookie:
			if tok == "" || !strings.Contains(cookie, tok) {
				t.Fatalf("cookie token %q from %q", tok, cookie)
			}
		}
		if strings.Trim(tok, " \t\r\n") != tok && src == SourceHeader {
			t.Fatalf("token with blanks %q", tok)
		}
	})
}

// FuzzDecide: no string is allowed unless it carries the claims we signed, and
// none makes Decide fail or panic.
func FuzzDecide(f *testing.F) {
	fx := newFixture(f)
	fx.sessions.Add("session-1", "user-1", fx.clock.Now().Add(24*3600e9))
	good := fx.mint.Mint(f, verifytest.Claims{})
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(verifytest.Unsigned(f, map[string]any{"alg": "none", "typ": "at+jwt"}, fx.mint.Payload(f, verifytest.Claims{})))
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	// Genuinely signed, with a member given twice or spelled in another case.
	hdr := `{"alg":"ES256","kid":"` + fx.key.KID + `"`
	payload := fx.mint.Payload(f, verifytest.Claims{})
	for _, h := range []string{hdr + `,"typ":"JWT","typ":"at+jwt"}`, hdr + `,"TYP":"at+jwt"}`, hdr + `,"typ":"at+jwt","x":{"a":1,"a":2}}`} {
		f.Add(verifytest.SignRaw(f, jwa.ES256, fx.key.Raw(), []byte(h), payload))
	}
	f.Add(verifytest.SignRaw(f, jwa.ES256, fx.key.Raw(), []byte(hdr+`,"typ":"at+jwt"}`),
		append(payload[:len(payload)-1:len(payload)-1], `,"sub":"admin","ROLES":["admin"]}`...)))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		d, err := fx.v.Decide(t.Context(), &Request{Method: http.MethodGet, Host: "h", Path: "/", Token: tok})
		if err != nil {
			t.Fatalf("error for %q: %v", tok, err)
		}
		if d.Allow && (d.Identity.UserID != "user-1" || d.Identity.SessionID != "session-1") {
			t.Fatalf("allowed %q as %+v", tok, d.Identity)
		}
		if !d.Allow && d.Status != http.StatusUnauthorized {
			t.Fatalf("status %d", d.Status)
		}
	})
}

// FuzzDecodeClaims: the claims decoder never panics; what it accepts is valid JSON
// with no member given twice, and reads the same claims as encoding/json wherever
// encoding/json's case folding does not come into play (no top-level name that
// equals a claim's name but for case).
func FuzzDecodeClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"http://localhost:8080","sub":"u","aud":"vexen","exp":1893456000,"iat":1.5e9,"sid":"s","email":"e@x","roles":["a","b"]}`))
	f.Add([]byte(`{"aud":["a","v\u0065xen"],"exp":null,"roles":[]}`))
	f.Add([]byte(`{"exp":"1","roles":[1]}`))
	f.Add([]byte(`{"sub":"a","sub":"b","SID":"upper"}`))
	f.Add([]byte(`{"roles":["dev"],"ROLES":["admin"]}`))
	f.Add([]byte(`{"r\u006fles":["a"],"roles":["b"]}`))
	f.Add([]byte(`{"x":{"a":1,"a":2}}`))
	f.Add([]byte(`{"exp":1e400}`))
	claimNames := []string{"iss", "sub", "aud", "exp", "nbf", "iat", "sid", "email", "roles"}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ferr := decodeClaims(b)
		if ferr != nil {
			return
		}
		if err := strictjson.Members(b, nil); err != nil {
			t.Fatalf("decodeClaims accepted %q: %v", b, err)
		}
		folded := false
		_ = strictjson.Members(b, func(name, _ []byte) error {
			for _, c := range claimNames {
				folded = folded || string(name) != c && strings.EqualFold(string(name), c)
			}
			return nil
		})
		if folded {
			return // encoding/json would read "suB" as sub: nothing to compare with
		}
		var std tokenClaims
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("decodeClaims accepted %q, encoding/json did not: %v", b, err)
		}
		if !reflect.DeepEqual(*fast, std) {
			t.Fatalf("decoders disagree on %q:\nexact %+v\nstd   %+v", b, *fast, std)
		}
	})
}
