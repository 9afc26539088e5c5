package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// Bench runs the shared benchmarks against a backend: the issuer's writes
// (CreateSession at login, Rotate at refresh, RevokeSession at logout) and the
// verifier's read on a cache miss (SessionState). open is called once and must
// return a Store on a fresh, empty database; Bench migrates and closes it.
func Bench(b *testing.B, open func(tb testing.TB) store.Store) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	migrate(b, s)
	ctx := context.Background()
	u := createUser(b, s, "bench@example.com", "reader")

	b.Run("CreateSession", func(b *testing.B) {
		sessions, tokens := sessionValues(u.ID, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := s.CreateSession(ctx, sessions[i], tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("Rotate", func(b *testing.B) {
		_, tok := createSession(b, s, u.ID, t0, 24*time.Hour)
		next := make([]store.RefreshToken, b.N)
		for i := range next {
			next[i] = newPair(t0.Add(time.Duration(i+1)*time.Millisecond), 24*time.Hour)
		}
		old := tok.Hash
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			r := store.Rotation{
				OldHash: old, Now: next[i].CreatedAt, Grace: 5 * time.Second,
				Mint: func(store.Session, store.User) (store.RefreshToken, error) { return next[i], nil },
			}
			res, err := s.Rotate(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			old = res.New.Hash
		}
	})

	b.Run("RevokeSession", func(b *testing.B) {
		sessions, tokens := sessionValues(u.ID, b.N)
		for i := range sessions {
			if err := s.CreateSession(ctx, sessions[i], tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
		at := t0.Add(time.Minute)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			rr, err := s.RevokeSession(ctx, sessions[i].ID, store.ReasonLogout, at)
			if err != nil {
				b.Fatal(err)
			}
			if len(rr.Revocations) != 1 {
				b.Fatalf("RevokeSession revoked %d sessions", len(rr.Revocations))
			}
		}
	})

	b.Run("SessionState", func(b *testing.B) {
		sess, _ := createSession(b, s, u.ID, t0, 24*time.Hour)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := s.SessionState(ctx, sess.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sessionValues prepares n new sessions with their first token pairs, so that the
// benchmark loop measures the store and not the random number generator.
func sessionValues(userID string, n int) ([]store.Session, []store.RefreshToken) {
	sessions := make([]store.Session, n)
	tokens := make([]store.RefreshToken, n)
	for i := range n {
		sessions[i] = store.Session{
			ID: randomID(), UserID: userID, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
			UserAgent: "storetest/1.0", IP: "192.0.2.7",
		}
		tokens[i] = newPair(t0, 24*time.Hour)
		tokens[i].SessionID = sessions[i].ID
	}
	return sessions, tokens
}
