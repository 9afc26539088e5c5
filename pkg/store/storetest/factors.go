package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// testFactors holds a backend to store.Factors: a pending factor is replaced, a
// confirmed one is not; a time step is accepted once, atomically; a recovery code
// once; a challenge is taken once and not after it expired; removal ends it all;
// pruning drops expired challenges; a session keeps its amr.
func testFactors(t *testing.T, s store.Store) {
	ctx := context.Background()
	f, ok := s.(store.Factors)
	if !ok {
		t.Fatalf("%T does not implement store.Factors", s)
	}
	u := createUser(t, s, "factors@example.com")
	if _, err := f.TOTP(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TOTP of a user without one: %v", err)
	}
	if err := f.PutPendingTOTP(ctx, store.TOTP{UserID: "nobody", Secret: []byte("x"), CreatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutPendingTOTP for an unknown user: %v", err)
	}
	for _, sec := range []string{"first", "second"} {
		if err := f.PutPendingTOTP(ctx, store.TOTP{UserID: u.ID, Secret: []byte(sec), CreatedAt: t0}); err != nil {
			t.Fatalf("PutPendingTOTP(%s): %v", sec, err)
		}
	}
	got, err := f.TOTP(ctx, u.ID)
	if err != nil || string(got.Secret) != "second" || !got.ConfirmedAt.IsZero() {
		t.Fatalf("pending TOTP %+v, %v", got, err)
	}
	if err := f.UseTOTPStep(ctx, u.ID, 5); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UseTOTPStep on a pending factor: %v", err)
	}
	if err := f.ConfirmTOTP(ctx, u.ID, 100, []string{"h1", "h2"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := f.ConfirmTOTP(ctx, u.ID, 101, nil, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConfirmTOTP twice: %v", err)
	}
	if err := f.PutPendingTOTP(ctx, store.TOTP{UserID: u.ID, Secret: []byte("third"), CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutPendingTOTP over a confirmed factor: %v", err)
	}
	got, _ = f.TOTP(ctx, u.ID)
	if string(got.Secret) != "second" || !got.ConfirmedAt.Equal(t0.Truncate(time.Microsecond)) || got.LastStep != 100 {
		t.Fatalf("confirmed TOTP %+v", got)
	}
	if err := f.UseTOTPStep(ctx, u.ID, 100); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the confirming step again: %v", err)
	}
	// 20 racing uses of one step: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.UseTOTPStep(ctx, u.ID, 101)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("UseTOTPStep: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d racing uses of one step succeeded, want 1", wins)
	}
	if err := f.UseTOTPStep(ctx, u.ID, 100); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an older step: %v", err)
	}
	if err := f.UseRecoveryCode(ctx, u.ID, "h1", t0); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"h1", "nope"} {
		if err := f.UseRecoveryCode(ctx, u.ID, h, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UseRecoveryCode(%s): %v", h, err)
		}
	}
	if n, err := f.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 1 {
		t.Fatalf("RecoveryCodesLeft %d, %v", n, err)
	}

	// Challenges.
	c := store.MFAChallenge{Hash: "ch1", UserID: u.ID, AMR: []string{"pwd"}, SessionID: "s-old",
		UserAgent: "ua", IP: "192.0.2.1", CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := f.CreateMFAChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateMFAChallenge(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the same challenge twice: %v", err)
	}
	if got, err := f.MFAChallenge(ctx, "ch1", t0.Add(time.Minute)); err != nil || got.UserID != u.ID || !slices.Equal(got.AMR, []string{"pwd"}) || got.SessionID != "s-old" || !got.ExpiresAt.Equal(c.ExpiresAt.Truncate(time.Microsecond)) {
		t.Fatalf("MFAChallenge %+v, %v", got, err)
	}
	if _, err := f.TakeMFAChallenge(ctx, "ch1", t0.Add(5*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired challenge taken: %v", err)
	}
	if _, err := f.TakeMFAChallenge(ctx, "ch1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.TakeMFAChallenge(ctx, "ch1", t0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a challenge taken twice: %v", err)
	}
	if _, err := f.MFAChallenge(ctx, "ch1", t0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a used challenge read: %v", err)
	}
	p, err := s.PruneExpired(ctx, t0.Add(time.Hour))
	if err != nil || p.Challenges != 1 {
		t.Fatalf("PruneExpired %+v, %v: want the expired challenge gone", p, err)
	}

	// A session keeps its amr.
	sess, tok := createSession(t, s, u.ID, t0, time.Hour)
	if got, _ := s.Session(ctx, sess.ID); !slices.Equal(got.AMR, []string{"pwd"}) {
		t.Fatalf("session without amr reads %v, want [pwd]", got.AMR)
	}
	_ = tok
	mfaSess := store.Session{ID: "s-mfa", UserID: u.ID, CreatedAt: t0, AMR: []string{"pwd", "otp", "mfa"}}
	if err := s.CreateSession(ctx, mfaSess, store.RefreshToken{Hash: "mfa-tok", SessionID: "s-mfa", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, "s-mfa"); !slices.Equal(got.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("session amr %v", got.AMR)
	}

	if err := f.DeleteTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteTOTP(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteTOTP twice: %v", err)
	}
	if n, _ := f.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Fatalf("%d recovery codes left after removal", n)
	}
	testDeleteFactors(t, s, f)
}

// testDeleteFactors: DeleteFactors removes a confirmed factor, its recovery codes and
// the pending second steps of the user only; a user without factors has none to
// remove.
func testDeleteFactors(t *testing.T, s store.Store, f store.Factors) {
	ctx := context.Background()
	u := createUser(t, s, "reset-factors@example.com")
	other := createUser(t, s, "keeps-factors@example.com")
	for _, id := range []string{u.ID, other.ID} {
		if err := f.PutPendingTOTP(ctx, store.TOTP{UserID: id, Secret: []byte("s"), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := f.ConfirmTOTP(ctx, id, 7, []string{"r1", "r2"}, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.CreateMFAChallenge(ctx, store.MFAChallenge{Hash: "del-" + id, UserID: id, AMR: []string{"pwd"},
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.DeleteFactors(ctx, u.ID); err != nil || n != 1 {
		t.Fatalf("DeleteFactors: %d, %v; want 1 factor removed", n, err)
	}
	if _, err := f.TOTP(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TOTP after DeleteFactors: %v", err)
	}
	if n, _ := f.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Fatalf("%d recovery codes left after DeleteFactors", n)
	}
	if _, err := f.MFAChallenge(ctx, "del-"+u.ID, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pending second step after DeleteFactors: %v", err)
	}
	if _, err := f.TOTP(ctx, other.ID); err != nil {
		t.Fatalf("another user's factor: %v", err)
	}
	if n, _ := f.RecoveryCodesLeft(ctx, other.ID); n != 2 {
		t.Fatalf("another user's recovery codes: %d left, want 2", n)
	}
	if _, err := f.MFAChallenge(ctx, "del-"+other.ID, t0); err != nil {
		t.Fatalf("another user's pending step: %v", err)
	}
	if n, err := f.DeleteFactors(ctx, u.ID); err != nil || n != 0 {
		t.Fatalf("DeleteFactors again: %d, %v; want 0", n, err)
	}
	if n, err := f.DeleteFactors(ctx, "nobody"); err != nil || n != 0 {
		t.Fatalf("DeleteFactors of an unknown user: %d, %v; want 0", n, err)
	}
}
