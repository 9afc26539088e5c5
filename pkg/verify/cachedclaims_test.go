package verify

import (
	"encoding/json"
	"reflect"
	"testing"
)

// cachedClaimsSeeds are values of access_token:{h}: the issuer's and Fill's (a token
// payload), minimalClaims', and shapes that must leave the fast path.
var cachedClaimsSeeds = []string{
	`{"iss":"http://localhost:8080","sub":"0190f6a2-5a3c-7d2e","aud":"vexen","exp":1893456000,"iat":1893455100,"nbf":1893455100,"jti":"b3f1c2d4","sid":"0190f6a2-0001","email":"user1@example.com","roles":["user"]}`,
	`{"iss":"http://localhost:8080","sub":"u","aud":"vexen","exp":1893456000,"iat":1893455100,"sid":"s","email":"a@b.c","roles":[],"amr":["pwd","mfa"]}`,
	`{"aud":["a","vexen"],"exp":4294967295,"typ":"at+jwt","x":true,"y":false,"z":null,"n":12}`,
	`{}`,
	`{"exp":4294967296}`,
	`{"exp":1.5e9}`,
	`{"exp":01}`,
	`{"sub":"a","sub":"b"}`,
	`{"sub":"a\u0062"}`,
	`{"sub":"é"}`,
	`{ "sub":"a"}`,
	`{"sub":"a",}`,
	`{"sub":null,"roles":null}`,
	`{"ROLES":["admin"]}`,
	`{"o":{"a":1,"a":2}}`,
	`{"sub":"a"}x`,
	`[]`,
	``,
}

func TestDecodeCachedClaims(t *testing.T) {
	for _, s := range cachedClaimsSeeds {
		got, gerr := decodeCachedClaims([]byte(s))
		want, werr := decodeClaims([]byte(s))
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeCachedClaims = %+v, %v; decodeClaims = %+v, %v", s, got, gerr, want, werr)
		}
	}
	// The issuer's shape takes the fast path.
	if _, ok := fastClaims([]byte(cachedClaimsSeeds[0])); !ok {
		t.Error("the issuer's claims left the fast path")
	}
}

// FuzzDecodeCachedClaims: whatever a Redis value holds, the fast path either steps
// aside or reads exactly what decodeClaims reads, from a document encoding/json
// finds valid and reads the same member values from.
func FuzzDecodeCachedClaims(f *testing.F) {
	for _, s := range cachedClaimsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := fastClaims(b)
		if !ok {
			return
		}
		ref, err := decodeClaims(b)
		if err != nil {
			t.Fatalf("fast path took %q, decodeClaims refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(c, ref) {
			t.Fatalf("%q: fast %+v, decodeClaims %+v", b, c, ref)
		}
		// encoding/json, with exact names (a map) since the fast path takes no
		// repeated name.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("fast path took %q, encoding/json refuses it: %v", b, err)
		}
		str := func(name string) string {
			var s string
			if v, ok := m[name]; ok {
				if err := json.Unmarshal(v, &s); err != nil {
					t.Fatalf("%q: %s: %v", b, name, err)
				}
			}
			return s
		}
		strs := func(name string) []string {
			var l []string
			if v, ok := m[name]; ok {
				if err := json.Unmarshal(v, &l); err != nil {
					t.Fatalf("%q: %s: %v", b, name, err)
				}
			}
			return l
		}
		date := func(name string) numericDate {
			v, ok := m[name]
			if !ok {
				return numericDate{}
			}
			var f float64
			if err := json.Unmarshal(v, &f); err != nil {
				t.Fatalf("%q: %s: %v", b, name, err)
			}
			return numericDate{set: true, ns: int64(f * 1e9)}
		}
		var aud []string
		if v, ok := m["aud"]; ok && len(v) > 0 && v[0] == '"' {
			aud = []string{str("aud")}
		} else {
			aud = strs("aud")
		}
		if c.Iss != str("iss") || c.Sub != str("sub") || c.Sid != str("sid") || c.Email != str("email") ||
			!reflect.DeepEqual([]string(c.Aud), aud) || !reflect.DeepEqual(c.Roles, strs("roles")) ||
			!reflect.DeepEqual(c.Amr, strs("amr")) ||
			c.Exp != date("exp") || c.Nbf != date("nbf") || c.Iat != date("iat") {
			t.Fatalf("%q: fast %+v differs from encoding/json's %v", b, c, m)
		}
	})
}

func BenchmarkDecodeCachedClaims(b *testing.B) {
	v := []byte(cachedClaimsSeeds[0])
	for _, bc := range []struct {
		name string
		fn   func([]byte) (*tokenClaims, error)
	}{{"strictjson", decodeClaims}, {"fast", decodeCachedClaims}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := bc.fn(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
