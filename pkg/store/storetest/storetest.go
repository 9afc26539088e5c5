package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// t0 is the suite's clock origin. Its nanoseconds check that stores keep
// microseconds and drop the rest.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 123456789, time.UTC)

// us is what a time looks like after a round trip through a store.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// Run runs the shared suite against a backend. open must return a new Store on a
// fresh, empty database (not yet migrated); each subtest opens its own. Run
// migrates it and closes it when the subtest ends.
func Run(t *testing.T, open func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"MigrateTwice", testMigrateTwice},
		{"Timestamps", testTimestamps},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"RevokeSession", testRevokeSession},
		{"RevokeUser", testRevokeUser},
		{"DisabledUser", testDisabledUser},
		{"Rotate", testRotate},
		{"RotateMintFails", testRotateMintFails},
		{"RotateExpired", testRotateExpired},
		{"RotateUnknown", testRotateUnknown},
		{"ReuseOutsideGrace", testReuseOutsideGrace},
		{"ReuseInsideGrace", testReuseInsideGrace},
		{"ReuseWithoutGrace", testReuseWithoutGrace},
		{"RevocationLog", testRevocationLog},
		{"RevocationsSince", testRevocationsSince},
		{"RevocationSync", testRevocationSync},
		{"SessionState", testSessionState},
		{"PruneExpired", testPruneExpired},
		{"PruneBatches", testPruneBatches},
		{"ListUsers", testListUsers},
		{"SetUserRoles", testSetUserRoles},
		{"SetPassword", testSetPassword},
		{"UpgradePasswordHash", testUpgradePasswordHash},
		{"DeleteUser", testDeleteUser},
		{"PasswordReset", testPasswordReset},
		{"DeleteUserRotateRace", testDeleteUserRotateRace},
		{"Factors", testFactors},
		{"WebAuthn", testWebAuthn},
		{"Federation", testFederation},
		{"ConcurrentRotateGrace", func(t *testing.T, s store.Store) { testConcurrentRotateGrace(t, []store.Store{s}) }},
		{"ConcurrentRotateNoGrace", func(t *testing.T, s store.Store) { testConcurrentRotateNoGrace(t, []store.Store{s}) }},
		{"RevocationFeed", func(t *testing.T, s store.Store) { testRevocationFeed(t, []store.Store{s}) }},
		{"RotateRevokeRace", func(t *testing.T, s store.Store) { testRotateRevokeRace(t, []store.Store{s}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			migrate(t, s)
			tc.fn(t, s)
		})
	}
}

// RunInstances runs the tests that need two Store instances on one database, as
// two processes have in production (an issuer and a verifier, or two issuers).
// open must return two Stores opened separately on the same fresh, empty database;
// RunInstances closes both when the subtest ends.
func RunInstances(t *testing.T, open func(t testing.TB) (store.Store, store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"ConcurrentMigrate", testConcurrentMigrate},
		{"CrossInstance", testCrossInstance},
		{"Lock", testLock},
		{"ConcurrentRotateGrace", func(t *testing.T, a, b store.Store) {
			migrate(t, a)
			testConcurrentRotateGrace(t, []store.Store{a, b})
		}},
		{"ConcurrentRotateNoGrace", func(t *testing.T, a, b store.Store) {
			migrate(t, a)
			testConcurrentRotateNoGrace(t, []store.Store{a, b})
		}},
		{"RevocationFeed", func(t *testing.T, a, b store.Store) {
			migrate(t, a)
			testRevocationFeed(t, []store.Store{a, b})
		}},
		{"RotateRevokeRace", func(t *testing.T, a, b store.Store) {
			migrate(t, a)
			testRotateRevokeRace(t, []store.Store{a, b})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() { a.Close(); b.Close() })
			tc.fn(t, a, b)
		})
	}
}

// ---- helpers ----

func migrate(t testing.TB, s store.Store) {
	t.Helper()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

// randomHash is a hash-shaped random string (a token hash in the store's eyes).
func randomHash() string {
	var b [32]byte
	rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return hex.EncodeToString(h[:])
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func createUser(t testing.TB, s store.Store, email string, roles ...string) store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), store.User{
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:        roles,
		CreatedAt:    t0,
	})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

// accessTTL is the access-token lifetime the suite's token pairs have.
const accessTTL = 15 * time.Minute

// newPair builds a token pair issued at `at` whose refresh token lives ttl.
func newPair(at time.Time, ttl time.Duration) store.RefreshToken {
	return store.RefreshToken{
		Hash:            randomHash(),
		AccessHash:      randomHash(),
		AccessExpiresAt: at.Add(accessTTL),
		CreatedAt:       at,
		ExpiresAt:       at.Add(ttl),
	}
}

func createSession(t testing.TB, s store.Store, userID string, at time.Time, ttl time.Duration) (store.Session, store.RefreshToken) {
	t.Helper()
	sess := store.Session{
		ID:         randomID(),
		UserID:     userID,
		CreatedAt:  at,
		LastUsedAt: at,
		ExpiresAt:  at.Add(ttl),
		UserAgent:  "storetest/1.0",
		IP:         "192.0.2.7",
	}
	first := newPair(at, ttl)
	first.SessionID = sess.ID
	if err := s.CreateSession(context.Background(), sess, first); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess, first
}

// minter returns a Mint that issues a pair at `at` with a refresh lifetime of ttl.
func minter(at time.Time, ttl time.Duration) func(store.Session, store.User) (store.RefreshToken, error) {
	return func(store.Session, store.User) (store.RefreshToken, error) { return newPair(at, ttl), nil }
}

func rotate(t testing.TB, s store.Store, old string, now time.Time, grace time.Duration) store.RotateResult {
	t.Helper()
	res, err := s.Rotate(context.Background(), store.Rotation{OldHash: old, Now: now, Grace: grace, Mint: minter(now, 24*time.Hour)})
	if err != nil {
		t.Fatalf("Rotate at %v: %v", now, err)
	}
	return res
}

// noMint is a Mint that must not be called.
func noMint(t testing.TB) func(store.Session, store.User) (store.RefreshToken, error) {
	return func(store.Session, store.User) (store.RefreshToken, error) {
		t.Error("Mint called, want no successor")
		return store.RefreshToken{}, errors.New("storetest: unexpected mint")
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func sameTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func mustSession(t testing.TB, s store.Store, id string) store.Session {
	t.Helper()
	sess, err := s.Session(context.Background(), id)
	if err != nil {
		t.Fatalf("Session(%s): %v", id, err)
	}
	return sess
}

func lastSeq(t testing.TB, s store.Store) int64 {
	t.Helper()
	n, err := s.LastRevocationSeq(context.Background())
	if err != nil {
		t.Fatalf("LastRevocationSeq: %v", err)
	}
	return n
}

func logRows(t testing.TB, s store.Store) []store.Revocation {
	t.Helper()
	rows, err := s.RevocationsAfter(context.Background(), 0, 100000)
	if err != nil {
		t.Fatalf("RevocationsAfter: %v", err)
	}
	return rows
}

func logRowsFor(t testing.TB, s store.Store, sessionID string) []store.Revocation {
	t.Helper()
	var out []store.Revocation
	for _, r := range logRows(t, s) {
		if r.SessionID == sessionID {
			out = append(out, r)
		}
	}
	return out
}

func refreshHashes(tokens []store.TokenHashes) []string {
	var out []string
	for _, th := range tokens {
		if th.Refresh != "" {
			out = append(out, th.Refresh)
		}
	}
	sort.Strings(out)
	return out
}

func accessHashes(tokens []store.TokenHashes) []string {
	var out []string
	for _, th := range tokens {
		if th.Access != "" {
			out = append(out, th.Access)
		}
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func sessionIDs(sessions []store.Session) []string {
	out := make([]string, len(sessions))
	for i, s := range sessions {
		out[i] = s.ID
	}
	return out
}

// ---- tests ----

func testMigrateTwice(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again (%d): %v", i+2, err)
		}
	}
	u := createUser(t, s, "migrate@example.com")
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate with data: %v", err)
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Fatalf("user lost by a second Migrate: %v", err)
	}
	if n := lastSeq(t, s); n != 0 {
		t.Fatalf("LastRevocationSeq on a new store = %d, want 0", n)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testTimestamps(t *testing.T, s store.Store) {
	ctx := context.Background()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	created := t0.In(zone)
	u, err := s.CreateUser(ctx, store.User{Email: "time@example.com", PasswordHash: "x", CreatedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "CreateUser's CreatedAt", u.CreatedAt, us(t0))
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "stored CreatedAt", got.CreatedAt, us(t0))
	if us(t0).Nanosecond() != 123456000 {
		t.Fatalf("suite bug: t0 truncation %d", us(t0).Nanosecond())
	}

	sess := store.Session{ID: randomID(), UserID: u.ID, CreatedAt: t0.In(zone), LastUsedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)}
	first := newPair(t0, time.Hour)
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	st := mustSession(t, s, sess.ID)
	sameTime(t, "Session.CreatedAt", st.CreatedAt, us(t0))
	sameTime(t, "Session.LastUsedAt", st.LastUsedAt, us(t0.Add(time.Second)))
	sameTime(t, "Session.ExpiresAt", st.ExpiresAt, us(t0.Add(time.Hour)))
	if !st.RevokedAt.IsZero() {
		t.Errorf("RevokedAt = %v, want zero", st.RevokedAt)
	}
	rr, err := s.RevokeSession(ctx, sess.ID, store.ReasonAdmin, t0.Add(time.Minute).In(zone))
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "Revocation.At", rr.Revocations[0].At, us(t0.Add(time.Minute)))
	sameTime(t, "TokenHashes.RefreshExpiresAt", rr.Tokens[0].RefreshExpiresAt, us(t0.Add(time.Hour)))
	sameTime(t, "TokenHashes.AccessExpiresAt", rr.Tokens[0].AccessExpiresAt, us(t0.Add(accessTTL)))
	sameTime(t, "Session.RevokedAt", mustSession(t, s, sess.ID).RevokedAt, us(t0.Add(time.Minute)))
	sameTime(t, "log At", logRows(t, s)[0].At, us(t0.Add(time.Minute)))
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, err := s.CreateUser(ctx, store.User{
		Email:        "Alice@Example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:        []string{"admin", "dev"},
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if len(u.ID) != 36 || strings.Count(u.ID, "-") != 4 {
		t.Errorf("generated ID %q is not a UUID", u.ID)
	}
	if u.CreatedAt.IsZero() {
		t.Error("CreatedAt not set")
	}
	for _, lookup := range []struct {
		name string
		get  func() (store.User, error)
	}{
		{"UserByID", func() (store.User, error) { return s.UserByID(ctx, u.ID) }},
		{"UserByEmail same case", func() (store.User, error) { return s.UserByEmail(ctx, "Alice@Example.com") }},
		{"UserByEmail other case", func() (store.User, error) { return s.UserByEmail(ctx, "aLICE@example.COM") }},
	} {
		got, err := lookup.get()
		if err != nil {
			t.Fatalf("%s: %v", lookup.name, err)
		}
		if got.ID != u.ID || got.Email != "Alice@Example.com" || got.PasswordHash != u.PasswordHash ||
			!slices.Equal(got.Roles, []string{"admin", "dev"}) || got.Disabled || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("%s = %+v, want %+v", lookup.name, got, u)
		}
	}

	_, err = s.CreateUser(ctx, store.User{Email: "ALICE@example.com", PasswordHash: "x"})
	wantErr(t, "CreateUser with the email in other case", err, store.ErrConflict)
	_, err = s.CreateUser(ctx, store.User{ID: u.ID, Email: "bob@example.com", PasswordHash: "x"})
	wantErr(t, "CreateUser with a taken ID", err, store.ErrConflict)
	if _, err := s.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed CreateUser stored a user: %v", err)
	}

	// Non-ASCII emails fold the same way in every backend.
	if _, err := s.CreateUser(ctx, store.User{Email: "ÉLODIE@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateUser(ctx, store.User{Email: "élodie@example.com", PasswordHash: "x"})
	wantErr(t, "CreateUser with a non-ASCII email in other case", err, store.ErrConflict)
	if got, err := s.UserByEmail(ctx, "Élodie@EXAMPLE.com"); err != nil || got.Email != "ÉLODIE@example.com" {
		t.Errorf("UserByEmail(Élodie) = %+v, %v", got, err)
	}

	given, err := s.CreateUser(ctx, store.User{ID: "user-given-id", Email: "carol@example.com", PasswordHash: "x", CreatedAt: t0, Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if given.ID != "user-given-id" || !given.CreatedAt.Equal(us(t0)) {
		t.Errorf("CreateUser overwrote given fields: %+v", given)
	}
	got, err := s.UserByID(ctx, "user-given-id")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Roles) != 0 || !got.Disabled {
		t.Errorf("UserByID = %+v, want no roles and disabled", got)
	}

	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, "UserByEmail(unknown)", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, "no-such-id")
	wantErr(t, "UserByID(unknown)", err, store.ErrNotFound)
	if _, err := s.CreateUser(ctx, store.User{PasswordHash: "x"}); err == nil {
		t.Error("CreateUser without email succeeded")
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "sessions@example.com")
	other := createUser(t, s, "other@example.com")
	s1, tok1 := createSession(t, s, u.ID, t0, 24*time.Hour)
	s2, _ := createSession(t, s, u.ID, t0.Add(time.Minute), 24*time.Hour)
	s3, _ := createSession(t, s, u.ID, t0.Add(2*time.Minute), time.Hour)
	s4, _ := createSession(t, s, other.ID, t0, 24*time.Hour)

	got := mustSession(t, s, s1.ID)
	want := store.Session{ID: s1.ID, UserID: u.ID, CreatedAt: us(t0), LastUsedAt: us(t0), ExpiresAt: us(t0.Add(24 * time.Hour)),
		UserAgent: "storetest/1.0", IP: "192.0.2.7"}
	if got.ID != want.ID || got.UserID != want.UserID || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.RevokedAt.IsZero() ||
		got.UserAgent != want.UserAgent || got.IP != want.IP {
		t.Errorf("Session = %+v, want %+v", got, want)
	}
	byHash, err := s.SessionByRefreshHash(ctx, tok1.Hash)
	if err != nil || byHash.ID != s1.ID {
		t.Errorf("SessionByRefreshHash = %+v, %v; want session %s", byHash, err, s1.ID)
	}

	for _, tc := range []struct {
		name   string
		userID string
		now    time.Time
		want   []string
	}{
		{"all live, newest first", u.ID, t0.Add(3 * time.Minute), []string{s3.ID, s2.ID, s1.ID}},
		{"expired left out", u.ID, t0.Add(2 * time.Hour), []string{s2.ID, s1.ID}},
		{"other user", other.ID, t0.Add(time.Minute), []string{s4.ID}},
		{"everything expired", u.ID, t0.Add(48 * time.Hour), nil},
		{"unknown user", "no-such-user", t0, nil},
	} {
		list, err := s.ListSessions(ctx, tc.userID, tc.now)
		if err != nil {
			t.Fatalf("ListSessions(%s): %v", tc.name, err)
		}
		if got := sessionIDs(list); !slices.Equal(got, tc.want) {
			t.Errorf("ListSessions(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}

	// Duplicates are conflicts, and CreateSession is atomic.
	err = s.CreateSession(ctx, store.Session{ID: s1.ID, UserID: u.ID, CreatedAt: t0}, newPair(t0, time.Hour))
	wantErr(t, "CreateSession with a taken id", err, store.ErrConflict)
	dupID := randomID()
	dupTok := newPair(t0, time.Hour)
	dupTok.Hash = tok1.Hash
	err = s.CreateSession(ctx, store.Session{ID: dupID, UserID: u.ID, CreatedAt: t0}, dupTok)
	wantErr(t, "CreateSession with a taken token hash", err, store.ErrConflict)
	if strings.Contains(err.Error(), tok1.Hash) {
		t.Errorf("error carries the token hash: %v", err)
	}
	_, err = s.Session(ctx, dupID)
	wantErr(t, "the session of a failed CreateSession", err, store.ErrNotFound)

	err = s.CreateSession(ctx, store.Session{ID: randomID(), UserID: "no-such-user", CreatedAt: t0}, newPair(t0, time.Hour))
	wantErr(t, "CreateSession for an unknown user", err, store.ErrNotFound)
	if err := s.CreateSession(ctx, store.Session{UserID: u.ID}, newPair(t0, time.Hour)); err == nil {
		t.Error("CreateSession without id succeeded")
	}
	if err := s.CreateSession(ctx, store.Session{ID: randomID(), UserID: u.ID}, store.RefreshToken{ExpiresAt: t0}); err == nil {
		t.Error("CreateSession without token hash succeeded")
	}

	// Zero fields are filled in from the first token.
	minimal := store.Session{ID: randomID(), UserID: u.ID}
	if err := s.CreateSession(ctx, minimal, store.RefreshToken{Hash: randomHash(), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession with zero times: %v", err)
	}
	got = mustSession(t, s, minimal.ID)
	sameTime(t, "filled CreatedAt", got.CreatedAt, us(t0))
	sameTime(t, "filled LastUsedAt", got.LastUsedAt, us(t0))
	sameTime(t, "filled ExpiresAt", got.ExpiresAt, us(t0.Add(time.Hour)))

	_, err = s.Session(ctx, "no-such-session")
	wantErr(t, "Session(unknown)", err, store.ErrNotFound)
	_, err = s.SessionByRefreshHash(ctx, randomHash())
	wantErr(t, "SessionByRefreshHash(unknown)", err, store.ErrNotFound)
}

func testRevokeSession(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "revoke@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	child := rotate(t, s, tok0.Hash, t0.Add(time.Minute), 5*time.Second).New

	at := t0.Add(2 * time.Minute)
	rr, err := s.RevokeSession(ctx, sess.ID, store.ReasonLogout, at)
	if err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if len(rr.Revocations) != 1 {
		t.Fatalf("Revocations = %+v, want one", rr.Revocations)
	}
	rv := rr.Revocations[0]
	if rv.SessionID != sess.ID || rv.UserID != u.ID || rv.Reason != store.ReasonLogout || !rv.At.Equal(us(at)) || rv.Seq <= 0 {
		t.Errorf("Revocation = %+v", rv)
	}
	if n := lastSeq(t, s); n != rv.Seq {
		t.Errorf("LastRevocationSeq = %d, want %d", n, rv.Seq)
	}
	// tok0 was rotated: only its access token (still live) is named, not its refresh
	// token, which Rotate alone decides on.
	if got, want := refreshHashes(rr.Tokens), sorted(child.Hash); !slices.Equal(got, want) {
		t.Errorf("revoked refresh hashes = %v, want %v", got, want)
	}
	if got, want := accessHashes(rr.Tokens), sorted(tok0.AccessHash, child.AccessHash); !slices.Equal(got, want) {
		t.Errorf("revoked access hashes = %v, want %v", got, want)
	}
	for _, th := range rr.Tokens {
		if th.SessionID != sess.ID || th.UserID != u.ID {
			t.Errorf("TokenHashes %+v names the wrong session or user", th)
		}
		if th.Refresh == child.Hash && (!th.RefreshExpiresAt.Equal(us(child.ExpiresAt)) || !th.AccessExpiresAt.Equal(us(child.AccessExpiresAt)) || th.Access != child.AccessHash) {
			t.Errorf("TokenHashes %+v, want the child pair %+v", th, child)
		}
	}
	sameTime(t, "RevokedAt", mustSession(t, s, sess.ID).RevokedAt, us(at))

	// Idempotent.
	again, err := s.RevokeSession(ctx, sess.ID, store.ReasonLogout, at.Add(time.Minute))
	if err != nil || len(again.Revocations) != 0 || len(again.Tokens) != 0 {
		t.Errorf("second RevokeSession = %+v, %v; want nothing, nil", again, err)
	}
	sameTime(t, "RevokedAt after a second revoke", mustSession(t, s, sess.ID).RevokedAt, us(at))
	if rows := logRows(t, s); len(rows) != 1 {
		t.Errorf("log has %d rows, want 1", len(rows))
	}
	_, err = s.Rotate(ctx, store.Rotation{OldHash: child.Hash, Now: at.Add(time.Second), Grace: 5 * time.Second, Mint: noMint(t)})
	wantErr(t, "Rotate in a revoked session", err, store.ErrSessionRevoked)

	_, err = s.RevokeSession(ctx, "no-such-session", store.ReasonLogout, at)
	wantErr(t, "RevokeSession(unknown)", err, store.ErrNotFound)

	// An expired session is left alone.
	expired, _ := createSession(t, s, u.ID, t0, time.Hour)
	rr, err = s.RevokeSession(ctx, expired.ID, store.ReasonLogout, t0.Add(2*time.Hour))
	if err != nil || len(rr.Revocations) != 0 {
		t.Errorf("RevokeSession(expired) = %+v, %v; want nothing", rr, err)
	}
	if !mustSession(t, s, expired.ID).RevokedAt.IsZero() {
		t.Error("an expired session was marked revoked")
	}

	// An expired half of a pair is not reported.
	half, halfTok := createSession(t, s, u.ID, t0, 24*time.Hour)
	rr, err = s.RevokeSession(ctx, half.ID, store.ReasonLogout, t0.Add(accessTTL))
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Tokens) != 1 || rr.Tokens[0].Refresh != halfTok.Hash || rr.Tokens[0].Access != "" || !rr.Tokens[0].AccessExpiresAt.IsZero() {
		t.Errorf("Tokens = %+v, want the refresh token only (its access token expired)", rr.Tokens)
	}
}

func testRevokeUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := createUser(t, s, "a@example.com")
	b := createUser(t, s, "b@example.com")
	a1, a1t := createSession(t, s, a.ID, t0, 24*time.Hour)
	a2, a2t := createSession(t, s, a.ID, t0.Add(time.Minute), 24*time.Hour)
	a3, a3t := createSession(t, s, a.ID, t0.Add(2*time.Minute), 24*time.Hour)
	a4, _ := createSession(t, s, a.ID, t0, 24*time.Hour)
	a5, _ := createSession(t, s, a.ID, t0, time.Hour)
	b1, _ := createSession(t, s, b.ID, t0, 24*time.Hour)
	if _, err := s.RevokeSession(ctx, a4.ID, store.ReasonLogout, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	before := lastSeq(t, s)

	at := t0.Add(2 * time.Hour)
	rr, err := s.RevokeUser(ctx, a.ID, store.ReasonLogoutAll, at)
	if err != nil {
		t.Fatalf("RevokeUser: %v", err)
	}
	wantSessions := []string{a1.ID, a2.ID, a3.ID}
	var gotSessions []string
	for i, rv := range rr.Revocations {
		gotSessions = append(gotSessions, rv.SessionID)
		if rv.UserID != a.ID || rv.Reason != store.ReasonLogoutAll || !rv.At.Equal(us(at)) || rv.Seq != before+int64(i)+1 {
			t.Errorf("Revocation %d = %+v (log was at seq %d)", i, rv, before)
		}
	}
	if !slices.Equal(gotSessions, wantSessions) {
		t.Errorf("revoked sessions = %v, want %v (oldest first)", gotSessions, wantSessions)
	}
	if got, want := refreshHashes(rr.Tokens), sorted(a1t.Hash, a2t.Hash, a3t.Hash); !slices.Equal(got, want) {
		t.Errorf("revoked refresh hashes = %v, want %v", got, want)
	}
	if got := accessHashes(rr.Tokens); len(got) != 0 {
		t.Errorf("access hashes %v reported, but every access token had expired", got)
	}
	logged := logRows(t, s)
	if len(logged) != 4 {
		t.Fatalf("log has %d rows, want 4", len(logged))
	}
	for i, rv := range rr.Revocations {
		if logged[i+1] != rv {
			t.Errorf("log row %+v, want %+v", logged[i+1], rv)
		}
	}
	for _, id := range wantSessions {
		sameTime(t, "RevokedAt of "+id, mustSession(t, s, id).RevokedAt, us(at))
	}
	if !mustSession(t, s, a5.ID).RevokedAt.IsZero() {
		t.Error("RevokeUser marked an expired session revoked")
	}
	if !mustSession(t, s, b1.ID).RevokedAt.IsZero() {
		t.Error("RevokeUser revoked another user's session")
	}
	if n := len(logRowsFor(t, s, a4.ID)); n != 1 {
		t.Errorf("the already revoked session has %d log rows, want 1", n)
	}

	again, err := s.RevokeUser(ctx, a.ID, store.ReasonLogoutAll, at.Add(time.Minute))
	if err != nil || len(again.Revocations) != 0 || len(again.Tokens) != 0 {
		t.Errorf("second RevokeUser = %+v, %v; want nothing", again, err)
	}
	_, err = s.RevokeUser(ctx, "no-such-user", store.ReasonLogoutAll, at)
	wantErr(t, "RevokeUser(unknown)", err, store.ErrNotFound)
}

func testDisabledUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "disable@example.com")
	s1, tok1 := createSession(t, s, u.ID, t0, 24*time.Hour)
	s2, _ := createSession(t, s, u.ID, t0, 24*time.Hour)

	at := t0.Add(time.Minute)
	rr, err := s.SetUserDisabled(ctx, u.ID, true, at)
	if err != nil {
		t.Fatalf("SetUserDisabled(true): %v", err)
	}
	if len(rr.Revocations) != 2 || len(rr.Tokens) != 2 {
		t.Fatalf("SetUserDisabled revoked %+v, want both sessions", rr)
	}
	for _, rv := range rr.Revocations {
		if rv.Reason != store.ReasonDisabled || rv.UserID != u.ID {
			t.Errorf("Revocation = %+v, want reason %s", rv, store.ReasonDisabled)
		}
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || !got.Disabled {
		t.Errorf("UserByID = %+v, %v; want disabled", got, err)
	}
	st, err := s.SessionState(ctx, s1.ID)
	if err != nil || !st.UserDisabled || st.RevokedAt.IsZero() || st.Live(at) {
		t.Errorf("SessionState = %+v, %v; want disabled and revoked", st, err)
	}
	_, err = s.Rotate(ctx, store.Rotation{OldHash: tok1.Hash, Now: at, Grace: 5 * time.Second, Mint: noMint(t)})
	wantErr(t, "Rotate for a disabled user", err, store.ErrSessionRevoked)
	blocked := randomID()
	err = s.CreateSession(ctx, store.Session{ID: blocked, UserID: u.ID, CreatedAt: at}, newPair(at, time.Hour))
	wantErr(t, "CreateSession for a disabled user", err, store.ErrSessionRevoked)
	_, err = s.Session(ctx, blocked)
	wantErr(t, "the refused session", err, store.ErrNotFound)

	rr, err = s.SetUserDisabled(ctx, u.ID, true, at.Add(time.Minute))
	if err != nil || len(rr.Revocations) != 0 {
		t.Errorf("disabling twice = %+v, %v; want nothing", rr, err)
	}
	rr, err = s.SetUserDisabled(ctx, u.ID, false, at.Add(2*time.Minute))
	if err != nil || len(rr.Revocations) != 0 || len(rr.Tokens) != 0 {
		t.Errorf("SetUserDisabled(false) = %+v, %v", rr, err)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.Disabled {
		t.Error("user still disabled")
	}
	for _, id := range []string{s1.ID, s2.ID} {
		if mustSession(t, s, id).RevokedAt.IsZero() {
			t.Errorf("enabling the user revived session %s", id)
		}
	}
	s3, tok3 := createSession(t, s, u.ID, at.Add(3*time.Minute), time.Hour)
	rotate(t, s, tok3.Hash, at.Add(4*time.Minute), 0)
	if n := len(logRowsFor(t, s, s3.ID)); n != 0 {
		t.Errorf("new session has %d log rows", n)
	}

	// A user created disabled cannot log in either.
	off, err := s.CreateUser(ctx, store.User{Email: "off@example.com", PasswordHash: "x", Disabled: true, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	err = s.CreateSession(ctx, store.Session{ID: randomID(), UserID: off.ID, CreatedAt: t0}, newPair(t0, time.Hour))
	wantErr(t, "CreateSession for a user created disabled", err, store.ErrSessionRevoked)

	_, err = s.SetUserDisabled(ctx, "no-such-user", true, at)
	wantErr(t, "SetUserDisabled(unknown)", err, store.ErrNotFound)
}

func testRotate(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "rotate@example.com", "reader")
	sess, tok0 := createSession(t, s, u.ID, t0, time.Hour)

	t1 := t0.Add(10 * time.Minute)
	var (
		calls   int
		minted  store.RefreshToken
		gotSess store.Session
		gotUser store.User
	)
	res, err := s.Rotate(ctx, store.Rotation{
		OldHash: tok0.Hash, Now: t1, Grace: 5 * time.Second,
		Mint: func(ss store.Session, uu store.User) (store.RefreshToken, error) {
			calls++
			gotSess, gotUser = ss, uu
			minted = newPair(t1, 24*time.Hour)
			// Fields Rotate owns are overwritten, whatever Mint says.
			minted.SessionID, minted.ParentHash, minted.CreatedAt, minted.UsedAt = "wrong", "wrong", t0, t0
			return minted, nil
		},
	})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if calls != 1 || gotSess.ID != sess.ID || gotUser.ID != u.ID || !slices.Equal(gotUser.Roles, []string{"reader"}) {
		t.Errorf("Mint called %d times with %+v, %+v", calls, gotSess, gotUser)
	}
	n := res.New
	if n.Hash != minted.Hash || n.AccessHash != minted.AccessHash || n.SessionID != sess.ID || n.ParentHash != tok0.Hash ||
		!n.CreatedAt.Equal(us(t1)) || !n.ExpiresAt.Equal(us(t1.Add(24*time.Hour))) ||
		!n.AccessExpiresAt.Equal(us(t1.Add(accessTTL))) || !n.UsedAt.IsZero() {
		t.Errorf("New = %+v", n)
	}
	if o := res.Old; o.Hash != tok0.Hash || o.SessionID != sess.ID || o.AccessHash != tok0.AccessHash ||
		o.ParentHash != "" || !o.UsedAt.Equal(us(t1)) || !o.ExpiresAt.Equal(us(tok0.ExpiresAt)) ||
		!o.AccessExpiresAt.Equal(us(tok0.AccessExpiresAt)) || !o.CreatedAt.Equal(us(tok0.CreatedAt)) {
		t.Errorf("Old = %+v, want the presented pair %+v, used at %v", o, tok0, t1)
	}
	if res.Session.ID != sess.ID || !res.Session.LastUsedAt.Equal(us(t1)) || !res.Session.ExpiresAt.Equal(us(t1.Add(24*time.Hour))) {
		t.Errorf("result Session = %+v", res.Session)
	}
	if res.User.ID != u.ID || res.User.Email != u.Email {
		t.Errorf("result User = %+v", res.User)
	}
	if len(res.Revoked.Revocations) != 0 {
		t.Errorf("Revoked = %+v on success", res.Revoked)
	}
	stored := mustSession(t, s, sess.ID)
	sameTime(t, "stored LastUsedAt", stored.LastUsedAt, us(t1))
	sameTime(t, "stored ExpiresAt", stored.ExpiresAt, us(t1.Add(24*time.Hour)))
	sameTime(t, "stored CreatedAt", stored.CreatedAt, us(t0))
	if byHash, err := s.SessionByRefreshHash(ctx, n.Hash); err != nil || byHash.ID != sess.ID {
		t.Errorf("SessionByRefreshHash(new) = %+v, %v", byHash, err)
	}
	if byHash, err := s.SessionByRefreshHash(ctx, tok0.Hash); err != nil || byHash.ID != sess.ID {
		t.Errorf("SessionByRefreshHash(used) = %+v, %v", byHash, err)
	}

	// The chain goes on, and the session's expiry never moves back.
	t2 := t1.Add(10 * time.Minute)
	res2, err := s.Rotate(ctx, store.Rotation{OldHash: n.Hash, Now: t2, Grace: 5 * time.Second, Mint: minter(t2, time.Hour)})
	if err != nil {
		t.Fatalf("second Rotate: %v", err)
	}
	if res2.New.ParentHash != n.Hash {
		t.Errorf("second New.ParentHash = %s, want %s", res2.New.ParentHash, n.Hash)
	}
	if o := res2.Old; o.Hash != n.Hash || o.ParentHash != tok0.Hash || o.AccessHash != n.AccessHash || !o.UsedAt.Equal(us(t2)) {
		t.Errorf("second Old = %+v, want %s used at %v", o, n.Hash, t2)
	}
	sameTime(t, "ExpiresAt after a shorter successor", mustSession(t, s, sess.ID).ExpiresAt, us(t1.Add(24*time.Hour)))
	sameTime(t, "LastUsedAt after the second rotation", mustSession(t, s, sess.ID).LastUsedAt, us(t2))
	// Presented again within the grace period: Old keeps the first use.
	res3, err := s.Rotate(ctx, store.Rotation{OldHash: n.Hash, Now: t2.Add(time.Second), Grace: 5 * time.Second, Mint: minter(t2, time.Hour)})
	if err != nil {
		t.Fatalf("Rotate within the grace period: %v", err)
	}
	if !res3.Old.UsedAt.Equal(us(t2)) {
		t.Errorf("Old.UsedAt of a second presentation = %v, want the first use %v", res3.Old.UsedAt, t2)
	}
	if n := lastSeq(t, s); n != 0 {
		t.Errorf("rotation wrote %d log rows", n)
	}
}

func testRotateMintFails(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "mint@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, time.Hour)
	now := t0.Add(time.Minute)
	boom := errors.New("signing key unavailable")
	_, err := s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: now, Grace: 0,
		Mint: func(store.Session, store.User) (store.RefreshToken, error) { return store.RefreshToken{}, boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("Rotate with a failing Mint: %v, want it to wrap %v", err, boom)
	}
	_, err = s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: now, Grace: 0,
		Mint: func(store.Session, store.User) (store.RefreshToken, error) {
			return store.RefreshToken{ExpiresAt: now}, nil
		}})
	if err == nil {
		t.Fatal("Rotate accepted a successor without hash")
	}
	_, err = s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: now})
	if err == nil {
		t.Fatal("Rotate without Mint succeeded")
	}
	// None of that used the token up (grace 0 would make a second use a replay).
	rotate(t, s, tok0.Hash, now, 0)
	if st := mustSession(t, s, sess.ID); !st.RevokedAt.IsZero() {
		t.Error("session revoked")
	}
	// A successor must not collide with an existing token; the failed rotation
	// leaves the presented token unused.
	_, other := createSession(t, s, u.ID, t0, time.Hour)
	_, err = s.Rotate(ctx, store.Rotation{OldHash: other.Hash, Now: now, Grace: 0,
		Mint: func(store.Session, store.User) (store.RefreshToken, error) {
			p := newPair(now, time.Hour)
			p.Hash = tok0.Hash
			return p, nil
		}})
	wantErr(t, "Rotate minting an existing hash", err, store.ErrConflict)
	rotate(t, s, other.Hash, now, 0)
}

func testRotateExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "expired@example.com")
	sess, tok := createSession(t, s, u.ID, t0, time.Hour)
	for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		_, err := s.Rotate(ctx, store.Rotation{OldHash: tok.Hash, Now: at, Grace: 5 * time.Second, Mint: noMint(t)})
		wantErr(t, "Rotate at "+at.Sub(t0).String(), err, store.ErrTokenExpired)
	}
	if !mustSession(t, s, sess.ID).RevokedAt.IsZero() || lastSeq(t, s) != 0 {
		t.Error("an expired token revoked its session")
	}
	_, tok2 := createSession(t, s, u.ID, t0, time.Hour)
	rotate(t, s, tok2.Hash, t0.Add(time.Hour-time.Microsecond), 5*time.Second)
}

func testRotateUnknown(t *testing.T, s store.Store) {
	h := randomHash()
	_, err := s.Rotate(context.Background(), store.Rotation{OldHash: h, Now: t0, Grace: 5 * time.Second, Mint: noMint(t)})
	wantErr(t, "Rotate(unknown)", err, store.ErrNotFound)
	if strings.Contains(err.Error(), h) {
		t.Errorf("error carries the token hash: %v", err)
	}
}

func testReuseOutsideGrace(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "reuse@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	t1 := t0.Add(time.Minute)
	child := rotate(t, s, tok0.Hash, t1, 5*time.Second).New

	replay := t1.Add(5*time.Second + time.Microsecond)
	res, err := s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: replay, Grace: 5 * time.Second, Mint: noMint(t)})
	wantErr(t, "replay after the grace period", err, store.ErrTokenReused)
	if len(res.Revoked.Revocations) != 1 {
		t.Fatalf("Revoked = %+v, want one revocation", res.Revoked)
	}
	rv := res.Revoked.Revocations[0]
	if rv.SessionID != sess.ID || rv.UserID != u.ID || rv.Reason != store.ReasonReuse || !rv.At.Equal(us(replay)) {
		t.Errorf("Revocation = %+v", rv)
	}
	if got, want := refreshHashes(res.Revoked.Tokens), sorted(child.Hash); !slices.Equal(got, want) {
		t.Errorf("revoked refresh hashes = %v, want %v (the unused one only)", got, want)
	}
	if res.Session.ID != sess.ID || res.Session.RevokedAt.IsZero() || res.User.ID != u.ID {
		t.Errorf("result Session %+v, User %+v", res.Session, res.User)
	}
	// The revocation was committed, not rolled back with the error.
	sameTime(t, "RevokedAt", mustSession(t, s, sess.ID).RevokedAt, us(replay))
	if rows := logRowsFor(t, s, sess.ID); len(rows) != 1 || rows[0] != rv {
		t.Errorf("log rows for the session = %+v, want [%+v]", rows, rv)
	}

	_, err = s.Rotate(ctx, store.Rotation{OldHash: child.Hash, Now: replay, Grace: 5 * time.Second, Mint: noMint(t)})
	wantErr(t, "the successor after the replay", err, store.ErrSessionRevoked)
	_, err = s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: replay.Add(time.Second), Grace: 5 * time.Second, Mint: noMint(t)})
	if !errors.Is(err, store.ErrSessionRevoked) && !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("second replay: %v", err)
	}
	if rows := logRowsFor(t, s, sess.ID); len(rows) != 1 {
		t.Errorf("log has %d rows for the session after a second replay, want 1", len(rows))
	}
}

func testReuseInsideGrace(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "grace@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	const grace = 5 * time.Second
	t1 := t0.Add(time.Minute)
	c1 := rotate(t, s, tok0.Hash, t1, grace).New
	c2 := rotate(t, s, tok0.Hash, t1.Add(2*time.Second), grace).New
	c3 := rotate(t, s, tok0.Hash, t1.Add(grace), grace).New // exactly at the limit: still a sibling
	for _, c := range []store.RefreshToken{c2, c3} {
		if c.ParentHash != tok0.Hash || c.Hash == c1.Hash {
			t.Errorf("sibling %+v, want parent %s", c, tok0.Hash)
		}
	}
	// Every sibling is a working token.
	g := rotate(t, s, c2.Hash, t1.Add(3*time.Second), grace).New
	if !mustSession(t, s, sess.ID).RevokedAt.IsZero() || lastSeq(t, s) != 0 {
		t.Fatal("a presentation inside the grace period revoked the session")
	}

	// The grace period runs from the first use, not the latest: a microsecond past
	// it is a replay although the token was last presented a microsecond ago.
	replay := t1.Add(grace + time.Microsecond)
	res, err := s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: replay, Grace: grace, Mint: noMint(t)})
	wantErr(t, "replay after the grace period of the first use", err, store.ErrTokenReused)
	// tok0 and c2 were rotated: only the unused siblings' refresh tokens are named;
	// every pair's access token is.
	if got, want := refreshHashes(res.Revoked.Tokens), sorted(c1.Hash, c3.Hash, g.Hash); !slices.Equal(got, want) {
		t.Errorf("revoked refresh hashes = %v, want %v", got, want)
	}
	if got, want := accessHashes(res.Revoked.Tokens), sorted(tok0.AccessHash, c1.AccessHash, c2.AccessHash, c3.AccessHash, g.AccessHash); !slices.Equal(got, want) {
		t.Errorf("revoked access hashes = %v, want %v", got, want)
	}
}

func testReuseWithoutGrace(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "nograce@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	t1 := t0.Add(time.Minute)
	rotate(t, s, tok0.Hash, t1, 0)
	_, err := s.Rotate(ctx, store.Rotation{OldHash: tok0.Hash, Now: t1, Grace: 0, Mint: noMint(t)})
	wantErr(t, "second use at the same instant with no grace", err, store.ErrTokenReused)
	if mustSession(t, s, sess.ID).RevokedAt.IsZero() {
		t.Error("session not revoked")
	}
}

// testRevocationsSince: the window read by time, paged by seq.
func testRevocationsSince(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "since@example.com")
	var all []store.Revocation
	for i := range 5 {
		sess, _ := createSession(t, s, u.ID, t0, 24*time.Hour)
		rr, err := s.RevokeSession(ctx, sess.ID, store.ReasonLogout, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rr.Revocations...)
	}
	for _, tc := range []struct {
		name  string
		since time.Time
		after int64
		limit int
		want  []store.Revocation
	}{
		{"everything", t0.Add(-time.Hour), 0, 0, all},
		{"from the third minute (inclusive)", t0.Add(2 * time.Minute), 0, 0, all[2:]},
		{"a microsecond later", t0.Add(2*time.Minute + time.Microsecond), 0, 0, all[3:]},
		{"paged", t0.Add(time.Minute), 0, 2, all[1:3]},
		{"next page", t0.Add(time.Minute), all[2].Seq, 2, all[3:5]},
		{"after the end", t0, all[4].Seq, 0, nil},
		{"in the future", t0.Add(time.Hour), 0, 0, nil},
	} {
		got, err := s.RevocationsSince(ctx, tc.since, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("RevocationsSince(%s) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// testRevocationSync: new log rows are unsynced, come back with their sessions'
// live tokens until marked synced, and rows older than since are left out.
func testRevocationSync(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "sync@example.com")
	old, _ := createSession(t, s, u.ID, t0, 24*time.Hour)
	if _, err := s.RevokeSession(ctx, old.ID, store.ReasonLogout, t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(10 * time.Minute)
	a, aPair := createSession(t, s, u.ID, now, 24*time.Hour)
	createSession(t, s, u.ID, now, 24*time.Hour)
	rr, err := s.RevokeUser(ctx, u.ID, store.ReasonLogoutAll, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Revocations) != 2 {
		t.Fatalf("RevokeUser revoked %d sessions, want 2", len(rr.Revocations))
	}

	got, err := s.UnsyncedRevocations(ctx, now.Add(-time.Minute), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Revocations, rr.Revocations) {
		t.Fatalf("UnsyncedRevocations = %+v, want the two rows of the logout-all %+v", got.Revocations, rr.Revocations)
	}
	if len(got.Tokens) != 2 {
		t.Fatalf("UnsyncedRevocations listed %d token pairs, want 2: %+v", len(got.Tokens), got.Tokens)
	}
	var sawA bool
	for _, th := range got.Tokens {
		if th.SessionID == a.ID {
			sawA = true
			if th.Access != aPair.AccessHash || th.Refresh != aPair.Hash || th.UserID != u.ID {
				t.Errorf("tokens of session a = %+v, want access %s refresh %s", th, aPair.AccessHash, aPair.Hash)
			}
			sameTime(t, "access expiry", th.AccessExpiresAt, us(aPair.AccessExpiresAt))
		}
	}
	if !sawA {
		t.Errorf("no tokens listed for session %s", a.ID)
	}
	// Everything since the epoch: the old row too.
	if all, err := s.UnsyncedRevocations(ctx, time.Unix(0, 0), now, 0); err != nil || len(all.Revocations) != 3 {
		t.Fatalf("UnsyncedRevocations(all) = %d rows, %v; want 3", len(all.Revocations), err)
	}
	// Limit.
	if page, err := s.UnsyncedRevocations(ctx, time.Unix(0, 0), now, 1); err != nil || len(page.Revocations) != 1 {
		t.Fatalf("UnsyncedRevocations(limit 1) = %d rows, %v", len(page.Revocations), err)
	}

	if err := s.MarkRevocationsSynced(ctx, []int64{rr.Revocations[0].Seq, 1 << 40}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRevocationsSynced(ctx, nil, now); err != nil {
		t.Fatal(err)
	}
	got, err = s.UnsyncedRevocations(ctx, now.Add(-time.Minute), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Revocations) != 1 || got.Revocations[0] != rr.Revocations[1] {
		t.Fatalf("after marking one synced: %+v, want only %+v", got.Revocations, rr.Revocations[1])
	}
	for _, th := range got.Tokens {
		if th.SessionID != rr.Revocations[1].SessionID {
			t.Errorf("tokens of synced session %s still listed", th.SessionID)
		}
	}
	// After the tokens expired, the row is still unsynced but has nothing to deny.
	later := now.Add(48 * time.Hour)
	got, err = s.UnsyncedRevocations(ctx, now.Add(-time.Minute), later, 0)
	if err != nil || len(got.Revocations) != 1 || len(got.Tokens) != 0 {
		t.Fatalf("at a later time: %+v, %v; want one row and no tokens", got, err)
	}
}

func testRevocationLog(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rows, err := s.RevocationsAfter(ctx, 0, 10); err != nil || len(rows) != 0 {
		t.Fatalf("RevocationsAfter on an empty log = %v, %v", rows, err)
	}
	u := createUser(t, s, "log@example.com")
	reasons := []string{store.ReasonLogout, store.ReasonAdmin, store.ReasonLogout, store.ReasonReuse, store.ReasonLogoutAll}
	var want []store.Revocation
	for i, reason := range reasons {
		sess, _ := createSession(t, s, u.ID, t0, 24*time.Hour)
		rr, err := s.RevokeSession(ctx, sess.ID, reason, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rr.Revocations...)
	}
	for i := 1; i < len(want); i++ {
		if want[i].Seq != want[i-1].Seq+1 {
			t.Errorf("seq %d follows %d: the log has a gap", want[i].Seq, want[i-1].Seq)
		}
	}
	if got := lastSeq(t, s); got != want[4].Seq {
		t.Errorf("LastRevocationSeq = %d, want %d", got, want[4].Seq)
	}
	for _, tc := range []struct {
		name  string
		after int64
		limit int
		want  []store.Revocation
	}{
		{"all, default limit", 0, 0, want},
		{"all, negative limit", 0, -1, want},
		{"first page", 0, 2, want[:2]},
		{"second page", want[1].Seq, 2, want[2:4]},
		{"last page", want[3].Seq, 2, want[4:]},
		{"nothing newer", want[4].Seq, 10, nil},
	} {
		got, err := s.RevocationsAfter(ctx, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("RevocationsAfter(%s) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func testSessionState(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "state@example.com")
	sess, tok := createSession(t, s, u.ID, t0, time.Hour)
	st, err := s.SessionState(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.SessionID != sess.ID || st.UserID != u.ID || !st.ExpiresAt.Equal(us(t0.Add(time.Hour))) ||
		!st.RevokedAt.IsZero() || st.UserDisabled {
		t.Errorf("SessionState = %+v", st)
	}
	if !st.Live(t0.Add(time.Minute)) || st.Live(t0.Add(time.Hour)) {
		t.Errorf("Live: want live before expiry only")
	}
	rotate(t, s, tok.Hash, t0.Add(30*time.Minute), 0)
	if st, _ := s.SessionState(ctx, sess.ID); !st.ExpiresAt.Equal(us(t0.Add(30*time.Minute + 24*time.Hour))) {
		t.Errorf("ExpiresAt after rotation = %v", st.ExpiresAt)
	}
	if _, err := s.RevokeSession(ctx, sess.ID, store.ReasonLogout, t0.Add(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err = s.SessionState(ctx, sess.ID)
	if err != nil || !st.RevokedAt.Equal(us(t0.Add(40*time.Minute))) || st.Live(t0.Add(41*time.Minute)) {
		t.Errorf("SessionState after revoke = %+v, %v", st, err)
	}
	_, err = s.SessionState(ctx, "no-such-session")
	wantErr(t, "SessionState(unknown)", err, store.ErrNotFound)
}

func testPruneExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "prune@example.com")
	revoke := func(id string, at time.Time) []store.Revocation {
		t.Helper()
		rr, err := s.RevokeSession(ctx, id, store.ReasonLogout, at)
		if err != nil || len(rr.Revocations) != 1 {
			t.Fatalf("RevokeSession: %+v, %v", rr, err)
		}
		return rr.Revocations
	}
	before := t0.Add(2 * time.Hour) // the caller's now minus its retention

	// A: expired before `before`, never revoked → goes with its token.
	sA, tokA := createSession(t, s, u.ID, t0, time.Hour)
	// B: live. Its first token expired (goes); its second was rotated but has not
	// expired: reuse detection needs it, so it stays; the third is current.
	sB, tokB0 := createSession(t, s, u.ID, t0, time.Hour)
	tokB1 := rotate(t, s, tokB0.Hash, t0.Add(10*time.Minute), 0).New // lives 24h
	tokB2 := rotate(t, s, tokB1.Hash, t0.Add(20*time.Minute), 0).New
	// C: revoked (not expired), its access token expired before `before` → its
	// unused refresh token, the session and the log row go.
	sC, _ := createSession(t, s, u.ID, t0, 24*time.Hour)
	revoke(sC.ID, t0.Add(5*time.Minute))
	// D: revoked and expired → goes, log row too.
	sD, _ := createSession(t, s, u.ID, t0, time.Hour)
	revoke(sD.ID, t0.Add(time.Minute))
	// G: revoked after a rotation → both pairs (used and current) go.
	sG, tokG0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	rotate(t, s, tokG0.Hash, t0.Add(time.Minute), 0)
	revoke(sG.ID, t0.Add(3*time.Minute))
	// E: revoked before `before`, but its access token expires exactly at `before`
	// (it could be presented until then) → everything stays, the log row included.
	eAt := before.Add(-accessTTL)
	sE, tokE := createSession(t, s, u.ID, eAt, 24*time.Hour)
	logE := revoke(sE.ID, eAt.Add(5*time.Minute))
	// F: revoked after `before` → stays.
	sF, _ := createSession(t, s, u.ID, before, 24*time.Hour)
	logF := revoke(sF.ID, before.Add(time.Minute))
	last := lastSeq(t, s)

	got, err := s.PruneExpired(ctx, before)
	if err != nil {
		t.Fatalf("PruneExpired: %v", err)
	}
	// tokA, tokB0, C's, D's, G's two; sA, sC, sD, sG; C's, D's, G's log rows.
	if want := (store.Pruned{Tokens: 6, Sessions: 4, Revocations: 3}); got != want {
		t.Errorf("PruneExpired = %+v, want %+v", got, want)
	}
	if got.Total() != 13 {
		t.Errorf("Total = %d, want 13", got.Total())
	}
	for _, id := range []string{sA.ID, sC.ID, sD.ID, sG.ID} {
		_, err := s.Session(ctx, id)
		wantErr(t, "pruned session", err, store.ErrNotFound)
		_, err = s.SessionState(ctx, id)
		wantErr(t, "state of a pruned session", err, store.ErrNotFound)
	}
	for _, h := range []string{tokA.Hash, tokB0.Hash, tokG0.Hash} {
		_, err := s.SessionByRefreshHash(ctx, h)
		wantErr(t, "pruned token", err, store.ErrNotFound)
	}
	for _, h := range []string{tokB1.Hash, tokB2.Hash} {
		if got, err := s.SessionByRefreshHash(ctx, h); err != nil || got.ID != sB.ID {
			t.Errorf("token of a live session: %+v, %v", got, err)
		}
	}
	if got, err := s.SessionByRefreshHash(ctx, tokE.Hash); err != nil || got.ID != sE.ID {
		t.Errorf("token of a session whose access token was live until `before`: %+v, %v", got, err)
	}
	mustSession(t, s, sF.ID)
	if rows, want := logRows(t, s), append(slices.Clone(logE), logF...); !slices.Equal(rows, want) {
		t.Errorf("log after prune = %+v, want %+v", rows, want)
	}
	if got := lastSeq(t, s); got != last {
		t.Errorf("LastRevocationSeq after prune = %d, want %d", got, last)
	}
	if got, err := s.PruneExpired(ctx, before); err != nil || got != (store.Pruned{}) {
		t.Errorf("second PruneExpired = %+v, %v; want nothing", got, err)
	}

	// A microsecond later E's access token has expired too: E goes, log row included.
	got, err = s.PruneExpired(ctx, before.Add(time.Microsecond))
	if err != nil || got != (store.Pruned{Tokens: 1, Sessions: 1, Revocations: 1}) {
		t.Errorf("PruneExpired past E's access token = %+v, %v; want E's token, session and log row", got, err)
	}
	if rows := logRows(t, s); !slices.Equal(rows, logF) {
		t.Errorf("log = %+v, want %+v", rows, logF)
	}

	// The kept rotated token still trips reuse detection.
	res, err := s.Rotate(ctx, store.Rotation{OldHash: tokB1.Hash, Now: before, Grace: 5 * time.Second, Mint: noMint(t)})
	wantErr(t, "replay of a rotated token after pruning", err, store.ErrTokenReused)
	// Seq values are never reused.
	if len(res.Revoked.Revocations) != 1 || res.Revoked.Revocations[0].Seq != last+1 {
		t.Errorf("revocation after prune = %+v, want seq %d", res.Revoked.Revocations, last+1)
	}
}

// testPruneBatches: more rows than one batch deletes are all pruned, and counted.
func testPruneBatches(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := createUser(t, s, "batches@example.com")
	sess, tok := createSession(t, s, u.ID, t0, 24*time.Hour)
	const n = 1100 // > rules.PruneBatch (1000)
	old := tok.Hash
	for i := range n {
		old = rotate(t, s, old, t0.Add(time.Duration(i+1)*time.Millisecond), 0).New.Hash
	}
	if _, err := s.RevokeSession(ctx, sess.ID, store.ReasonLogout, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := s.PruneExpired(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Pruned{Tokens: n + 1, Sessions: 1, Revocations: 1}); got != want {
		t.Errorf("PruneExpired = %+v, want %+v", got, want)
	}
}
