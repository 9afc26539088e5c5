package verifytest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// Tests use a key, a JWKS server for it and a minter; hostile tokens are built
// with Sign and Unsigned.
func Example() {
	t := &testing.T{} // in a real test: the test's *testing.T
	key := verifytest.NewKey(t, jwa.ES256)
	jwks := verifytest.NewJWKSServer(t, key)
	defer jwks.Close()

	m := &verifytest.Minter{Key: key}
	tok := m.Mint(t, verifytest.Claims{Subject: "user-1", SessionID: "sess-1", Roles: []string{"admin"}})
	fmt.Println(strings.Count(tok, "."), len(verifytest.Hash(tok)))

	none := verifytest.Unsigned(t, map[string]any{"alg": "none", "typ": "at+jwt"}, m.Payload(t, verifytest.Claims{}))
	fmt.Println(strings.HasSuffix(none, "."))
	// Output:
	// 2 64
	// true
}
