package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// fedSession opens a session linked to provider idp's subject and sid.
func fedSession(t testing.TB, s store.Store, userID, idp, sub, sid string) (store.Session, store.RefreshToken) {
	t.Helper()
	sess := store.Session{ID: randomID(), UserID: userID, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
		IdP: idp, IdPSubject: sub, IdPSID: sid}
	first := newPair(t0, 24*time.Hour)
	first.SessionID = sess.ID
	if err := s.CreateSession(context.Background(), sess, first); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess, first
}

// testFederation: store.Federation (both backends implement it).
func testFederation(t *testing.T, s store.Store) {
	ctx := context.Background()
	f, ok := s.(store.Federation)
	if !ok {
		t.Fatal("the store does not implement store.Federation")
	}
	a := createUser(t, s, "a@example.com", "x")
	b := createUser(t, s, "b@example.com")
	if err := f.SetUserRoles(ctx, a.ID, []string{"user", "admin"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, a.ID); !slices.Equal(u.Roles, []string{"user", "admin"}) {
		t.Fatalf("roles %v", u.Roles)
	}
	wantErr(t, "SetUserRoles unknown", f.SetUserRoles(ctx, "nope", nil), store.ErrNotFound)

	a1, a1t := fedSession(t, s, a.ID, "corp", "sub-a", "sid-1")
	a2, _ := fedSession(t, s, a.ID, "corp", "sub-a", "sid-2")
	a3, _ := fedSession(t, s, a.ID, "other", "sub-a", "sid-1") // same sub and sid, other provider
	pw, pwt := createSession(t, s, a.ID, t0, 24*time.Hour)
	b1, _ := fedSession(t, s, b.ID, "corp", "sub-b", "sid-1")
	_ = b1

	if idp, err := f.IdPOfRefresh(ctx, a1t.Hash); err != nil || idp != "corp" {
		t.Fatalf("IdPOfRefresh = %q, %v", idp, err)
	}
	if idp, err := f.IdPOfRefresh(ctx, pwt.Hash); err != nil || idp != "" {
		t.Fatalf("IdPOfRefresh of a password session = %q, %v", idp, err)
	}
	_, err := f.IdPOfRefresh(ctx, "unknown")
	wantErr(t, "IdPOfRefresh unknown", err, store.ErrNotFound)

	now := t0.Add(time.Hour)
	// By sid and sub: only corp's sid-1 of sub-a.
	rr, err := f.RevokeFederated(ctx, "corp", "sub-a", "sid-1", store.ReasonBackchannel, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Revocations) != 1 || rr.Revocations[0].SessionID != a1.ID || rr.Revocations[0].Reason != store.ReasonBackchannel {
		t.Fatalf("by sid: %+v", rr.Revocations)
	}
	if len(rr.Tokens) != 1 || rr.Tokens[0].Refresh != a1t.Hash {
		t.Fatalf("by sid: tokens %+v", rr.Tokens)
	}
	// Again: nothing left to revoke, no error.
	if rr, err := f.RevokeFederated(ctx, "corp", "sub-a", "sid-1", store.ReasonBackchannel, now); err != nil || len(rr.Revocations) != 0 {
		t.Fatalf("again: %+v, %v", rr, err)
	}
	// By sub only: every corp session of sub-a; not the other provider's, not the password one, not b's.
	rr, err = f.RevokeFederated(ctx, "corp", "sub-a", "", store.ReasonBackchannel, now)
	if err != nil || len(rr.Revocations) != 1 || rr.Revocations[0].SessionID != a2.ID {
		t.Fatalf("by sub: %+v, %v", rr.Revocations, err)
	}
	for _, id := range []string{a3.ID, pw.ID, b1.ID} {
		if !mustSession(t, s, id).Live(now) {
			t.Fatalf("session %s revoked by another provider's or subject's logout", id)
		}
	}
	if _, err := f.RevokeFederated(ctx, "corp", "", "", store.ReasonBackchannel, now); err == nil {
		t.Fatal("RevokeFederated without sub and sid revoked nothing and said nothing")
	}

	// Logout token jtis: once per provider, until they expire.
	if err := f.UseLogoutJTI(ctx, "corp", "j1", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := f.UseLogoutJTI(ctx, "corp", "j1", now.Add(time.Minute), now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replayed jti: %v, want ErrConflict", err)
	}
	if err := f.UseLogoutJTI(ctx, "other", "j1", now.Add(time.Minute), now); err != nil {
		t.Fatalf("same jti at another provider: %v", err)
	}
	if err := f.UseLogoutJTI(ctx, "corp", "j1", now.Add(3*time.Minute), now.Add(2*time.Minute)); err != nil {
		t.Fatalf("jti after its record expired: %v", err)
	}
}
