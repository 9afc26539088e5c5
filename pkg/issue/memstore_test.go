package issue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// memStore is a hand-written in-memory Store that follows the store.Store contract
// (rotation with grace and reuse detection, revocation results), for unit tests.
// The function fields, when set, replace a method to inject failures.
type memStore struct {
	mu       sync.Mutex
	users    map[string]store.User // by id
	sessions map[string]store.Session
	tokens   map[string]store.RefreshToken // by hash
	revs     []store.Revocation
	seq      int64

	ping          func(context.Context) error
	userByEmail   func(context.Context, string) (store.User, error)
	createSession func(context.Context, store.Session, store.RefreshToken) error
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		users:    map[string]store.User{},
		sessions: map[string]store.Session{},
		tokens:   map[string]store.RefreshToken{},
	}
}

func (m *memStore) Ping(ctx context.Context) error {
	if m.ping != nil {
		return m.ping(ctx)
	}
	return nil
}

func (m *memStore) CreateUser(_ context.Context, u store.User) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.users {
		if strings.EqualFold(x.Email, u.Email) {
			return store.User{}, store.ErrConflict
		}
	}
	if u.ID == "" {
		u.ID = newID()
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Microsecond)
	m.users[u.ID] = u
	return u, nil
}

func (m *memStore) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if m.userByEmail != nil {
		return m.userByEmail(ctx, email)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.users {
		if strings.EqualFold(x.Email, email) {
			return x, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (m *memStore) UserByID(_ context.Context, id string) (store.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.users {
		if x.ID == id {
			return x, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (m *memStore) SetUserDisabled(_ context.Context, userID string, disabled bool, now time.Time) (store.RevokeResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[userID]
	if !ok {
		return store.RevokeResult{}, store.ErrNotFound
	}
	u.Disabled = disabled
	m.users[userID] = u
	if !disabled {
		return store.RevokeResult{}, nil
	}
	return m.revokeWhere(func(s store.Session) bool { return s.UserID == userID }, store.ReasonDisabled, now), nil
}

func (m *memStore) CreateSession(ctx context.Context, s store.Session, first store.RefreshToken) error {
	if m.createSession != nil {
		return m.createSession(ctx, s, first)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[s.UserID]
	if !ok {
		return store.ErrNotFound
	}
	if u.Disabled {
		return store.ErrSessionRevoked
	}
	if _, dup := m.sessions[s.ID]; dup {
		return store.ErrConflict
	}
	if _, dup := m.tokens[first.Hash]; dup {
		return store.ErrConflict
	}
	first.SessionID = s.ID
	m.sessions[s.ID] = s
	m.tokens[first.Hash] = first
	return nil
}

func (m *memStore) Rotate(_ context.Context, r store.Rotation) (store.RotateResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.tokens[r.OldHash]
	if !ok {
		return store.RotateResult{}, store.ErrNotFound
	}
	if !r.Now.Before(old.ExpiresAt) {
		return store.RotateResult{}, store.ErrTokenExpired
	}
	sess := m.sessions[old.SessionID]
	user := m.users[sess.UserID]
	if !sess.Live(r.Now) || user.Disabled {
		return store.RotateResult{}, store.ErrSessionRevoked
	}
	if !old.UsedAt.IsZero() && (r.Grace == 0 || r.Now.Sub(old.UsedAt) > r.Grace) {
		res := m.revokeWhere(func(s store.Session) bool { return s.ID == sess.ID }, store.ReasonReuse, r.Now)
		return store.RotateResult{Session: m.sessions[sess.ID], User: user, Revoked: res}, store.ErrTokenReused
	}
	next, err := r.Mint(sess, user)
	if err != nil {
		return store.RotateResult{}, err
	}
	next.SessionID, next.ParentHash, next.CreatedAt = sess.ID, old.Hash, r.Now
	if old.UsedAt.IsZero() {
		old.UsedAt = r.Now
		m.tokens[old.Hash] = old
	}
	m.tokens[next.Hash] = next
	sess.LastUsedAt = r.Now
	sess.ExpiresAt = next.ExpiresAt
	m.sessions[sess.ID] = sess
	return store.RotateResult{Session: sess, User: user, New: next, Old: old}, nil
}

func (m *memStore) SessionByRefreshHash(_ context.Context, hash string) (store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	return m.sessions[t.SessionID], nil
}

func (m *memStore) SessionState(_ context.Context, id string) (store.SessionState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return store.SessionState{}, store.ErrNotFound
	}
	return store.SessionState{SessionID: s.ID, UserID: s.UserID, ExpiresAt: s.ExpiresAt, RevokedAt: s.RevokedAt,
		UserDisabled: m.users[s.UserID].Disabled}, nil
}

func (m *memStore) ListSessions(_ context.Context, userID string, now time.Time) ([]store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Session
	for _, s := range m.sessions {
		if s.UserID == userID && s.Live(now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b store.Session) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (m *memStore) RevokeSession(_ context.Context, id, reason string, now time.Time) (store.RevokeResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[id]; !ok {
		return store.RevokeResult{}, store.ErrNotFound
	}
	return m.revokeWhere(func(s store.Session) bool { return s.ID == id }, reason, now), nil
}

func (m *memStore) RevokeUser(_ context.Context, userID, reason string, now time.Time) (store.RevokeResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[userID]; !ok {
		return store.RevokeResult{}, store.ErrNotFound
	}
	return m.revokeWhere(func(s store.Session) bool { return s.UserID == userID }, reason, now), nil
}

// revokeWhere revokes the live sessions that match, one log row each, and lists the
// halves of their token pairs that can still be presented (unexpired access tokens,
// unexpired and unused refresh tokens). Callers hold mu.
func (m *memStore) revokeWhere(match func(store.Session) bool, reason string, now time.Time) store.RevokeResult {
	var res store.RevokeResult
	ids := make([]string, 0)
	for id, s := range m.sessions {
		if match(s) && s.Live(now) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return m.sessions[a].CreatedAt.Compare(m.sessions[b].CreatedAt) })
	for _, id := range ids {
		s := m.sessions[id]
		s.RevokedAt = now
		m.sessions[id] = s
		m.seq++
		rev := store.Revocation{Seq: m.seq, SessionID: id, UserID: s.UserID, Reason: reason, At: now}
		m.revs = append(m.revs, rev)
		res.Revocations = append(res.Revocations, rev)
		for _, t := range m.tokens {
			if t.SessionID != id {
				continue
			}
			th := store.TokenHashes{SessionID: id, UserID: s.UserID}
			if now.Before(t.AccessExpiresAt) {
				th.Access, th.AccessExpiresAt = t.AccessHash, t.AccessExpiresAt
			}
			if t.UsedAt.IsZero() && now.Before(t.ExpiresAt) {
				th.Refresh, th.RefreshExpiresAt = t.Hash, t.ExpiresAt
			}
			if th.Access != "" || th.Refresh != "" {
				res.Tokens = append(res.Tokens, th)
			}
		}
	}
	return res
}

// session returns a stored session, for assertions.
func (m *memStore) session(id string) store.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[id]
}

func (m *memStore) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("memStore{%d users, %d sessions, %d tokens}", len(m.users), len(m.sessions), len(m.tokens))
}
