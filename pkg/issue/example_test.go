package issue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexen/vexen-auth/pkg/issue"
	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"
)

// An issuer on an embedded SQLite store with a generated ES256 key: add a user, log in
// over HTTP, refresh, and log out.
func Example() {
	dir, err := os.MkdirTemp("", "vexen-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "vexen.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	cfg := issue.DefaultConfig()
	cfg.KeysDir = filepath.Join(dir, "keys")
	svc, err := issue.New(cfg, issue.Deps{Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddUser(ctx, "ada@example.com", "correct horse battery", []string{"admin"}); err != nil {
		log.Fatal(err)
	}

	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	post := func(path, body string) *http.Response {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}

	resp := post("/v1/login", `{"email":"ada@example.com","password":"correct horse battery"}`)
	var pair issue.TokenPair
	json.NewDecoder(resp.Body).Decode(&pair)
	resp.Body.Close()
	fmt.Println("login:", resp.StatusCode, pair.TokenType, pair.ExpiresIn)

	claims, _ := svc.VerifyAccessToken(pair.AccessToken, false)
	fmt.Println("email:", claims.Email, "roles:", claims.Roles)

	resp = post("/v1/refresh", `{"refresh_token":"`+pair.RefreshToken+`"}`)
	resp.Body.Close()
	fmt.Println("refresh:", resp.StatusCode)

	resp = post("/v1/logout", `{"refresh_token":"`+pair.RefreshToken+`"}`)
	resp.Body.Close()
	fmt.Println("logout:", resp.StatusCode)

	resp = post("/v1/login", `{"email":"ada@example.com","password":"wrong"}`)
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	fmt.Println("wrong password:", resp.StatusCode, e.Error)

	// Output:
	// login: 200 Bearer 900
	// email: ada@example.com roles: [admin]
	// refresh: 200
	// logout: 204
	// wrong password: 401 invalid_credentials
}

// Passwords are stored as argon2id PHC strings; verification reads the parameters
// from the string.
func ExampleHashPassword() {
	p := issue.DefaultPasswordParams()
	phc, err := issue.HashPassword("s3cret-passphrase", p)
	if err != nil {
		log.Fatal(err)
	}
	ok, _ := issue.VerifyPassword(phc, "s3cret-passphrase")
	bad, _ := issue.VerifyPassword(phc, "guess")
	fmt.Println(phc[:31], ok, bad)
	// Output: $argon2id$v=19$m=19456,t=2,p=1$ true false
}

// `issuer keys rotate` adds a key; a running issuer signs with it after its next
// rescan of the directory.
func ExampleRotateKey() {
	dir, err := os.MkdirTemp("", "vexen-keys")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	kid, err := issue.RotateKey(dir, issue.AlgEdDSA)
	if err != nil {
		log.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, kid+".pem"))
	fmt.Println(fi.Mode().Perm())
	// Output: -rw-------
}

// fixedPruner stands in for a store: it reports what it would have deleted.
type fixedPruner struct{}

func (fixedPruner) PruneExpired(_ context.Context, before time.Time) (store.Pruned, error) {
	fmt.Println("prune rows that stopped mattering before", before.Format(time.RFC3339))
	return store.Pruned{Tokens: 12, Sessions: 3, Revocations: 2}, nil
}

// The retention job prunes what stopped mattering a window ago; issuer serve calls
// Run, which does this every interval.
func ExampleRetention() {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	job, err := issue.NewRetention(issue.RetentionConfig{Window: 24 * time.Hour, AccessTTL: 15 * time.Minute},
		issue.RetentionDeps{Store: fixedPruner{}, Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	p, err := job.RunOnce(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d pairs, %d sessions, %d log rows\n", p.Tokens, p.Sessions, p.Revocations)

	// A window that a revoked session's access tokens could outlive is refused.
	err = issue.RetentionConfig{Window: time.Hour, AccessTTL: 15 * time.Minute}.Validate()
	fmt.Println(err != nil)
	// Output:
	// prune rows that stopped mattering before 2026-03-03T12:00:00Z
	// 12 pairs, 3 sessions, 2 log rows
	// true
}
