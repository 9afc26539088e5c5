package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// The account lifecycle (store.Accounts): listing users, roles, passwords, deleting
// users and one-time password reset links.

func testListUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	list, err := s.ListUsers(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("ListUsers on an empty store = %v, %v; want [], nil", list, err)
	}
	createUser(t, s, "Zed@example.com", "admin")
	createUser(t, s, "amy@example.com")
	list, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var emails []string
	for _, u := range list {
		emails = append(emails, u.Email)
	}
	if !slices.Equal(emails, []string{"amy@example.com", "Zed@example.com"}) {
		t.Errorf("ListUsers emails = %v, want by lower-cased email", emails)
	}
	if !slices.Equal(list[1].Roles, []string{"admin"}) || list[0].Roles == nil || len(list[0].Roles) != 0 {
		t.Errorf("roles = %v and %v, want [admin] and []", list[1].Roles, list[0].Roles)
	}
}

func testSetUserRoles(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "roles@example.com", "user")
	if err := s.SetUserRoles(ctx, u.ID, []string{"admin", "ops"}); err != nil {
		t.Fatalf("SetUserRoles: %v", err)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil || !slices.Equal(got.Roles, []string{"admin", "ops"}) {
		t.Fatalf("roles after SetUserRoles = %v, %v; want [admin ops]", got.Roles, err)
	}
	if err := s.SetUserRoles(ctx, u.ID, nil); err != nil {
		t.Fatalf("SetUserRoles(nil): %v", err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.Roles == nil || len(got.Roles) != 0 {
		t.Errorf("roles after SetUserRoles(nil) = %#v, want []", got.Roles)
	}
	wantErr(t, "SetUserRoles(unknown)", s.SetUserRoles(ctx, "no-such-user", []string{"x"}), store.ErrNotFound)
}

func testSetPassword(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "pw@example.com")
	keep, _ := createSession(t, s, u.ID, t0, 24*time.Hour)
	other, otherTok := createSession(t, s, u.ID, t0.Add(time.Second), 24*time.Hour)
	if err := s.CreatePasswordReset(ctx, store.PasswordReset{Hash: randomHash(), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
	link := randomHash()
	if err := s.CreatePasswordReset(ctx, store.PasswordReset{Hash: link, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
	now := t0.Add(time.Minute)
	rr, err := s.SetPassword(ctx, u.ID, "$argon2id$new", keep.ID, now)
	if err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if len(rr.Revocations) != 1 || rr.Revocations[0].SessionID != other.ID || rr.Revocations[0].Reason != store.ReasonPasswordChanged {
		t.Fatalf("SetPassword revoked %+v, want only the other session, reason %s", rr.Revocations, store.ReasonPasswordChanged)
	}
	if got := refreshHashes(rr.Tokens); !slices.Equal(got, []string{otherTok.Hash}) {
		t.Errorf("SetPassword tokens = %v, want the other session's", got)
	}
	if !mustSession(t, s, keep.ID).Live(now) || mustSession(t, s, other.ID).Live(now) {
		t.Errorf("after SetPassword: kept session live = %v, other live = %v; want true, false",
			mustSession(t, s, keep.ID).Live(now), mustSession(t, s, other.ID).Live(now))
	}
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "$argon2id$new" {
		t.Errorf("hash = %q, want the new one", got.PasswordHash)
	}
	// A changed password ends the reset links.
	_, _, err = s.UsePasswordReset(ctx, link, "$argon2id$other", now)
	wantErr(t, "UsePasswordReset after SetPassword", err, store.ErrNotFound)

	// keepSession "" revokes them all.
	rr, err = s.SetPassword(ctx, u.ID, "$argon2id$newer", "", now.Add(time.Second))
	if err != nil || len(rr.Revocations) != 1 || rr.Revocations[0].SessionID != keep.ID {
		t.Fatalf("SetPassword(keep none) = %+v, %v; want the last session revoked", rr.Revocations, err)
	}
	_, err = s.SetPassword(ctx, "no-such-user", "h", "", now)
	wantErr(t, "SetPassword(unknown)", err, store.ErrNotFound)
}

func testUpgradePasswordHash(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "rehash@example.com")
	ok, err := s.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, "$argon2id$stronger")
	if err != nil || !ok {
		t.Fatalf("UpgradePasswordHash = %v, %v; want true", ok, err)
	}
	// The hash changed meanwhile: a second upgrade from the old one does nothing.
	ok, err = s.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, "$argon2id$stale")
	if err != nil || ok {
		t.Fatalf("UpgradePasswordHash from a stale hash = %v, %v; want false", ok, err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "$argon2id$stronger" {
		t.Errorf("hash = %q, want the upgraded one", got.PasswordHash)
	}
}

func testDeleteUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "gone@example.com")
	keep := createUser(t, s, "stays@example.com")
	a, aTok := createSession(t, s, u.ID, t0, 24*time.Hour)
	b, _ := createSession(t, s, u.ID, t0.Add(time.Second), 24*time.Hour)
	kept, _ := createSession(t, s, keep.ID, t0, 24*time.Hour)
	if err := s.CreatePasswordReset(ctx, store.PasswordReset{Hash: randomHash(), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
	before := lastSeq(t, s)
	now := t0.Add(time.Minute)
	rr, err := s.DeleteUser(ctx, u.ID, now)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	var revoked []string
	for _, r := range rr.Revocations {
		revoked = append(revoked, r.SessionID)
	}
	if !slices.Equal(revoked, []string{a.ID, b.ID}) {
		t.Fatalf("DeleteUser revoked %+v, want both sessions, oldest first", rr.Revocations)
	}
	for _, r := range rr.Revocations {
		if r.Reason != store.ReasonUserDeleted || r.UserID != u.ID {
			t.Errorf("revocation %+v, want reason %s for user %s", r, store.ReasonUserDeleted, u.ID)
		}
	}
	if !slices.Contains(refreshHashes(rr.Tokens), aTok.Hash) {
		t.Errorf("DeleteUser tokens %v lack the live refresh token", refreshHashes(rr.Tokens))
	}
	// The log keeps the rows (verifiers learn of the deletion from it).
	if got := lastSeq(t, s); got != before+2 {
		t.Errorf("LastRevocationSeq = %d, want %d", got, before+2)
	}
	if rows := logRowsFor(t, s, a.ID); len(rows) != 1 {
		t.Errorf("log rows of the deleted user's session = %v, want 1", rows)
	}
	_, err = s.UserByID(ctx, u.ID)
	wantErr(t, "UserByID(deleted)", err, store.ErrNotFound)
	_, err = s.SessionState(ctx, a.ID)
	wantErr(t, "SessionState(deleted user's session)", err, store.ErrNotFound)
	_, err = s.Rotate(ctx, store.Rotation{OldHash: aTok.Hash, Now: now, Mint: noMint(t)})
	wantErr(t, "Rotate(deleted user's token)", err, store.ErrNotFound)
	if !mustSession(t, s, kept.ID).Live(now) {
		t.Error("another user's session was revoked")
	}
	// The email is free again.
	createUser(t, s, "GONE@example.com")
	_, err = s.DeleteUser(ctx, u.ID, now)
	wantErr(t, "DeleteUser twice", err, store.ErrNotFound)
}

func testPasswordReset(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "reset@example.com")
	sess, _ := createSession(t, s, u.ID, t0, 24*time.Hour)
	wantErr(t, "CreatePasswordReset(unknown user)",
		s.CreatePasswordReset(ctx, store.PasswordReset{Hash: randomHash(), UserID: "no-such-user", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}),
		store.ErrNotFound)

	first := randomHash()
	if err := s.CreatePasswordReset(ctx, store.PasswordReset{Hash: first, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
	link := randomHash()
	if err := s.CreatePasswordReset(ctx, store.PasswordReset{Hash: link, UserID: u.ID, CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
	// Only the newest link works.
	_, _, err := s.UsePasswordReset(ctx, first, "$argon2id$x", t0.Add(time.Minute))
	wantErr(t, "UsePasswordReset(older link)", err, store.ErrNotFound)
	_, _, err = s.UsePasswordReset(ctx, randomHash(), "$argon2id$x", t0.Add(time.Minute))
	wantErr(t, "UsePasswordReset(unknown)", err, store.ErrNotFound)
	// Expiry is exclusive: at ExpiresAt the link is dead.
	_, _, err = s.UsePasswordReset(ctx, link, "$argon2id$x", t0.Add(time.Hour))
	wantErr(t, "UsePasswordReset(expired)", err, store.ErrTokenExpired)

	now := t0.Add(59 * time.Minute)
	got, rr, err := s.UsePasswordReset(ctx, link, "$argon2id$reset", now)
	if err != nil {
		t.Fatalf("UsePasswordReset: %v", err)
	}
	if got.ID != u.ID || got.PasswordHash != "$argon2id$reset" {
		t.Errorf("UsePasswordReset user = %s with hash %q, want %s with the new hash", got.ID, got.PasswordHash, u.ID)
	}
	if len(rr.Revocations) != 1 || rr.Revocations[0].SessionID != sess.ID || rr.Revocations[0].Reason != store.ReasonPasswordChanged {
		t.Errorf("UsePasswordReset revoked %+v, want the user's session (reason %s)", rr.Revocations, store.ReasonPasswordChanged)
	}
	_, _, err = s.UsePasswordReset(ctx, link, "$argon2id$again", now.Add(time.Second))
	wantErr(t, "UsePasswordReset(used)", err, store.ErrTokenReused)
	if u2, _ := s.UserByID(ctx, u.ID); u2.PasswordHash != "$argon2id$reset" {
		t.Errorf("a reused link changed the hash to %q", u2.PasswordHash)
	}
	wantErr(t, "CreatePasswordReset(duplicate hash)",
		s.CreatePasswordReset(ctx, store.PasswordReset{Hash: link, UserID: createUser(t, s, "other@example.com").ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}),
		store.ErrConflict)
}

// testDeleteUserRotateRace: deleting a user while each of its sessions is being
// rotated neither deadlocks nor fails: every rotation ends refused (the session is
// revoked or gone), and DeleteUser reports every session that was live.
func testDeleteUserRotateRace(t *testing.T, s store.Store) {
	const sessions = 8
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := createUser(t, s, "race-delete@example.com")
	errs := make(chan error, sessions)
	started := make(chan struct{}, sessions)
	var ids []string
	for range sessions {
		sess, tok := createSession(t, s, u.ID, t0, 24*time.Hour)
		ids = append(ids, sess.ID)
		go func() {
			old, now := tok.Hash, t0.Add(time.Minute)
			for n := 0; ; n++ {
				if n == 2 {
					started <- struct{}{}
				}
				now = now.Add(time.Millisecond)
				res, err := s.Rotate(ctx, store.Rotation{OldHash: old, Now: now, Mint: minter(now, 24*time.Hour)})
				if err != nil {
					if n < 2 {
						started <- struct{}{}
					}
					errs <- err
					return
				}
				old = res.New.Hash
			}
		}()
	}
	for range sessions {
		<-started
	}
	rr, err := s.DeleteUser(ctx, u.ID, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("DeleteUser during rotations: %v", err)
	}
	var revoked []string
	for _, r := range rr.Revocations {
		revoked = append(revoked, r.SessionID)
	}
	slices.Sort(revoked)
	slices.Sort(ids)
	if !slices.Equal(revoked, ids) {
		t.Errorf("DeleteUser revoked %v, want every session %v", revoked, ids)
	}
	for range sessions {
		if err := <-errs; !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrSessionRevoked) {
			t.Errorf("a rotation racing DeleteUser ended with %v, want not found or revoked", err)
		}
	}
}
