package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// racers is how many goroutines present the same refresh token at once.
const racers = 50

type raceResult struct {
	res store.RotateResult
	err error
}

// race presents old to Rotate from racers goroutines released together, spread
// over the given stores, all with the same clock and grace.
func race(t *testing.T, stores []store.Store, old string, now time.Time, grace time.Duration) []raceResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := make([]raceResult, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := stores[i%len(stores)].Rotate(ctx, store.Rotation{
				OldHash: old, Now: now, Grace: grace, Mint: minter(now, 24*time.Hour),
			})
			results[i] = raceResult{res, err}
		}()
	}
	close(start)
	wg.Wait()
	return results
}

// testConcurrentRotateGrace: inside the grace period every racer gets a sibling.
func testConcurrentRotateGrace(t *testing.T, stores []store.Store) {
	s := stores[0]
	u := createUser(t, s, "race-grace@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	now := t0.Add(time.Minute)

	results := race(t, stores, tok0.Hash, now, 5*time.Second)
	children := map[string]bool{}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("racer %d: %v", i, r.err)
			continue
		}
		if r.res.New.ParentHash != tok0.Hash || r.res.New.SessionID != sess.ID {
			t.Errorf("racer %d got %+v, want a child of the presented token", i, r.res.New)
		}
		children[r.res.New.Hash] = true
	}
	if len(children) != racers {
		t.Fatalf("%d distinct successors, want %d", len(children), racers)
	}
	for _, st := range stores {
		if got := mustSession(t, st, sess.ID); !got.RevokedAt.IsZero() {
			t.Fatalf("session revoked by rotations inside the grace period")
		}
	}
	if n := lastSeq(t, s); n != 0 {
		t.Fatalf("log has %d rows, want none", n)
	}
	// Every successor is stored: revoking the session names all of them (and not
	// the rotated tok0).
	rr, err := s.RevokeSession(context.Background(), sess.ID, store.ReasonLogout, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for h := range children {
		want = append(want, h)
	}
	if got := refreshHashes(rr.Tokens); !slices.Equal(got, sorted(want...)) {
		t.Errorf("stored tokens of the session: %d, want the %d children", len(got), racers)
	}
}

// testConcurrentRotateNoGrace: with no grace, exactly one racer wins and the
// replays revoke the session, once.
func testConcurrentRotateNoGrace(t *testing.T, stores []store.Store) {
	s := stores[0]
	u := createUser(t, s, "race-nograce@example.com")
	sess, tok0 := createSession(t, s, u.ID, t0, 24*time.Hour)
	now := t0.Add(time.Minute)

	results := race(t, stores, tok0.Hash, now, 0)
	var (
		won                  []store.RefreshToken
		reused, revoked      int
		revocations          []store.Revocation
		revokedRefreshHashes []string
	)
	for i, r := range results {
		switch {
		case r.err == nil:
			won = append(won, r.res.New)
		case errors.Is(r.err, store.ErrTokenReused):
			reused++
			revocations = append(revocations, r.res.Revoked.Revocations...)
			revokedRefreshHashes = append(revokedRefreshHashes, refreshHashes(r.res.Revoked.Tokens)...)
		case errors.Is(r.err, store.ErrSessionRevoked):
			revoked++
		default:
			t.Errorf("racer %d: unexpected error %v", i, r.err)
		}
	}
	if len(won) != 1 || reused < 1 || len(won)+reused+revoked != racers {
		t.Fatalf("%d won, %d reused, %d revoked; want exactly 1 winner and the rest refused", len(won), reused, revoked)
	}
	if len(revocations) != 1 || revocations[0].SessionID != sess.ID || revocations[0].Reason != store.ReasonReuse {
		t.Fatalf("revocations reported = %+v, want one for the session", revocations)
	}
	if !slices.Contains(revokedRefreshHashes, won[0].Hash) {
		t.Errorf("the revocation does not name the winner's token %s", won[0].Hash)
	}
	for _, st := range stores {
		if mustSession(t, st, sess.ID).RevokedAt.IsZero() {
			t.Fatalf("session live after a replay")
		}
	}
	if rows := logRowsFor(t, s, sess.ID); len(rows) != 1 || rows[0] != revocations[0] {
		t.Fatalf("log rows for the session = %+v, want exactly %+v", rows, revocations[0])
	}
	_, err := s.Rotate(context.Background(), store.Rotation{OldHash: won[0].Hash, Now: now, Grace: 0, Mint: noMint(t)})
	wantErr(t, "the winner's token after the replay", err, store.ErrSessionRevoked)
}

func testConcurrentMigrate(t *testing.T, a, b store.Store) {
	errs := make(chan error, 6)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			if err := s.Migrate(context.Background()); err != nil {
				errs <- fmt.Errorf("Migrate %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	u := createUser(t, a, "both@example.com")
	if got, err := b.UserByEmail(context.Background(), "BOTH@example.com"); err != nil || got.ID != u.ID {
		t.Fatalf("second instance reads %+v, %v", got, err)
	}
}

// testCrossInstance: what one instance writes, the other sees at once (an issuer's
// revocation, a verifier's SessionState and log read).
func testCrossInstance(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	migrate(t, a)
	u := createUser(t, a, "cross@example.com")
	sess, tok := createSession(t, a, u.ID, t0, time.Hour)
	if st, err := b.SessionState(ctx, sess.ID); err != nil || !st.Live(t0) {
		t.Fatalf("SessionState from the other instance = %+v, %v", st, err)
	}
	next := rotate(t, b, tok.Hash, t0.Add(time.Minute), 0).New
	rr, err := a.RevokeSession(ctx, sess.ID, store.ReasonLogout, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := refreshHashes(rr.Tokens); !slices.Contains(got, next.Hash) {
		t.Errorf("revocation by one instance misses the token the other minted")
	}
	if st, err := b.SessionState(ctx, sess.ID); err != nil || st.RevokedAt.IsZero() {
		t.Fatalf("other instance still sees the session live: %+v, %v", st, err)
	}
	rows, err := b.RevocationsAfter(ctx, 0, 10)
	if err != nil || len(rows) != 1 || rows[0] != rr.Revocations[0] {
		t.Fatalf("other instance reads the log as %+v, %v", rows, err)
	}
	if n, err := b.LastRevocationSeq(ctx); err != nil || n != rr.Revocations[0].Seq {
		t.Fatalf("other instance: LastRevocationSeq = %d, %v", n, err)
	}
	_, err = b.Rotate(ctx, store.Rotation{OldHash: next.Hash, Now: t0.Add(3 * time.Minute), Grace: 0, Mint: noMint(t)})
	wantErr(t, "rotation on the other instance after the revocation", err, store.ErrSessionRevoked)
}

// testRevocationFeed: while writers revoke concurrently, a reader that tails the log
// with RevocationsAfter(last) sees every row exactly once and never a gap. A log whose
// seq order differs from its commit order fails this: the reader would see seq N+1,
// move past N, and never see N.
func testRevocationFeed(t *testing.T, stores []store.Store) {
	const (
		writers         = 8
		usersPerWriter  = 4
		sessionsPerUser = 3
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := stores[0]
	reader := stores[len(stores)-1]

	type job struct {
		userID   string
		sessions []string
	}
	jobs := make([][]job, writers)
	want := map[string]bool{} // session ids that must appear in the log
	for i := range writers {
		for j := range usersPerWriter {
			u := createUser(t, w, fmt.Sprintf("feed-%d-%d@example.com", i, j))
			jb := job{userID: u.ID}
			for range sessionsPerUser {
				sess, _ := createSession(t, w, u.ID, t0, 24*time.Hour)
				jb.sessions = append(jb.sessions, sess.ID)
				want[sess.ID] = true
			}
			jobs[i] = append(jobs[i], jb)
		}
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			at := t0.Add(time.Minute)
			for j, jb := range jobs[i] {
				var err error
				if j%2 == 0 { // one session alone, then the rest of the user's at once
					if _, err = s.RevokeSession(ctx, jb.sessions[0], store.ReasonLogout, at); err == nil {
						_, err = s.RevokeUser(ctx, jb.userID, store.ReasonLogoutAll, at)
					}
				} else {
					_, err = s.SetUserDisabled(ctx, jb.userID, true, at)
				}
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	defer func() { cancel(); <-done }() // no writer may outlive the test, even a failed one

	var (
		last     int64
		seen     = map[string]bool{}
		finished bool
	)
	for {
		select {
		case <-done:
			finished = true
		default:
		}
		rows, err := reader.RevocationsAfter(ctx, last, 7)
		if err != nil {
			t.Fatalf("RevocationsAfter(%d): %v", last, err)
		}
		for _, r := range rows {
			if r.Seq != last+1 {
				t.Fatalf("reader at seq %d got seq %d: the log has a gap, or commits out of seq order", last, r.Seq)
			}
			last = r.Seq
			if seen[r.SessionID] {
				t.Fatalf("session %s logged twice", r.SessionID)
			}
			seen[r.SessionID] = true
		}
		if finished && len(rows) == 0 {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("reader saw %d revocations, want %d", len(seen), len(want))
	}
	if n := lastSeq(t, reader); n != last {
		t.Fatalf("LastRevocationSeq = %d, reader ended at %d", n, last)
	}
}

// testRotateRevokeRace: a revocation racing rotations of the same session either
// reports the rotation's new token (the rotation committed first) or makes the
// rotation fail: no rotation can succeed with a token the revocation does not name.
func testRotateRevokeRace(t *testing.T, stores []store.Store) {
	const sessions = 16
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := createUser(t, stores[0], "race-revoke@example.com")
	type outcome struct {
		minted  []string // access hashes of the successors Rotate returned
		revoked []string // access hashes the revocation named
		err     error
	}
	out := make([]outcome, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		sess, tok := createSession(t, stores[0], u.ID, t0, 24*time.Hour)
		rotator := stores[i%len(stores)]
		revoker := stores[(i+1)%len(stores)]
		start := make(chan struct{})
		wg.Add(2)
		go func() { // rotates the newest token until the session is revoked
			defer wg.Done()
			old := tok.Hash
			now := t0.Add(time.Minute)
			for n := 0; ; n++ {
				if n == 3 {
					close(start)
				}
				now = now.Add(time.Millisecond)
				res, err := rotator.Rotate(ctx, store.Rotation{OldHash: old, Now: now, Grace: 0, Mint: minter(now, 24*time.Hour)})
				if errors.Is(err, store.ErrSessionRevoked) {
					if n < 3 {
						close(start)
					}
					return
				}
				if err != nil {
					out[i].err = err
					if n < 3 {
						close(start)
					}
					return
				}
				// Its refresh token is rotated on the next turn (and then no longer
				// named); its access token stays live for the whole test.
				out[i].minted = append(out[i].minted, res.New.AccessHash)
				old = res.New.Hash
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			rr, err := revoker.RevokeSession(ctx, sess.ID, store.ReasonLogout, t0.Add(2*time.Minute))
			if err != nil {
				out[i].err = err
				return
			}
			out[i].revoked = accessHashes(rr.Tokens)
		}()
	}
	wg.Wait()
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("session %d: %v", i, o.err)
		}
		for _, h := range o.minted {
			if !slices.Contains(o.revoked, h) {
				t.Fatalf("session %d: rotation succeeded with a token the racing revocation does not name (%d minted, %d named)",
					i, len(o.minted), len(o.revoked))
			}
		}
	}
}
