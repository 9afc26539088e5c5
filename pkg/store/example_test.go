package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite" // registers sqlite:
)

func hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// A login, a refresh, a replay of the old refresh token, and what the replay did.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vexen-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "vexen.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	u, err := s.CreateUser(ctx, store.User{Email: "Ada@example.com", PasswordHash: "$argon2id$…", Roles: []string{"admin"}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, store.User{Email: "ada@EXAMPLE.com"}); errors.Is(err, store.ErrConflict) {
		fmt.Println("email taken:", err)
	}

	// Login: a session and its first token pair.
	sess := store.Session{ID: "s1", UserID: u.ID, CreatedAt: now}
	first := store.RefreshToken{
		Hash: hash("refresh-1"), AccessHash: hash("access-1"),
		AccessExpiresAt: now.Add(15 * time.Minute), ExpiresAt: now.Add(720 * time.Hour),
	}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		log.Fatal(err)
	}

	// Refresh: the old token is exchanged for a new pair.
	mint := func(n int, at time.Time) func(store.Session, store.User) (store.RefreshToken, error) {
		return func(sess store.Session, u store.User) (store.RefreshToken, error) {
			return store.RefreshToken{
				Hash: hash(fmt.Sprint("refresh-", n)), AccessHash: hash(fmt.Sprint("access-", n)),
				AccessExpiresAt: at.Add(15 * time.Minute), ExpiresAt: at.Add(720 * time.Hour),
			}, nil
		}
	}
	t1 := now.Add(10 * time.Minute)
	res, err := s.Rotate(ctx, store.Rotation{OldHash: hash("refresh-1"), Now: t1, Grace: 5 * time.Second, Mint: mint(2, t1)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rotated in session", res.Session.ID, "for", res.User.Email, res.User.Roles)

	// The old token again, a minute later: a replay. The session is revoked.
	t2 := t1.Add(time.Minute)
	res, err = s.Rotate(ctx, store.Rotation{OldHash: hash("refresh-1"), Now: t2, Grace: 5 * time.Second, Mint: mint(3, t2)})
	fmt.Println("replay:", errors.Is(err, store.ErrTokenReused))
	for _, r := range res.Revoked.Revocations {
		fmt.Println("revoked", r.SessionID, "reason", r.Reason, "seq", r.Seq)
	}
	fmt.Println("live token pairs to deny:", len(res.Revoked.Tokens))

	// What a verifier sees on a cache miss, and in the log.
	st, err := s.SessionState(ctx, "s1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("live:", st.Live(t2))
	rows, _ := s.RevocationsAfter(ctx, 0, 100)
	fmt.Println("log rows:", len(rows))

	// Output:
	// email taken: sqlite: create user: store: already exists
	// rotated in session s1 for Ada@example.com [admin]
	// replay: true
	// revoked s1 reason refresh_reuse seq 1
	// live token pairs to deny: 2
	// live: false
	// log rows: 1
}

// Redact hides the password of a DATABASE_URL before it is logged.
func ExampleRedact() {
	fmt.Println(store.Redact("postgres://vexen:s3cret@db.internal:5432/vexen?sslmode=verify-full"))
	fmt.Println(store.Redact("sqlite:./data/vexen.db"))
	// Output:
	// postgres://vexen:xxxxx@db.internal:5432/vexen?sslmode=verify-full
	// sqlite:./data/vexen.db
}

// Open picks the backend by the URL's scheme; an unknown scheme is an error that
// lists the registered ones.
func ExampleOpen() {
	_, err := store.Open(context.Background(), "mysql://localhost/vexen")
	fmt.Println(err)
	// Output:
	// store: unsupported DATABASE_URL scheme "mysql" (have sqlite)
}
