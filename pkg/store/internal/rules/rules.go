// Package rules holds the semantics that every store backend must apply the same
// way: time normalization, email keys, rotation's reuse rule, which tokens of a
// revoked session are reported, and the checks on a new session.
package rules

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// DefaultRevocationsLimit is the page size of RevocationsAfter when limit <= 0.
const DefaultRevocationsLimit = 1000

// PruneBatch is how many rows one PruneExpired statement deletes at most: each batch
// commits on its own, so pruning a large backlog never holds locks (SQLite's one
// write lock, PostgreSQL's row locks) for longer than one small delete.
const PruneBatch = 1000

// Norm is the value a time has after a round trip through a store: UTC, truncated to
// the microsecond (PostgreSQL's timestamptz precision); the zero time stays zero.
func Norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// EmailKey is the form in which emails are compared, and unique: lower-cased, so that
// both backends agree whatever the database's collation.
func EmailKey(email string) string { return strings.ToLower(email) }

// NewID returns a random (version 4) UUID.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ReuseDetected reports whether presenting a refresh token that was first used at
// usedAt, again at now, is a replay: with a grace of zero (or less) any second
// presentation is; otherwise one more than grace after the first use.
func ReuseDetected(usedAt, now time.Time, grace time.Duration) bool {
	return grace <= 0 || now.Sub(usedAt) > grace
}

// LiveTokens is the entry for one token pair of a revoked session. Only a half that
// could still be presented at now is filled in: the access token until it expires,
// the refresh token until it expires or is rotated (usedAt not zero: from then on
// only Rotate, which refuses every token of a revoked session, decides on it). The
// other half is left empty (hash and expiry), so consumers only ever see tokens that
// still need to be denied; ok is false when neither half is left.
func LiveTokens(sess store.Session, refresh string, refreshExp, usedAt time.Time, access string, accessExp time.Time, now time.Time) (th store.TokenHashes, ok bool) {
	th = store.TokenHashes{SessionID: sess.ID, UserID: sess.UserID}
	if usedAt.IsZero() && now.Before(refreshExp) {
		th.Refresh, th.RefreshExpiresAt = refresh, refreshExp
	}
	if access != "" && now.Before(accessExp) {
		th.Access, th.AccessExpiresAt = access, accessExp
	}
	return th, th.Refresh != "" || th.Access != ""
}

// PrepareSession checks a new session and its first token pair and fills in their
// zero fields: the session's CreatedAt from the token's (and the other way round;
// the current time when both are zero), LastUsedAt from CreatedAt, ExpiresAt from the
// token's ExpiresAt. Times come back normalized (Norm).
func PrepareSession(sess store.Session, first store.RefreshToken) (store.Session, store.RefreshToken, error) {
	switch {
	case sess.ID == "":
		return sess, first, errors.New("empty session id")
	case sess.UserID == "":
		return sess, first, errors.New("empty user id")
	case first.Hash == "":
		return sess, first, errors.New("empty refresh token hash")
	case first.SessionID != "" && first.SessionID != sess.ID:
		return sess, first, errors.New("first token belongs to another session")
	case first.ExpiresAt.IsZero():
		return sess, first, errors.New("first token has no expiry")
	}
	first.SessionID = sess.ID
	first.ParentHash = ""
	first.UsedAt = time.Time{}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = first.CreatedAt
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = time.Now() // only when the caller passed no time at all
	}
	if first.CreatedAt.IsZero() {
		first.CreatedAt = sess.CreatedAt
	}
	if sess.LastUsedAt.IsZero() {
		sess.LastUsedAt = sess.CreatedAt
	}
	if sess.ExpiresAt.IsZero() {
		sess.ExpiresAt = first.ExpiresAt
	}
	sess.RevokedAt = time.Time{}
	sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = Norm(sess.CreatedAt), Norm(sess.LastUsedAt), Norm(sess.ExpiresAt)
	first.CreatedAt, first.ExpiresAt, first.AccessExpiresAt = Norm(first.CreatedAt), Norm(first.ExpiresAt), Norm(first.AccessExpiresAt)
	return sess, first, nil
}

// PrepareSuccessor checks the token pair Mint returned and fills in what Rotate
// decides: the session, the parent, the creation time.
func PrepareSuccessor(next store.RefreshToken, sess store.Session, oldHash string, now time.Time) (store.RefreshToken, error) {
	if next.Hash == "" || next.ExpiresAt.IsZero() {
		return next, errors.New("mint returned a token without hash or expiry")
	}
	if next.Hash == oldHash {
		return next, errors.New("mint returned the old token's hash")
	}
	next.SessionID = sess.ID
	next.ParentHash = oldHash
	next.CreatedAt = now
	next.UsedAt = time.Time{}
	next.ExpiresAt, next.AccessExpiresAt = Norm(next.ExpiresAt), Norm(next.AccessExpiresAt)
	return next, nil
}

// PrepareUser fills in a new user's zero fields: a random ID, the current time as
// CreatedAt (only when the caller passed none), an empty role list.
func PrepareUser(u store.User) (store.User, error) {
	if u.Email == "" {
		return u, errors.New("empty email")
	}
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	u.CreatedAt = Norm(u.CreatedAt)
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// JoinAMR is the stored form of a session's amr: comma-separated, "pwd" when empty
// (a session opened before amr was recorded was opened with a password).
func JoinAMR(amr []string) string {
	if len(amr) == 0 {
		return "pwd"
	}
	return strings.Join(amr, ",")
}

// SplitAMR reads JoinAMR's form back.
func SplitAMR(s string) []string {
	if s == "" {
		return []string{"pwd"}
	}
	return strings.Split(s, ",")
}
