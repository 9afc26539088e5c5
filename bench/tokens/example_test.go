package tokens_test

import (
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/bench/tokens"
)

func ExampleTemplate_Mint() {
	// A real HS256 token from the issuer's login answer serves as the template.
	secret := []byte("0123456789abcdef0123456789abcdef")
	issued := "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzIiwidHlwIjoiYXQrand0In0." +
		"eyJhdWQiOiJ2ZXhlbiIsImlzcyI6Imh0dHA6Ly8xMjcuMC4wLjE6ODA4MCIsInN1YiI6InUwIiwic2lkIjoiczAifQ." +
		"c2lnbmF0dXJl"
	tmpl, err := tokens.ParseTemplate(issued)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tok, err := tmpl.Mint(tokens.Claims{
		Subject: "user-1", SessionID: "session-1", Email: "one@example.com",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	}, tokens.HS256(secret))
	if err != nil {
		panic(err)
	}
	fmt.Println(tmpl.Alg, tmpl.Kid, len(tokens.Hash(tok)))
	// Output: HS256 hs 64
}
