package verifytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// ErrDown is what the fakes return while SetErr(ErrDown) is in effect.
var ErrDown = errors.New("verifytest: backend down")

// Sessions is an in-memory session table and revocation log with the methods a
// verifier reads (SessionState, RevocationsAfter, RevocationsSince,
// LastRevocationSeq, Ping). It is
// safe for concurrent use. The optional hooks run first; a non-nil error from one
// is returned as the method's.
type Sessions struct {
	OnSessionState      func(sid string) error
	OnRevocationsAfter  func(after int64) error
	OnLastRevocationSeq func() error

	mu       sync.Mutex
	sessions map[string]store.SessionState
	log      []store.Revocation
	err      error
	calls    SessionCalls
}

// SessionCalls counts the calls made to a Sessions.
type SessionCalls struct {
	SessionState, RevocationsAfter, RevocationsSince, LastRevocationSeq int
}

// NewSessions returns an empty store.
func NewSessions() *Sessions {
	return &Sessions{sessions: map[string]store.SessionState{}}
}

// Add records a live session of uid until expires.
func (s *Sessions) Add(sid, uid string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sid] = store.SessionState{SessionID: sid, UserID: uid, ExpiresAt: expires}
}

// Set records a session state as given (revoked, disabled user, …).
func (s *Sessions) Set(st store.SessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[st.SessionID] = st
}

// Revoke marks the session revoked at `at` and appends a log row (next seq),
// which it returns.
func (s *Sessions) Revoke(sid, reason string, at time.Time) store.Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sessions[sid]
	st.SessionID = sid
	st.RevokedAt = at
	s.sessions[sid] = st
	r := store.Revocation{Seq: s.lastSeqLocked() + 1, SessionID: sid, UserID: st.UserID, Reason: reason, At: at}
	s.log = append(s.log, r)
	return r
}

// AppendLog appends a raw log row (any seq, for gap and ordering tests) without
// touching the session table.
func (s *Sessions) AppendLog(r store.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, r)
}

// SetOnRevocationsAfter replaces the OnRevocationsAfter hook while the verifier
// may be reading the log (assigning the field directly would race with it).
func (s *Sessions) SetOnRevocationsAfter(fn func(after int64) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.OnRevocationsAfter = fn
}

// SetErr makes every method fail with err (nil: work again).
func (s *Sessions) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Calls returns the call counts so far.
func (s *Sessions) Calls() SessionCalls {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *Sessions) lastSeqLocked() int64 {
	var m int64
	for _, r := range s.log {
		m = max(m, r.Seq)
	}
	return m
}

// SessionState implements the verifier's store read.
func (s *Sessions) SessionState(_ context.Context, sid string) (store.SessionState, error) {
	s.mu.Lock()
	s.calls.SessionState++
	hook, err := s.OnSessionState, s.err
	st, ok := s.sessions[sid]
	s.mu.Unlock()
	if hook != nil {
		if herr := hook(sid); herr != nil {
			return store.SessionState{}, herr
		}
	}
	if err != nil {
		return store.SessionState{}, err
	}
	if !ok {
		return store.SessionState{}, store.ErrNotFound
	}
	return st, nil
}

// RevocationsAfter implements the verifier's log read: rows with Seq > after, in
// Seq order, at most limit.
func (s *Sessions) RevocationsAfter(_ context.Context, after int64, limit int) ([]store.Revocation, error) {
	s.mu.Lock()
	s.calls.RevocationsAfter++
	hook, err := s.OnRevocationsAfter, s.err
	var out []store.Revocation
	for _, r := range s.log {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	if hook != nil {
		if herr := hook(after); herr != nil {
			return nil, herr
		}
	}
	if err != nil {
		return nil, err
	}
	sortRevocations(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// RevocationsSince implements the verifier's window read: rows with At >= since
// and Seq > after, in Seq order, at most limit. It fails while SetErr is in effect.
func (s *Sessions) RevocationsSince(_ context.Context, since time.Time, after int64, limit int) ([]store.Revocation, error) {
	s.mu.Lock()
	s.calls.RevocationsSince++
	err := s.err
	var out []store.Revocation
	for _, r := range s.log {
		if r.Seq > after && !r.At.Before(since) {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sortRevocations(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func sortRevocations(rs []store.Revocation) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Seq < rs[j-1].Seq; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// LastRevocationSeq implements the verifier's log read.
func (s *Sessions) LastRevocationSeq(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.LastRevocationSeq++
	if s.OnLastRevocationSeq != nil {
		if err := s.OnLastRevocationSeq(); err != nil {
			return 0, err
		}
	}
	if s.err != nil {
		return 0, s.err
	}
	return s.lastSeqLocked(), nil
}

// Ping fails while SetErr is in effect.
func (s *Sessions) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Shared is an in-memory stand-in for Redis as a verifier uses it: the
// access_token:{h} and revoked:{h} keys, and a revocation feed driven by the test
// (Publish, Pong, Drop, Resubscribe run the handler's methods on RunFeed's
// goroutine, as rediscache does). It is safe for concurrent use.
type Shared struct {
	mu         sync.Mutex
	claims     map[string][]byte
	revoked    map[string]bool
	err        error
	calls      SharedCalls
	subscribed int
	ops        chan feedOp
	changed    chan struct{}
}

// SharedCalls counts the calls made to a Shared.
type SharedCalls struct {
	Lookup, Fill, MarkRevoked int
}

type feedOp struct {
	fn   func(ctx context.Context, h rediscache.FeedHandler)
	done chan struct{}
}

// NewShared returns an empty Redis.
func NewShared() *Shared {
	return &Shared{
		claims:  map[string][]byte{},
		revoked: map[string]bool{},
		ops:     make(chan feedOp),
		changed: make(chan struct{}),
	}
}

// SetClaims writes access_token:{h}.
func (s *Shared) SetClaims(h string, claims []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims[h] = claims
}

// SetRevoked writes revoked:{h} and deletes access_token:{h}, as the issuer does.
func (s *Shared) SetRevoked(h string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[h] = true
	delete(s.claims, h)
}

// Flush empties every key (FLUSHALL).
func (s *Shared) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.claims)
	clear(s.revoked)
}

// Claims reads access_token:{h}.
func (s *Shared) Claims(h string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.claims[h]
	return c, ok
}

// Revoked reads revoked:{h}.
func (s *Shared) Revoked(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[h]
}

// SetErr makes Lookup, Fill, MarkRevoked and Ping fail with err (nil: work again).
// The feed is not affected: use Drop for that.
func (s *Shared) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Calls returns the call counts so far.
func (s *Shared) Calls() SharedCalls {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Lookup is MGET access_token:{h} revoked:{h}.
func (s *Shared) Lookup(_ context.Context, h string) (rediscache.Lookup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.Lookup++
	if s.err != nil {
		return rediscache.Lookup{}, s.err
	}
	var l rediscache.Lookup
	if c, ok := s.claims[h]; ok {
		l.Claims = append([]byte(nil), c...)
	}
	l.Revoked = s.revoked[h]
	return l, nil
}

// Fill writes access_token:{h} unless revoked:{h} exists (as the real Lua script).
func (s *Shared) Fill(_ context.Context, h string, claims []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.Fill++
	if s.err != nil {
		return s.err
	}
	if !s.revoked[h] {
		s.claims[h] = append([]byte(nil), claims...)
	}
	return nil
}

// MarkRevoked writes revoked:{h} and deletes access_token:{h}.
func (s *Shared) MarkRevoked(_ context.Context, h string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.MarkRevoked++
	if s.err != nil {
		return s.err
	}
	s.revoked[h] = true
	delete(s.claims, h)
	return nil
}

// Ping fails while SetErr is in effect.
func (s *Shared) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// RunFeed calls h.Subscribed, then runs the test's feed operations on this
// goroutine until ctx ends. pingEvery is ignored: the test sends Pongs itself.
func (s *Shared) RunFeed(ctx context.Context, h rediscache.FeedHandler, _ time.Duration) error {
	h.Subscribed(ctx)
	s.noteSubscribed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case op := <-s.ops:
			op.fn(ctx, h)
			close(op.done)
		}
	}
}

func (s *Shared) noteSubscribed() {
	s.mu.Lock()
	s.subscribed++
	ch := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(ch)
}

// WaitSubscribed waits until the feed has subscribed at least n times.
func (s *Shared) WaitSubscribed(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got, ch := s.subscribed, s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("verifytest: feed subscribed %d times, want %d", got, n)
		}
	}
}

func (s *Shared) run(tb testing.TB, fn func(ctx context.Context, h rediscache.FeedHandler)) {
	tb.Helper()
	op := feedOp{fn: fn, done: make(chan struct{})}
	select {
	case s.ops <- op:
	case <-time.After(10 * time.Second):
		tb.Fatal("verifytest: no feed is running (is the verifier's Run started?)")
	}
	<-op.done
}

// Publish delivers a revocation event, as PUBLISH on the channel would.
func (s *Shared) Publish(tb testing.TB, ev rediscache.Event) {
	tb.Helper()
	s.run(tb, func(_ context.Context, h rediscache.FeedHandler) { h.Event(ev) })
}

// Pong reports the answer to a PING sent at sentAt.
func (s *Shared) Pong(tb testing.TB, sentAt time.Time) {
	tb.Helper()
	s.run(tb, func(_ context.Context, h rediscache.FeedHandler) { h.Fresh(sentAt) })
}

// Drop reports the subscription connection lost.
func (s *Shared) Drop(tb testing.TB, err error) {
	tb.Helper()
	s.run(tb, func(_ context.Context, h rediscache.FeedHandler) { h.Down(err) })
}

// Resubscribe reports a new subscription (after which the handler catches up).
func (s *Shared) Resubscribe(tb testing.TB) {
	tb.Helper()
	s.run(tb, func(ctx context.Context, h rediscache.FeedHandler) { h.Subscribed(ctx) })
	s.noteSubscribed()
}

// EventOf is the feed event of a log row.
func EventOf(r store.Revocation) rediscache.Event {
	ev := rediscache.Event{Seq: r.Seq, SessionID: r.SessionID, UserID: r.UserID, Reason: r.Reason}
	if !r.At.IsZero() {
		ev.At = r.At.UnixNano()
	}
	return ev
}
