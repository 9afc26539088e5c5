package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/internal/rules"
)

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

const userColumns = "id, email, password_hash, roles, disabled, created_at"

func scanUser(row rowScanner) (store.User, error) {
	var (
		u       store.User
		roles   string
		created int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &roles, &u.Disabled, &created); err != nil {
		return store.User{}, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return store.User{}, fmt.Errorf("user %s: roles column: %w", u.ID, err)
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	u.CreatedAt = fromMicros(created)
	return u, nil
}

const sessionColumns = "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip, amr"

func scanSession(row rowScanner) (store.Session, error) {
	var (
		s                          store.Session
		created, lastUsed, expires int64
		revoked                    sql.NullInt64
		amr                        string
	)
	if err := row.Scan(&s.ID, &s.UserID, &created, &lastUsed, &expires, &revoked, &s.UserAgent, &s.IP, &amr); err != nil {
		return store.Session{}, err
	}
	s.AMR = rules.SplitAMR(amr)
	s.CreatedAt = fromMicros(created)
	s.LastUsedAt = fromMicros(lastUsed)
	s.ExpiresAt = fromMicros(expires)
	s.RevokedAt = fromNullMicros(revoked)
	return s, nil
}

// notFound turns sql.ErrNoRows into store.ErrNotFound.
func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// CreateUser stores u. An empty ID gets a random UUID and a zero CreatedAt the
// current time; nil Roles are stored as an empty list.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u, err := rules.PrepareUser(u)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	roles, err := json.Marshal(u.Roles)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	_, err = s.w.exec(ctx,
		`INSERT INTO users (id, email, email_key, password_hash, roles, disabled, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, rules.EmailKey(u.Email), u.PasswordHash, string(roles), u.Disabled, micros(u.CreatedAt))
	if isUniqueViolation(err) {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", store.ErrConflict)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	return u, nil
}

// UserByEmail finds a user by email, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.r.queryRow(ctx,
		"SELECT "+userColumns+" FROM users WHERE email_key = ?", rules.EmailKey(email)))
	if err != nil {
		return store.User{}, notFound("user by email", err)
	}
	return u, nil
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.r.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if err != nil {
		return store.User{}, notFound("user by id", err)
	}
	return u, nil
}

// SetUserDisabled sets the user's disabled flag; disabling revokes every live
// session of the user in the same transaction.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: begin: %w", err)
	}
	defer tx.rollback()
	res, err := tx.exec("UPDATE users SET disabled = ? WHERE id = ?", disabled, userID)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: %w", err)
	} else if n == 0 {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: %w", store.ErrNotFound)
	}
	var rr store.RevokeResult
	if disabled {
		sessions, err := liveSessions(tx, userID, now)
		if err != nil {
			return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: %w", err)
		}
		if rr, err = revoke(tx, sessions, store.ReasonDisabled, now); err != nil {
			return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: %w", err)
		}
	}
	if err := tx.commit(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: set user disabled: commit: %w", err)
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
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: create session: begin: %w", err)
	}
	defer tx.rollback()
	var disabled bool
	if err := tx.queryRow("SELECT disabled FROM users WHERE id = ?", sess.UserID).Scan(&disabled); err != nil {
		return notFound("create session", err)
	}
	if disabled {
		return fmt.Errorf("sqlite: create session: user disabled: %w", store.ErrSessionRevoked)
	}
	_, err = tx.exec(
		`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip, amr)
		 VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
		sess.ID, sess.UserID, micros(sess.CreatedAt), micros(sess.LastUsedAt), micros(sess.ExpiresAt),
		sess.UserAgent, sess.IP, rules.JoinAMR(sess.AMR))
	if err != nil {
		return insertError("create session", err)
	}
	if err := insertToken(tx, first); err != nil {
		return insertError("create session", err)
	}
	if sess.IdP != "" {
		if _, err := tx.exec(
			"INSERT INTO federated_sessions (session_id, provider, subject, provider_sid) VALUES (?, ?, ?, ?)",
			sess.ID, sess.IdP, sess.IdPSubject, sess.IdPSID); err != nil {
			return insertError("create session", err)
		}
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("sqlite: create session: commit: %w", err)
	}
	return nil
}

func insertError(op string, err error) error {
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrConflict)
	case isForeignKeyViolation(err):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

const tokenColumns = "hash, session_id, parent_hash, access_hash, access_expires_at, created_at, expires_at, used_at"

func scanToken(row rowScanner) (store.RefreshToken, error) {
	var (
		t                   store.RefreshToken
		parent              sql.NullString
		created, expires    int64
		accessExpires, used sql.NullInt64
	)
	if err := row.Scan(&t.Hash, &t.SessionID, &parent, &t.AccessHash, &accessExpires, &created, &expires, &used); err != nil {
		return store.RefreshToken{}, err
	}
	t.ParentHash = parent.String
	t.AccessExpiresAt, t.UsedAt = fromNullMicros(accessExpires), fromNullMicros(used)
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return t, nil
}

func insertToken(tx *wtx, t store.RefreshToken) error {
	_, err := tx.exec(
		`INSERT INTO refresh_tokens (hash, session_id, parent_hash, access_hash, access_expires_at, created_at, expires_at, used_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
		t.Hash, t.SessionID, nullString(t.ParentHash), t.AccessHash, nullMicros(t.AccessExpiresAt),
		micros(t.CreatedAt), micros(t.ExpiresAt))
	return err
}

// Rotate exchanges a refresh token for its successor; see store.Store. The
// transaction begins IMMEDIATE, so it holds SQLite's write lock from the first read:
// two rotations of the same token, in this process or another, are serialized.
// Mint runs while the lock is held; it must not call the store.
func (s *Store) Rotate(ctx context.Context, r store.Rotation) (store.RotateResult, error) {
	if r.Mint == nil {
		return store.RotateResult{}, errors.New("sqlite: rotate: nil Mint")
	}
	now := rules.Norm(r.Now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: begin: %w", err)
	}
	defer tx.rollback()

	old, err := scanToken(tx.queryRow("SELECT "+tokenColumns+" FROM refresh_tokens WHERE hash = ?", r.OldHash))
	if err != nil {
		return store.RotateResult{}, notFound("rotate", err)
	}
	sessionID := old.SessionID
	if !now.Before(old.ExpiresAt) {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: %w", store.ErrTokenExpired)
	}
	sess, err := scanSession(tx.queryRow("SELECT "+sessionColumns+" FROM sessions WHERE id = ?", sessionID))
	if err != nil {
		return store.RotateResult{}, notFound("rotate: session", err)
	}
	user, err := scanUser(tx.queryRow("SELECT "+userColumns+" FROM users WHERE id = ?", sess.UserID))
	if err != nil {
		return store.RotateResult{}, notFound("rotate: user", err)
	}
	if !sess.Live(now) || user.Disabled {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: %w", store.ErrSessionRevoked)
	}
	if !old.UsedAt.IsZero() && rules.ReuseDetected(old.UsedAt, now, r.Grace) {
		rr, err := revoke(tx, []store.Session{sess}, store.ReasonReuse, now)
		if err != nil {
			return store.RotateResult{}, fmt.Errorf("sqlite: rotate: revoke reused session: %w", err)
		}
		if err := tx.commit(); err != nil {
			return store.RotateResult{}, fmt.Errorf("sqlite: rotate: commit revocation: %w", err)
		}
		sess.RevokedAt = now
		return store.RotateResult{Session: sess, User: user, Revoked: rr},
			fmt.Errorf("sqlite: rotate: %w", store.ErrTokenReused)
	}

	next, err := r.Mint(sess, user)
	if err != nil {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: mint: %w", err)
	}
	if next, err = rules.PrepareSuccessor(next, sess, r.OldHash, now); err != nil {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: %w", err)
	}
	if err := insertToken(tx, next); err != nil {
		return store.RotateResult{}, insertError("rotate: insert successor", err)
	}
	if _, err := tx.exec(
		"UPDATE refresh_tokens SET used_at = coalesce(used_at, ?) WHERE hash = ?", micros(now), r.OldHash); err != nil {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: mark used: %w", err)
	}
	sess.LastUsedAt = now
	if next.ExpiresAt.After(sess.ExpiresAt) {
		sess.ExpiresAt = next.ExpiresAt
	}
	if _, err := tx.exec(
		"UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?",
		micros(sess.LastUsedAt), micros(sess.ExpiresAt), sess.ID); err != nil {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: update session: %w", err)
	}
	if err := tx.commit(); err != nil {
		return store.RotateResult{}, fmt.Errorf("sqlite: rotate: commit: %w", err)
	}
	if old.UsedAt.IsZero() {
		old.UsedAt = now
	}
	return store.RotateResult{Session: sess, User: user, New: next, Old: old}, nil
}

// SessionByRefreshHash finds the session a refresh token (used or not) belongs to.
func (s *Store) SessionByRefreshHash(ctx context.Context, hash string) (store.Session, error) {
	sess, err := scanSession(s.r.queryRow(ctx,
		"SELECT "+sessionColumns+" FROM sessions WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = ?)", hash))
	if err != nil {
		return store.Session{}, notFound("session by refresh hash", err)
	}
	return sess, nil
}

// Session finds a session by id, live or not.
func (s *Store) Session(ctx context.Context, id string) (store.Session, error) {
	sess, err := scanSession(s.r.queryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
	if err != nil {
		return store.Session{}, notFound("session", err)
	}
	return sess, nil
}

// ListSessions returns the user's live sessions at now, newest first (an empty,
// non-nil slice when there are none).
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	rows, err := s.r.query(ctx,
		"SELECT "+sessionColumns+` FROM sessions
		 WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
		 ORDER BY created_at DESC, id DESC`, userID, micros(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	sessions, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	return sessions, nil
}

func collectSessions(rows *sql.Rows) ([]store.Session, error) {
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
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke session: begin: %w", err)
	}
	defer tx.rollback()
	sess, err := scanSession(tx.queryRow("SELECT "+sessionColumns+" FROM sessions WHERE id = ?", sessionID))
	if err != nil {
		return store.RevokeResult{}, notFound("revoke session", err)
	}
	if !sess.Live(now) {
		return store.RevokeResult{}, nil
	}
	rr, err := revoke(tx, []store.Session{sess}, reason, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke session: %w", err)
	}
	if err := tx.commit(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke session: commit: %w", err)
	}
	return rr, nil
}

// RevokeUser revokes every live session of the user, one log row each; ErrNotFound
// when there is no such user.
func (s *Store) RevokeUser(ctx context.Context, userID, reason string, now time.Time) (store.RevokeResult, error) {
	now = rules.Norm(now)
	tx, err := s.begin(ctx)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke user: begin: %w", err)
	}
	defer tx.rollback()
	var one int
	if err := tx.queryRow("SELECT 1 FROM users WHERE id = ?", userID).Scan(&one); err != nil {
		return store.RevokeResult{}, notFound("revoke user", err)
	}
	sessions, err := liveSessions(tx, userID, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke user: %w", err)
	}
	rr, err := revoke(tx, sessions, reason, now)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke user: %w", err)
	}
	if err := tx.commit(); err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: revoke user: commit: %w", err)
	}
	return rr, nil
}

// liveSessions lists the user's live sessions, oldest first.
func liveSessions(tx *wtx, userID string, now time.Time) ([]store.Session, error) {
	rows, err := tx.query(
		"SELECT "+sessionColumns+` FROM sessions
		 WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
		 ORDER BY created_at, id`, userID, micros(now))
	if err != nil {
		return nil, err
	}
	return collectSessions(rows)
}

// revoke marks the given live sessions revoked at now, appends one log row for each
// (seq taken from revocation_counter) and lists their tokens that have not expired.
func revoke(tx *wtx, sessions []store.Session, reason string, now time.Time) (store.RevokeResult, error) {
	if len(sessions) == 0 {
		return store.RevokeResult{}, nil
	}
	var last int64
	if err := tx.queryRow(
		"UPDATE revocation_counter SET last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq",
		len(sessions)).Scan(&last); err != nil {
		return store.RevokeResult{}, fmt.Errorf("next revocation seq: %w", err)
	}
	seq := last - int64(len(sessions))
	rr := store.RevokeResult{Revocations: make([]store.Revocation, 0, len(sessions))}
	for _, sess := range sessions {
		seq++
		if _, err := tx.exec("UPDATE sessions SET revoked_at = ? WHERE id = ?", micros(now), sess.ID); err != nil {
			return store.RevokeResult{}, fmt.Errorf("mark session revoked: %w", err)
		}
		if _, err := tx.exec(
			"INSERT INTO revocations (seq, session_id, user_id, reason, at) VALUES (?, ?, ?, ?, ?)",
			seq, sess.ID, sess.UserID, reason, micros(now)); err != nil {
			return store.RevokeResult{}, fmt.Errorf("append revocation: %w", err)
		}
		rr.Revocations = append(rr.Revocations, store.Revocation{
			Seq: seq, SessionID: sess.ID, UserID: sess.UserID, Reason: reason, At: now,
		})
		if err := appendLiveTokens(tx, &rr, sess, now); err != nil {
			return store.RevokeResult{}, err
		}
	}
	return rr, nil
}

func appendLiveTokens(tx *wtx, rr *store.RevokeResult, sess store.Session, now time.Time) error {
	// Rotated refresh tokens are left out (rules.LiveTokens): a session refreshed a
	// thousand times reports its live pairs, not a thousand.
	rows, err := tx.query(liveTokensQuery, sess.ID, micros(now))
	if err != nil {
		return fmt.Errorf("list live tokens: %w", err)
	}
	if err := scanLiveTokens(rows, rr, sess, now); err != nil {
		return fmt.Errorf("list live tokens: %w", err)
	}
	return nil
}

// liveTokensQuery lists a session's token pairs of which one half can still be
// presented (an unexpired access token, or an unexpired refresh token not yet rotated).
const liveTokensQuery = `SELECT hash, expires_at, used_at, access_hash, access_expires_at FROM refresh_tokens
		 WHERE session_id = ?1 AND ((expires_at > ?2 AND used_at IS NULL) OR access_expires_at > ?2)
		 ORDER BY created_at, hash`

// scanLiveTokens appends the rows of liveTokensQuery to rr and closes them.
func scanLiveTokens(rows *sql.Rows, rr *store.RevokeResult, sess store.Session, now time.Time) error {
	defer rows.Close()
	for rows.Next() {
		var (
			refresh, access     string
			expires             int64
			used, accessExpires sql.NullInt64
		)
		if err := rows.Scan(&refresh, &expires, &used, &access, &accessExpires); err != nil {
			return err
		}
		if th, ok := rules.LiveTokens(sess, refresh, fromMicros(expires), fromNullMicros(used), access, fromNullMicros(accessExpires), now); ok {
			rr.Tokens = append(rr.Tokens, th)
		}
	}
	return rows.Err()
}

// SessionState answers a verifier's cache miss.
func (s *Store) SessionState(ctx context.Context, sessionID string) (store.SessionState, error) {
	var (
		st      store.SessionState
		expires int64
		revoked sql.NullInt64
	)
	err := s.r.queryRow(ctx,
		`SELECT s.id, s.user_id, s.expires_at, s.revoked_at, u.disabled
		 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`, sessionID).
		Scan(&st.SessionID, &st.UserID, &expires, &revoked, &st.UserDisabled)
	if err != nil {
		return store.SessionState{}, notFound("session state", err)
	}
	st.ExpiresAt = fromMicros(expires)
	st.RevokedAt = fromNullMicros(revoked)
	return st, nil
}

// RevocationsAfter returns up to limit log rows with Seq > after, in Seq order;
// limit <= 0 means rules.DefaultRevocationsLimit.
func (s *Store) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		limit = rules.DefaultRevocationsLimit
	}
	rows, err := s.r.query(ctx,
		"SELECT seq, session_id, user_id, reason, at FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations after: %w", err)
	}
	out, err := collectRevocations(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations after: %w", err)
	}
	return out, nil
}

// LastRevocationSeq is the highest Seq ever appended to the log (pruning old rows
// does not lower it), 0 when nothing was ever revoked.
func (s *Store) LastRevocationSeq(ctx context.Context) (int64, error) {
	var last int64
	if err := s.r.queryRow(ctx, "SELECT last_seq FROM revocation_counter WHERE id = 1").Scan(&last); err != nil {
		return 0, fmt.Errorf("sqlite: last revocation seq: %w", err)
	}
	return last, nil
}

// RevocationsSince returns up to limit log rows with At >= since and Seq > after,
// in Seq order; limit <= 0 means rules.DefaultRevocationsLimit.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, after int64, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		limit = rules.DefaultRevocationsLimit
	}
	rows, err := s.r.query(ctx,
		"SELECT seq, session_id, user_id, reason, at FROM revocations WHERE at >= ? AND seq > ? ORDER BY seq LIMIT ?",
		micros(rules.Norm(since)), after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations since: %w", err)
	}
	out, err := collectRevocations(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations since: %w", err)
	}
	return out, nil
}

func collectRevocations(rows *sql.Rows) ([]store.Revocation, error) {
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var (
			rv store.Revocation
			at int64
		)
		if err := rows.Scan(&rv.Seq, &rv.SessionID, &rv.UserID, &rv.Reason, &at); err != nil {
			return nil, err
		}
		rv.At = fromMicros(at)
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
	rows, err := s.r.query(ctx,
		`SELECT seq, session_id, user_id, reason, at FROM revocations
		 WHERE synced_at IS NULL AND at >= ? ORDER BY seq LIMIT ?`,
		micros(rules.Norm(since)), limit)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: unsynced revocations: %w", err)
	}
	revs, err := collectRevocations(rows)
	if err != nil {
		return store.RevokeResult{}, fmt.Errorf("sqlite: unsynced revocations: %w", err)
	}
	rr := store.RevokeResult{Revocations: revs}
	seen := make(map[string]bool, len(revs))
	for _, rv := range revs {
		if seen[rv.SessionID] {
			continue
		}
		seen[rv.SessionID] = true
		if err := s.liveTokensOf(ctx, &rr, store.Session{ID: rv.SessionID, UserID: rv.UserID}, now); err != nil {
			return store.RevokeResult{}, fmt.Errorf("sqlite: unsynced revocations: %w", err)
		}
	}
	return rr, nil
}

// liveTokensOf appends the session's token pairs not expired at now (read pool).
func (s *Store) liveTokensOf(ctx context.Context, rr *store.RevokeResult, sess store.Session, now time.Time) error {
	rows, err := s.r.query(ctx, liveTokensQuery, sess.ID, micros(now))
	if err != nil {
		return err
	}
	return scanLiveTokens(rows, rr, sess, now)
}

// MarkRevocationsSynced sets synced_at on the given rows.
func (s *Store) MarkRevocationsSynced(ctx context.Context, seqs []int64, now time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: mark revocations synced: begin: %w", err)
	}
	defer tx.rollback()
	for _, seq := range seqs {
		if _, err := tx.exec("UPDATE revocations SET synced_at = ? WHERE seq = ? AND synced_at IS NULL",
			micros(now), seq); err != nil {
			return fmt.Errorf("sqlite: mark revocations synced: %w", err)
		}
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("sqlite: mark revocations synced: commit: %w", err)
	}
	return nil
}
