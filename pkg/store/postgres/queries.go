package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

// Lock order, the same in every transaction so that none can deadlock another:
// refresh_tokens row → users row → sessions rows (by id) → revocation_counter row.
// Rotate: token FOR UPDATE, then session FOR UPDATE (user read without a lock).
// RevokeSession / RevokeUser: sessions FOR UPDATE, then the counter.
// SetUserDisabled: the user row (UPDATE), then sessions, then the counter.
// CreateSession: the user row FOR SHARE (so it serializes with SetUserDisabled).
//
// Because Rotate and the revocations both lock the session row before reading or
// writing its tokens, a revocation either sees a concurrent rotation's new token (and
// reports it in RevokeResult.Tokens) or the rotation sees the session revoked.

const userColumns = "id, email, password_hash, roles, disabled, created_at"

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Roles, &u.Disabled, &u.CreatedAt); err != nil {
		return store.User{}, err
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

const sessionColumns = "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip, amr"

func scanSession(row pgx.Row) (store.Session, error) {
	var (
		s       store.Session
		revoked pgtype.Timestamptz
		amr     string
	)
	if err := row.Scan(&s.ID, &s.UserID, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt, &revoked, &s.UserAgent, &s.IP, &amr); err != nil {
		return store.Session{}, err
	}
	s.AMR = rules.SplitAMR(amr)
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastUsedAt.UTC(), s.ExpiresAt.UTC()
	s.RevokedAt = fromNull(revoked)
	return s, nil
}

// null stores the zero time as NULL.
func null(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func fromNull(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// notFound turns pgx.ErrNoRows into store.ErrNotFound.
func notFound(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func insertError(op string, err error) error {
	switch pgCode(err) {
	case uniqueViolation:
		return fmt.Errorf("postgres: %s: %w", op, store.ErrConflict)
	case foreignKeyViolation:
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// rollback ends a transaction that was not committed; after Commit it does nothing.
func rollback(tx pgx.Tx) {
	// A fresh context: the request's may be cancelled, and the connection must still
	// go back to the pool clean.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// CreateUser stores u. An empty ID gets a random UUID and a zero CreatedAt the
// current time; nil Roles are stored as an empty list.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u, err := rules.PrepareUser(u)
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO users (id, email, email_key, password_hash, roles, disabled, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, rules.EmailKey(u.Email), u.PasswordHash, u.Roles, u.Disabled, u.CreatedAt)
	if err != nil {
		return store.User{}, insertError("create user", err)
	}
	return u, nil
}

// UserByEmail finds a user by email, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		"SELECT "+userColumns+" FROM users WHERE email_key = $1", rules.EmailKey(email)))
	if err != nil {
		return store.User{}, notFound("user by email", err)
	}
	return u, nil
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	if err != nil {
		return store.User{}, notFound("user by id", err)
	}
	return u, nil
}

// SetUserDisabled sets the user's disabled flag; disabling revokes every live
// session of the user in the same transaction.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: set user disabled: begin: %w", err)
	}
	defer rollback(tx)
	tag, err := tx.Exec(ctx, "UPDATE users SET disabled = $1 WHERE id = $2", disabled, userID)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: set user disabled: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.RevokeResult{}, fmt.Errorf("postgres: set user disabled: %w", store.ErrNotFound)
	}
	var rr store.RevokeResult
	if disabled {
		sessions, err := lockLiveSessions(ctx, tx, userID, now)
		if err != nil {
			return store.RevokeResult{}, fmt.Errorf("postgres: set user disabled: %w", err)
		}
		if rr, err = revoke(ctx, tx, sessions, store.ReasonDisabled, now); err != nil {
			return store.RevokeResult{}, fmt.Errorf("postgres: set user disabled: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: set user disabled: commit: %w", err)
	}
	return rr, nil
}

// CreateSession stores a new session and its first token pair in one transaction.
// The user must exist (else ErrNotFound) and not be disabled (else
// ErrSessionRevoked); a session id or token hash already stored is ErrConflict.
// Zero times are filled in: the session's CreatedAt from the token's (and the other
// way round), LastUsedAt from CreatedAt, ExpiresAt from the token's ExpiresAt.
func (s *Store) CreateSession(ctx context.Context, sess store.Session, first store.RefreshToken) error {
	sess, first, err := rules.PrepareSession(sess, first)
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: create session: begin: %w", err)
	}
	defer rollback(tx)
	var disabled bool
	if err := tx.QueryRow(ctx, "SELECT disabled FROM users WHERE id = $1 FOR SHARE", sess.UserID).Scan(&disabled); err != nil {
		return notFound("create session", err)
	}
	if disabled {
		return fmt.Errorf("postgres: create session: user disabled: %w", store.ErrSessionRevoked)
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip, amr)
		 VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8)`,
		sess.ID, sess.UserID, sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt, sess.UserAgent, sess.IP, rules.JoinAMR(sess.AMR)); err != nil {
		return insertError("create session", err)
	}
	if err := insertToken(ctx, tx, first); err != nil {
		return insertError("create session", err)
	}
	if sess.IdP != "" {
		if _, err := tx.Exec(ctx,
			"INSERT INTO federated_sessions (session_id, provider, subject, provider_sid) VALUES ($1, $2, $3, $4)",
			sess.ID, sess.IdP, sess.IdPSubject, sess.IdPSID); err != nil {
			return insertError("create session", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: create session: commit: %w", err)
	}
	return nil
}

const tokenColumns = "hash, session_id, parent_hash, access_hash, access_expires_at, created_at, expires_at, used_at"

func scanToken(row pgx.Row) (store.RefreshToken, error) {
	var (
		t                   store.RefreshToken
		parent              pgtype.Text
		accessExpires, used pgtype.Timestamptz
	)
	if err := row.Scan(&t.Hash, &t.SessionID, &parent, &t.AccessHash, &accessExpires, &t.CreatedAt, &t.ExpiresAt, &used); err != nil {
		return store.RefreshToken{}, err
	}
	t.ParentHash = parent.String
	t.AccessExpiresAt, t.UsedAt = fromNull(accessExpires), fromNull(used)
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

func insertToken(ctx context.Context, tx pgx.Tx, t store.RefreshToken) error {
	_, err := tx.Exec(ctx,
		`INSERT INTO refresh_tokens (hash, session_id, parent_hash, access_hash, access_expires_at, created_at, expires_at, used_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
		t.Hash, t.SessionID, nullString(t.ParentHash), t.AccessHash, null(t.AccessExpiresAt), t.CreatedAt, t.ExpiresAt)
	return err
}

// Rotate exchanges a refresh token for its successor; see store.Store. The old
// token's row is locked (SELECT … FOR UPDATE) for the whole transaction, so
// rotations of the same token, from any process, are serialized; Mint runs while the
// lock is held and must not call the store.
func (s *Store) Rotate(ctx context.Context, r store.Rotation) (store.RotateResult, error) {
	if r.Mint == nil {
		return store.RotateResult{}, errors.New("postgres: rotate: nil Mint")
	}
	now := rules.Norm(r.Now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: begin: %w", err)
	}
	defer rollback(tx)

	old, err := scanToken(tx.QueryRow(ctx,
		"SELECT "+tokenColumns+" FROM refresh_tokens WHERE hash = $1 FOR UPDATE", r.OldHash))
	if err != nil {
		return store.RotateResult{}, notFound("rotate", err)
	}
	sessionID := old.SessionID
	if !now.Before(old.ExpiresAt) {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: %w", store.ErrTokenExpired)
	}
	sess, err := scanSession(tx.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = $1 FOR UPDATE", sessionID))
	if err != nil {
		return store.RotateResult{}, notFound("rotate: session", err)
	}
	// Read after the session lock: a SetUserDisabled that committed while we waited
	// is visible here (READ COMMITTED takes a new snapshot per statement).
	user, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", sess.UserID))
	if err != nil {
		return store.RotateResult{}, notFound("rotate: user", err)
	}
	if !sess.Live(now) || user.Disabled {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: %w", store.ErrSessionRevoked)
	}
	if !old.UsedAt.IsZero() && rules.ReuseDetected(old.UsedAt, now, r.Grace) {
		rr, err := revoke(ctx, tx, []store.Session{sess}, store.ReasonReuse, now)
		if err != nil {
			return store.RotateResult{}, fmt.Errorf("postgres: rotate: revoke reused session: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return store.RotateResult{}, fmt.Errorf("postgres: rotate: commit revocation: %w", err)
		}
		sess.RevokedAt = now
		return store.RotateResult{Session: sess, User: user, Revoked: rr},
			fmt.Errorf("postgres: rotate: %w", store.ErrTokenReused)
	}

	next, err := r.Mint(sess, user)
	if err != nil {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: mint: %w", err)
	}
	if next, err = rules.PrepareSuccessor(next, sess, r.OldHash, now); err != nil {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: %w", err)
	}
	if err := insertToken(ctx, tx, next); err != nil {
		return store.RotateResult{}, insertError("rotate: insert successor", err)
	}
	if _, err := tx.Exec(ctx,
		"UPDATE refresh_tokens SET used_at = coalesce(used_at, $1) WHERE hash = $2", now, r.OldHash); err != nil {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: mark used: %w", err)
	}
	sess.LastUsedAt = now
	if next.ExpiresAt.After(sess.ExpiresAt) {
		sess.ExpiresAt = next.ExpiresAt
	}
	if _, err := tx.Exec(ctx,
		"UPDATE sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3",
		sess.LastUsedAt, sess.ExpiresAt, sess.ID); err != nil {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: update session: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RotateResult{}, fmt.Errorf("postgres: rotate: commit: %w", err)
	}
	if old.UsedAt.IsZero() {
		old.UsedAt = now
	}
	return store.RotateResult{Session: sess, User: user, New: next, Old: old}, nil
}

// SessionByRefreshHash finds the session a refresh token (used or not) belongs to.
func (s *Store) SessionByRefreshHash(ctx context.Context, hash string) (store.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx,
		"SELECT "+sessionColumns+" FROM sessions WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = $1)", hash))
	if err != nil {
		return store.Session{}, notFound("session by refresh hash", err)
	}
	return sess, nil
}

// Session finds a session by id, live or not.
func (s *Store) Session(ctx context.Context, id string) (store.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = $1", id))
	if err != nil {
		return store.Session{}, notFound("session", err)
	}
	return sess, nil
}

// ListSessions returns the user's live sessions at now, newest first (an empty,
// non-nil slice when there are none).
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT "+sessionColumns+` FROM sessions
		 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		 ORDER BY created_at DESC, id DESC`, userID, now)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	sessions, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	return sessions, nil
}

func collectSessions(rows pgx.Rows) ([]store.Session, error) {
	defer rows.Close()
	sessions := []store.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		sessions = append(sessions, sess)
	}
	return sessions, rows.Err()
}

// RevokeSession revokes one session; ErrNotFound when there is no such session. A
// session that is already revoked or expired is left as it is (an empty result).
func (s *Store) RevokeSession(ctx context.Context, sessionID, reason string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke session: begin: %w", err)
	}
	defer rollback(tx)
	sess, err := scanSession(tx.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = $1 FOR UPDATE", sessionID))
	if err != nil {
		return store.RevokeResult{}, notFound("revoke session", err)
	}
	if !sess.Live(now) {
		return store.RevokeResult{}, nil
	}
	rr, err := revoke(ctx, tx, []store.Session{sess}, reason, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke session: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke session: commit: %w", err)
	}
	return rr, nil
}

// RevokeUser revokes every live session of the user, one log row each; ErrNotFound
// when there is no such user.
func (s *Store) RevokeUser(ctx context.Context, userID, reason string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke user: begin: %w", err)
	}
	defer rollback(tx)
	var one int
	if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1", userID).Scan(&one); err != nil {
		return store.RevokeResult{}, notFound("revoke user", err)
	}
	sessions, err := lockLiveSessions(ctx, tx, userID, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke user: %w", err)
	}
	rr, err := revoke(ctx, tx, sessions, reason, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke user: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: revoke user: commit: %w", err)
	}
	return rr, nil
}

// lockLiveSessions locks and lists the user's live sessions, in id order (the lock
// order), then returns them oldest first.
func lockLiveSessions(ctx context.Context, tx pgx.Tx, userID string, now time.Time) ([]store.Session, error) {
	rows, err := tx.Query(ctx,
		"SELECT "+sessionColumns+` FROM sessions
		 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		 ORDER BY id FOR UPDATE`, userID, now)
	if err != nil {
		return nil, err
	}
	sessions, err := collectSessions(rows)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(sessions, func(a, b store.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return sessions, nil
}

// revoke marks the given live (and locked) sessions revoked at now, appends one log
// row for each and lists their token pairs that have not expired.
//
// The log's seq values come from the one row of revocation_counter: the UPDATE locks
// that row until this transaction ends, so revoking transactions append one after
// the other and commit in seq order. A reader of RevocationsAfter therefore never
// sees seq N+1 before seq N is visible (with a sequence, a later number can commit
// first, and a reader that moved past it would miss the earlier one forever).
func revoke(ctx context.Context, tx pgx.Tx, sessions []store.Session, reason string, now time.Time) (store.RevokeResult, error) {
	if len(sessions) == 0 {
		return store.RevokeResult{}, nil
	}
	ids := make([]string, len(sessions))
	users := make([]string, len(sessions))
	for i, sess := range sessions {
		ids[i], users[i] = sess.ID, sess.UserID
	}
	if _, err := tx.Exec(ctx, "UPDATE sessions SET revoked_at = $1 WHERE id = ANY($2)", now, ids); err != nil {
		return store.RevokeResult{}, fmt.Errorf("mark sessions revoked: %w", err)
	}
	var last int64
	if err := tx.QueryRow(ctx,
		"UPDATE revocation_counter SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq",
		len(sessions)).Scan(&last); err != nil {
		return store.RevokeResult{}, fmt.Errorf("next revocation seq: %w", err)
	}
	first := last - int64(len(sessions)) + 1
	if _, err := tx.Exec(ctx,
		`INSERT INTO revocations (seq, session_id, user_id, reason, at)
		 SELECT $1 + t.ord - 1, t.sid, t.uid, $4, $5
		 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(sid, uid, ord)`,
		first, ids, users, reason, now); err != nil {
		return store.RevokeResult{}, fmt.Errorf("append revocations: %w", err)
	}
	rr := store.RevokeResult{Revocations: make([]store.Revocation, len(sessions))}
	byID := make(map[string]store.Session, len(sessions))
	for i, sess := range sessions {
		rr.Revocations[i] = store.Revocation{
			Seq: first + int64(i), SessionID: sess.ID, UserID: sess.UserID, Reason: reason, At: now,
		}
		byID[sess.ID] = sess
	}

	// Rotated refresh tokens are left out (rules.LiveTokens): a session refreshed a
	// thousand times reports its live pairs, not a thousand.
	rows, err := tx.Query(ctx, liveTokensQuery, ids, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("list live tokens: %w", err)
	}
	if err := scanLiveTokens(rows, &rr, byID, now); err != nil {
		return store.RevokeResult{}, fmt.Errorf("list live tokens: %w", err)
	}
	return rr, nil
}

// liveTokensQuery lists the token pairs of the sessions in $1 (in that order) of
// which one half can still be presented at $2 (an unexpired access token, or an
// unexpired refresh token not yet rotated).
const liveTokensQuery = `SELECT t.session_id, t.hash, t.expires_at, t.used_at, t.access_hash, t.access_expires_at
		 FROM refresh_tokens t
		 JOIN unnest($1::text[]) WITH ORDINALITY AS s(id, ord) ON s.id = t.session_id
		 WHERE (t.expires_at > $2 AND t.used_at IS NULL) OR t.access_expires_at > $2
		 ORDER BY s.ord, t.created_at, t.hash`

// scanLiveTokens appends the rows of liveTokensQuery to rr and closes them.
func scanLiveTokens(rows pgx.Rows, rr *store.RevokeResult, byID map[string]store.Session, now time.Time) error {
	defer rows.Close()
	for rows.Next() {
		var (
			sid, refresh, access string
			expires              time.Time
			used, accessExpires  pgtype.Timestamptz
		)
		if err := rows.Scan(&sid, &refresh, &expires, &used, &access, &accessExpires); err != nil {
			return err
		}
		if th, ok := rules.LiveTokens(byID[sid], refresh, expires.UTC(), fromNull(used), access, fromNull(accessExpires), now); ok {
			rr.Tokens = append(rr.Tokens, th)
		}
	}
	return rows.Err()
}

// SessionState answers a verifier's cache miss.
func (s *Store) SessionState(ctx context.Context, sessionID string) (store.SessionState, error) {
	var (
		st      store.SessionState
		revoked pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx,
		`SELECT s.id, s.user_id, s.expires_at, s.revoked_at, u.disabled
		 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, sessionID).
		Scan(&st.SessionID, &st.UserID, &st.ExpiresAt, &revoked, &st.UserDisabled)
	if err != nil {
		return store.SessionState{}, notFound("session state", err)
	}
	st.ExpiresAt = st.ExpiresAt.UTC()
	st.RevokedAt = fromNull(revoked)
	return st, nil
}

// RevocationsAfter returns up to limit log rows with Seq > after, in Seq order;
// limit <= 0 means 1000.
func (s *Store) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		limit = rules.DefaultRevocationsLimit
	}
	rows, err := s.pool.Query(ctx,
		"SELECT seq, session_id, user_id, reason, at FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: revocations after: %w", err)
	}
	out, err := collectRevocations(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: revocations after: %w", err)
	}
	return out, nil
}

// LastRevocationSeq is the highest Seq ever appended to the log (pruning old rows
// does not lower it), 0 when nothing was ever revoked.
func (s *Store) LastRevocationSeq(ctx context.Context) (int64, error) {
	var last int64
	if err := s.pool.QueryRow(ctx, "SELECT last_seq FROM revocation_counter WHERE id = 1").Scan(&last); err != nil {
		return 0, fmt.Errorf("postgres: last revocation seq: %w", err)
	}
	return last, nil
}

// RevocationsSince returns up to limit log rows with At >= since and Seq > after,
// in Seq order; limit <= 0 means 1000.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, after int64, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		limit = rules.DefaultRevocationsLimit
	}
	rows, err := s.pool.Query(ctx,
		"SELECT seq, session_id, user_id, reason, at FROM revocations WHERE at >= $1 AND seq > $2 ORDER BY seq LIMIT $3",
		since, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: revocations since: %w", err)
	}
	out, err := collectRevocations(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: revocations since: %w", err)
	}
	return out, nil
}

func collectRevocations(rows pgx.Rows) ([]store.Revocation, error) {
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var rv store.Revocation
		if err := rows.Scan(&rv.Seq, &rv.SessionID, &rv.UserID, &rv.Reason, &rv.At); err != nil {
			return nil, err
		}
		rv.At = rv.At.UTC()
		out = append(out, rv)
	}
	return out, rows.Err()
}

// UnsyncedRevocations returns up to limit unsynced log rows with At >= since, in
// Seq order, with their sessions' token pairs still live at now.
func (s *Store) UnsyncedRevocations(ctx context.Context, since, now time.Time, limit int) (store.RevokeResult, error) {
	if limit <= 0 {
		limit = rules.DefaultRevocationsLimit
	}
	rows, err := s.pool.Query(ctx,
		`SELECT seq, session_id, user_id, reason, at FROM revocations
		 WHERE synced_at IS NULL AND at >= $1 ORDER BY seq LIMIT $2`, since, limit)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: unsynced revocations: %w", err)
	}
	revs, err := collectRevocations(rows)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: unsynced revocations: %w", err)
	}
	rr := store.RevokeResult{Revocations: revs}
	if len(revs) == 0 {
		return rr, nil
	}
	ids := make([]string, 0, len(revs))
	byID := make(map[string]store.Session, len(revs))
	for _, rv := range revs {
		if _, ok := byID[rv.SessionID]; !ok {
			byID[rv.SessionID] = store.Session{ID: rv.SessionID, UserID: rv.UserID}
			ids = append(ids, rv.SessionID)
		}
	}
	trows, err := s.pool.Query(ctx, liveTokensQuery, ids, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: unsynced revocations: %w", err)
	}
	if err := scanLiveTokens(trows, &rr, byID, now); err != nil {
		return store.RevokeResult{}, fmt.Errorf("postgres: unsynced revocations: %w", err)
	}
	return rr, nil
}

// MarkRevocationsSynced sets synced_at on the given rows.
func (s *Store) MarkRevocationsSynced(ctx context.Context, seqs []int64, now time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx,
		"UPDATE revocations SET synced_at = $1 WHERE seq = ANY($2) AND synced_at IS NULL", now, seqs); err != nil {
		return fmt.Errorf("postgres: mark revocations synced: %w", err)
	}
	return nil
}
