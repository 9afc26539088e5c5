package rediscache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// The issuer writes a new pair through; a verifier looks it up with one round trip.
// (Compiled, not run: it needs a Redis server.)
func Example() {
	rdb, err := rediscache.Open("redis://:password@127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err) // names REDIS_URL, never shows the password
	}
	defer rdb.Close()
	cache := rediscache.New(rdb, rediscache.Options{
		Prefix:     "vexen:",
		Registerer: prometheus.NewRegistry(),
	})
	ctx := context.Background()
	now := time.Now()

	err = cache.StorePair(ctx, rediscache.Pair{
		UserID: "u1", Email: "ada@example.com", SessionID: "s1",
		AccessHash: "9f86d0…", AccessClaims: []byte(`{"sub":"u1","sid":"s1"}`),
		AccessExpiresAt: now.Add(15 * time.Minute),
		RefreshHash:     "60303a…", RefreshExpiresAt: now.Add(720 * time.Hour),
		LoginAt: now,
	})
	if err != nil {
		log.Printf("redis write-through failed (login still succeeds): %v", err)
	}

	l, err := cache.Lookup(ctx, "9f86d0…")
	switch {
	case err != nil:
		// Redis down: fall back to the store.
	case l.Revoked:
		fmt.Println("deny: revoked")
	case l.Claims != nil:
		fmt.Printf("cached claims: %s\n", l.Claims)
	}

	// Logout: after the store's commit, invalidate and broadcast.
	_ = cache.Revoke(ctx, store.RevokeResult{
		Revocations: []store.Revocation{{Seq: 42, SessionID: "s1", UserID: "u1", Reason: store.ReasonLogout, At: now}},
		Tokens: []store.TokenHashes{{SessionID: "s1", UserID: "u1",
			Access: "9f86d0…", AccessExpiresAt: now.Add(15 * time.Minute),
			Refresh: "60303a…", RefreshExpiresAt: now.Add(720 * time.Hour)}},
	})
}

// printHandler is a FeedHandler that prints what it hears.
type printHandler struct{}

func (printHandler) Subscribed(ctx context.Context) {
	fmt.Println("subscribed: catch up from store.RevocationsAfter(lastSeq) here")
}
func (printHandler) Event(ev rediscache.Event) { fmt.Println("revoked session", ev.SessionID) }
func (printHandler) Fresh(sentAt time.Time)    {}
func (printHandler) Down(err error)            { fmt.Println("feed down:", err) }

// A verifier follows the revocation channel until its context ends.
// (Compiled, not run: it needs a Redis server.)
func ExampleCache_RunFeed() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	cache := rediscache.New(rdb, rediscache.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = cache.RunFeed(ctx, printHandler{}, 500*time.Millisecond)
}

func ExampleCache_AccessKey() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // New does not connect
	defer rdb.Close()
	cache := rediscache.New(rdb, rediscache.Options{Prefix: "vexen:"})
	fmt.Println(cache.AccessKey("ab12"))
	fmt.Println(cache.RevokedKey("ab12"))
	fmt.Println(cache.UserTokensKey("u1"))
	fmt.Println(cache.Channel())
	// Output:
	// vexen:access_token:{ab12}
	// vexen:revoked:{ab12}
	// vexen:user_tokens:{u1}
	// vexen:revocations
}
