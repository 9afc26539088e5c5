package load

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// TestVerifyingBaseline: a token signed by the key is answered 200, one signed
// by another key, or none, 401; for ES256 and EdDSA.
func TestVerifyingBaseline(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	_, ed2, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name        string
		priv, other any
		pub         any
	}{
		{"ES256", ec, ec2, &ec.PublicKey},
		{"EdDSA", ed, ed2, ed.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, err := ParseVerifyAlg(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			h := VerifyingBaseline(alg, tc.pub)
			sign := func(k any) string {
				b, err := jws.Sign([]byte(`{"sub":"u"}`), jws.WithKey(alg, k))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			for _, c := range []struct {
				auth string
				want int
			}{
				{"Bearer " + sign(tc.priv), http.StatusOK},
				{"Bearer " + sign(tc.other), http.StatusUnauthorized},
				{"", http.StatusUnauthorized},
				{"Bearer garbage", http.StatusUnauthorized},
			} {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/auth", nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				h.ServeHTTP(rec, req)
				if rec.Code != c.want {
					t.Errorf("%.20q: %d, want %d", c.auth, rec.Code, c.want)
				}
			}
		})
	}
}
