package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/vexen/vexen-auth/pkg/verify"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

const secret = "an-hs256-secret-of-at-least-32-bytes"

// sign makes an access token as an HS256 issuer would.
func sign(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	h := jws.NewHeaders()
	_ = h.Set("typ", "at+jwt")
	tok, err := jws.Sign(payload, jws.WithKey(jwa.HS256, []byte(secret), jws.WithProtectedHeaders(h)))
	if err != nil {
		panic(err)
	}
	return string(tok)
}

func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The store (here in memory) knows the session is live.
	sessions := verifytest.NewSessions()
	sessions.Add("sess-1", "user-1", time.Now().Add(time.Hour))

	cfg := verify.DefaultConfig()
	cfg.Secret = secret // an HS256 deployment: no JWKS to fetch
	cfg.Rules = []string{"* /admin admin"}
	v, err := verify.New(ctx, cfg, verify.Deps{Sessions: sessions})
	if err != nil {
		panic(err)
	}
	go v.Run(ctx) // keys, revocation feed, janitor

	now := time.Now()
	tok := sign(map[string]any{
		"iss": verify.DefaultIssuer, "aud": verify.DefaultAudience, "sub": "user-1", "sid": "sess-1",
		"email": "ada@example.com", "roles": []string{"dev"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	})

	d, err := v.Decide(ctx, &verify.Request{Method: "GET", Host: "app.example.com", Path: "/home", Token: tok, Source: verify.SourceHeader})
	fmt.Println(d.Status, d.Identity.UserID, d.Identity.EmailHeader()[0], d.Identity.RolesHeader()[0], err)

	d, err = v.Decide(ctx, &verify.Request{Method: "GET", Host: "app.example.com", Path: "/admin/users", Token: tok, Source: verify.SourceHeader})
	fmt.Println(d.Status, d.Reason, err)

	d, err = v.Decide(ctx, &verify.Request{Method: "GET", Host: "app.example.com", Path: "/home"})
	fmt.Println(d.Status, d.Reason, err)
	// Output:
	// 200 user-1 ada@example.com dev <nil>
	// 403 forbidden <nil>
	// 401 no_token <nil>
}

func ExampleVerifier_Handler() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sessions := verifytest.NewSessions()
	sessions.Add("sess-1", "user-1", time.Now().Add(time.Hour))
	cfg := verify.DefaultConfig()
	cfg.Secret = secret
	v, err := verify.New(ctx, cfg, verify.Deps{Sessions: sessions})
	if err != nil {
		panic(err)
	}
	go v.Run(ctx)

	now := time.Now()
	tok := sign(map[string]any{
		"iss": verify.DefaultIssuer, "aud": verify.DefaultAudience, "sub": "user-1", "sid": "sess-1",
		"email": "ada@example.com", "roles": []string{"dev", "ops"},
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	})

	// What Traefik's forwardAuth sends: the token and the original request.
	r := httptest.NewRequest(http.MethodGet, "/auth", nil)
	r.RemoteAddr = "127.0.0.1:50000" // a trusted proxy (loopback, by default)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("X-Forwarded-Host", "app.example.com")
	r.Header.Set("X-Forwarded-Uri", "/reports?q=1")
	w := httptest.NewRecorder()
	v.Handler().ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("X-Auth-User"), w.Header().Get("X-Auth-Roles"), w.Header().Get("X-Auth-Session"))

	r.Header.Set("Authorization", "Bearer not-a-token")
	w = httptest.NewRecorder()
	v.Handler().ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 user-1 dev,ops sess-1
	// 401 Bearer realm="vexen", error="invalid_token"
}
