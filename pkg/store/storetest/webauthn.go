package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// testWebAuthn holds a backend to the passkey part of store.Factors: credentials are
// listed per user, a credential id is unique across users, the signature counter
// only grows (atomically; 0 stays allowed for authenticators without one), removal
// is per user, DeleteFactors removes passkeys too; a ceremony is taken once and not
// after it expired, and pruning drops expired ones.
func testWebAuthn(t *testing.T, s store.Store) {
	ctx := context.Background()
	f, ok := s.(store.Factors)
	if !ok {
		t.Fatalf("%T does not implement store.Factors", s)
	}
	u := createUser(t, s, "passkeys@example.com")
	other := createUser(t, s, "other-passkeys@example.com")
	if list, err := f.WebAuthnCredentials(ctx, u.ID); err != nil || len(list) != 0 {
		t.Fatalf("credentials of a user without any: %v, %v", list, err)
	}
	laptop := store.WebAuthnCredential{ID: []byte{1, 2, 3}, UserID: u.ID, Name: "laptop", PublicKey: []byte("cose"),
		SignCount: 5, Transports: []string{"internal", "hybrid"}, AAGUID: make([]byte, 16), AttestationFormat: "none",
		UserVerified: true, BackupEligible: true, BackupState: false, CreatedAt: t0}
	phone := store.WebAuthnCredential{ID: []byte{9, 9}, UserID: u.ID, Name: "phone", PublicKey: []byte("cose2"), CreatedAt: t0.Add(time.Second)}
	for _, c := range []store.WebAuthnCredential{laptop, phone} {
		if err := f.AddWebAuthnCredential(ctx, c); err != nil {
			t.Fatalf("AddWebAuthnCredential(%s): %v", c.Name, err)
		}
	}
	dup := laptop
	dup.UserID = other.ID
	if err := f.AddWebAuthnCredential(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a credential id twice: %v", err)
	}
	ghost := phone
	ghost.ID, ghost.UserID = []byte{7}, "nobody"
	if err := f.AddWebAuthnCredential(ctx, ghost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a credential of an unknown user: %v", err)
	}
	list, err := f.WebAuthnCredentials(ctx, u.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("credentials: %v, %v", list, err)
	}
	got := list[0]
	if !bytes.Equal(got.ID, laptop.ID) || got.Name != "laptop" || string(got.PublicKey) != "cose" || got.SignCount != 5 ||
		!slices.Equal(got.Transports, laptop.Transports) || len(got.AAGUID) != 16 || got.AttestationFormat != "none" ||
		!got.UserVerified || !got.BackupEligible || got.BackupState || !got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) ||
		!got.LastUsedAt.IsZero() || list[1].Name != "phone" || list[1].Transports != nil {
		t.Fatalf("credentials read back %+v", list)
	}

	// The counter: it must grow; 0 after 0 is an authenticator without one.
	t1 := t0.Add(time.Minute)
	if err := f.UseWebAuthnCredential(ctx, u.ID, laptop.ID, 6, true, t1); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint32{6, 5, 0} {
		if err := f.UseWebAuthnCredential(ctx, u.ID, laptop.ID, n, true, t1); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("counter %d after 6: %v", n, err)
		}
	}
	if err := f.UseWebAuthnCredential(ctx, other.ID, laptop.ID, 7, true, t1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user's credential: %v", err)
	}
	for range 2 {
		if err := f.UseWebAuthnCredential(ctx, u.ID, phone.ID, 0, false, t1); err != nil {
			t.Fatalf("counter 0 after 0: %v", err)
		}
	}
	list, _ = f.WebAuthnCredentials(ctx, u.ID)
	if list[0].SignCount != 6 || !list[0].BackupState || !list[0].LastUsedAt.Equal(t1.Truncate(time.Microsecond)) {
		t.Fatalf("after use: %+v", list[0])
	}
	// 20 racing sign-ins with one counter: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.UseWebAuthnCredential(ctx, u.ID, laptop.ID, 7, true, t1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("UseWebAuthnCredential: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d racing uses of one counter succeeded, want 1", wins)
	}

	if err := f.DeleteWebAuthnCredential(ctx, other.ID, phone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting another user's credential: %v", err)
	}
	if err := f.DeleteWebAuthnCredential(ctx, u.ID, phone.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteWebAuthnCredential(ctx, u.ID, phone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if n, err := f.DeleteFactors(ctx, u.ID); err != nil || n != 1 {
		t.Fatalf("DeleteFactors with one passkey: %d, %v; want 1", n, err)
	}
	if list, _ := f.WebAuthnCredentials(ctx, u.ID); len(list) != 0 {
		t.Fatalf("passkeys after DeleteFactors: %v", list)
	}

	// Ceremonies.
	c := store.WebAuthnCeremony{Hash: "cer1", Purpose: store.CeremonyMFA, UserID: u.ID, Ref: "mfa-hash",
		Data: []byte(`{"challenge":"x"}`), ExpiresAt: t0.Add(5 * time.Minute)}
	if err := f.CreateWebAuthnCeremony(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateWebAuthnCeremony(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a ceremony twice: %v", err)
	}
	if _, err := f.TakeWebAuthnCeremony(ctx, "cer1", t0.Add(5*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired ceremony taken: %v", err)
	}
	g, err := f.TakeWebAuthnCeremony(ctx, "cer1", t0)
	if err != nil || g.Purpose != store.CeremonyMFA || g.UserID != u.ID || g.Ref != "mfa-hash" || string(g.Data) != string(c.Data) ||
		!g.ExpiresAt.Equal(c.ExpiresAt.Truncate(time.Microsecond)) {
		t.Fatalf("TakeWebAuthnCeremony %+v, %v", g, err)
	}
	if _, err := f.TakeWebAuthnCeremony(ctx, "cer1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a ceremony taken twice: %v", err)
	}
	old := store.WebAuthnCeremony{Hash: "cer-old", Purpose: store.CeremonyLogin, Data: []byte("{}"), ExpiresAt: t0}
	if err := f.CreateWebAuthnCeremony(ctx, old); err != nil {
		t.Fatal(err)
	}
	p, err := s.PruneExpired(ctx, t0.Add(time.Hour))
	if err != nil || p.Challenges < 1 {
		t.Fatalf("PruneExpired %+v, %v: want the expired ceremony gone", p, err)
	}
	if _, err := f.TakeWebAuthnCeremony(ctx, "cer-old", t0.Add(-time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a pruned ceremony: %v", err)
	}
}
