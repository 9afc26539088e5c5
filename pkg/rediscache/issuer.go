package rediscache

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/pkg/store"
)

// Pair is a freshly issued token pair, as the issuer writes it through to Redis.
type Pair struct {
	UserID, Email, SessionID string

	AccessHash      string    // lowercase hex SHA-256 of the access token
	AccessClaims    []byte    // JSON claims of the access token
	AccessExpiresAt time.Time // the access token's exp

	RefreshHash      string
	RefreshExpiresAt time.Time

	LoginAt time.Time // user_session.last_login; zero means now
}

// userSession is the value of user_session:{uid}.
type userSession struct {
	UserID    string `json:"user_id"`
	Email     string `json:"email"`
	LastLogin string `json:"last_login"` // RFC 3339
}

// StorePair writes a new token pair in one MULTI/EXEC transaction (on a cluster, one
// per slot: the access token's, the refresh token's and the user's keys):
//
//   - access_token:{h} = the claims, TTL = the access token's remaining life;
//   - refresh_token:{h} = the user id, TTL = the refresh token's remaining life;
//   - user_session:{uid} = JSON {"user_id","email","last_login"};
//   - user_tokens:{uid} += both hashes.
//
// user_session and user_tokens live as long as the user's longest-living token:
// their TTL is set with PEXPIRE NX (a new key) then PEXPIRE GT (only ever extended),
// so a pair that expires sooner than an earlier one never shortens them. A token whose
// remaining life is under a millisecond is not written, and the user's keys are not
// written when neither token is live; every key written has a TTL.
func (c *Cache) StorePair(ctx context.Context, p Pair) error {
	if p.UserID == "" {
		return c.fail(opStorePair, ErrNoUserID)
	}
	accessTTL := c.ttlUntil(p.AccessExpiresAt)
	refreshTTL := c.ttlUntil(p.RefreshExpiresAt)
	if p.AccessHash == "" {
		accessTTL = 0
	}
	if p.RefreshHash == "" {
		refreshTTL = 0
	}
	userTTL := max(accessTTL, refreshTTL)
	if userTTL <= 0 {
		return nil
	}
	login := p.LoginAt
	if login.IsZero() {
		login = c.now()
	}
	session, err := json.Marshal(userSession{
		UserID:    p.UserID,
		Email:     p.Email,
		LastLogin: login.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return c.fail(opStorePair, err)
	}
	var t tx
	tokens := c.UserTokensKey(p.UserID)
	var members []any
	if accessTTL > 0 {
		t.add(c.AccessKey(p.AccessHash), func(pipe redis.Pipeliner) {
			pipe.Set(ctx, c.AccessKey(p.AccessHash), p.AccessClaims, accessTTL)
		})
		members = append(members, p.AccessHash)
	}
	if refreshTTL > 0 {
		t.add(c.RefreshKey(p.RefreshHash), func(pipe redis.Pipeliner) {
			pipe.Set(ctx, c.RefreshKey(p.RefreshHash), p.UserID, refreshTTL)
		})
		members = append(members, p.RefreshHash)
	}
	sessKey := c.UserSessionKey(p.UserID)
	t.add(sessKey, func(pipe redis.Pipeliner) {
		pipe.SAdd(ctx, tokens, members...)
		pipe.Set(ctx, sessKey, session, redis.KeepTTL)
		extendTTL(ctx, pipe, sessKey, userTTL)
		extendTTL(ctx, pipe, tokens, userTTL)
	})
	err = c.exec(ctx, &t, nil)
	if err != nil {
		return c.fail(opStorePair, err)
	}
	return nil
}

// SweepUserTokens removes from user_tokens:{uid} the hashes of tokens that are no
// longer live: a member goes when neither access_token:{h} nor refresh_token:{h}
// exists any more (both are written with the token's remaining life, and deleted on
// rotation and revocation). Refreshes and revocations remove the hashes they know
// of; this catches the rest (a session that simply expired, the expired access half
// of a revoked pair), so that the set, whose TTL every login extends, holds the live
// tokens only and does not grow with every session ever opened. The issuer runs it
// after each login. It returns how many members went. Not atomic, and need not be:
// a member added meanwhile comes with its keys, and a token's keys never come back.
func (c *Cache) SweepUserTokens(ctx context.Context, userID string) (int, error) {
	key := c.UserTokensKey(userID)
	members, err := c.rdb.SMembers(ctx, key).Result()
	if err != nil {
		return 0, c.fail(opSweep, err)
	}
	if len(members) == 0 {
		return 0, nil
	}
	exists := make([]*redis.IntCmd, len(members))
	_, err = c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, h := range members {
			exists[i] = pipe.Exists(ctx, c.AccessKey(h), c.RefreshKey(h))
		}
		return nil
	})
	if err != nil {
		return 0, c.fail(opSweep, err)
	}
	var stale []any
	for i, h := range members {
		if exists[i].Val() == 0 {
			stale = append(stale, h)
		}
	}
	if len(stale) == 0 {
		return 0, nil
	}
	if err := c.rdb.SRem(ctx, key, stale...).Err(); err != nil {
		return 0, c.fail(opSweep, err)
	}
	return len(stale), nil
}

// extendTTL queues PEXPIRE NX (sets a TTL on a key that has none) and PEXPIRE GT (only
// lengthens an existing one): after both, the key's TTL is the longest ever asked for.
func extendTTL(ctx context.Context, pipe redis.Pipeliner, key string, ttl time.Duration) {
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	pipe.Do(ctx, "pexpire", key, ms, "nx")
	pipe.Do(ctx, "pexpire", key, ms, "gt")
}

// DropRefresh forgets the pair a refresh rotated away, in one transaction (one per
// slot on a cluster): DEL
// refresh_token:{refreshHash} and SREM user_tokens:{uid} of both hashes, so that the
// set holds only the user's current pairs, not one pair per refresh ever made. The
// old access token's access_token:{h} entry stays: that token is still valid until it
// expires (it is only no longer listed, and a revocation names it from the store).
// An empty accessHash drops the refresh token only.
func (c *Cache) DropRefresh(ctx context.Context, userID, refreshHash, accessHash string) error {
	var t tx
	t.add(c.RefreshKey(refreshHash), func(pipe redis.Pipeliner) {
		pipe.Del(ctx, c.RefreshKey(refreshHash))
	})
	if userID != "" {
		members := []any{refreshHash}
		if accessHash != "" {
			members = append(members, accessHash)
		}
		t.add(c.UserTokensKey(userID), func(pipe redis.Pipeliner) {
			pipe.SRem(ctx, c.UserTokensKey(userID), members...)
		})
	}
	err := c.exec(ctx, &t, nil)
	if err != nil {
		return c.fail(opDropRefresh, err)
	}
	return nil
}

// Revoke applies a store revocation to Redis in one MULTI/EXEC transaction (on a
// cluster: one per slot, then the events as their own commands). For every
// access token in res.Tokens it deletes access_token:{h} and sets revoked:{h} = "1"
// for the token's remaining life (skipped for a token already expired); for every
// refresh token it deletes refresh_token:{h}; both hashes leave user_tokens:{uid}.
// After those writes, in the same transaction, it publishes one Event per
// res.Revocations row, in Seq order. Revoking nothing (an empty result) is a no-op.
//
// revoked:{h} is written for access tokens only, because only an access token's
// presentation is decided from Redis (a verifier's MGET access_token:{h} revoked:{h},
// and Fill's refusal to cache it again). A refresh token is only ever decided by the
// store's Rotate, which locks its row and refuses every token of a revoked session,
// so a revoked:{h} for it would be a key nobody reads; rotated (used) refresh tokens
// are not even in res.Tokens (store.RevokeResult). The keys a revocation writes are
// thus bounded by the session's live access tokens, not by how often it refreshed.
func (c *Cache) Revoke(ctx context.Context, res store.RevokeResult) error {
	if len(res.Tokens) == 0 && len(res.Revocations) == 0 {
		return nil
	}
	revs := slices.SortedFunc(slices.Values(res.Revocations), func(a, b store.Revocation) int {
		return cmp.Compare(a.Seq, b.Seq)
	})
	payloads := make([][]byte, len(revs))
	for i, r := range revs {
		b, err := json.Marshal(eventOf(r))
		if err != nil {
			return c.fail(opRevoke, err)
		}
		payloads[i] = b
	}
	var t tx
	for _, tok := range res.Tokens {
		if tok.Access != "" {
			c.queueRevoked(ctx, &t, tok.Access, tok.AccessExpiresAt)
		}
		if tok.Refresh != "" {
			key := c.RefreshKey(tok.Refresh)
			t.add(key, func(pipe redis.Pipeliner) { pipe.Del(ctx, key) })
		}
		if tok.UserID != "" {
			members := make([]any, 0, 2)
			if tok.Access != "" {
				members = append(members, tok.Access)
			}
			if tok.Refresh != "" {
				members = append(members, tok.Refresh)
			}
			if len(members) > 0 {
				key := c.UserTokensKey(tok.UserID)
				t.add(key, func(pipe redis.Pipeliner) { pipe.SRem(ctx, key, members...) })
			}
		}
	}
	err := c.exec(ctx, &t, func(pipe redis.Pipeliner) {
		for _, b := range payloads {
			c.publish(ctx, pipe, b)
		}
	})
	if err != nil {
		return c.fail(opRevoke, err)
	}
	return nil
}

// queueRevoked queues DEL access_token:{h} and, while the token would still be live,
// SET revoked:{h} "1" with its remaining life (one slot: both keys carry {h}).
func (c *Cache) queueRevoked(ctx context.Context, t *tx, h string, exp time.Time) {
	ttl := c.ttlUntil(exp)
	access, revoked := c.AccessKey(h), c.RevokedKey(h)
	t.add(access, func(pipe redis.Pipeliner) {
		pipe.Del(ctx, access)
		if ttl > 0 {
			pipe.Set(ctx, revoked, "1", ttl)
		}
	})
}

// Publish sends one revocation event on Channel().
func (c *Cache) Publish(ctx context.Context, r store.Revocation) error {
	b, err := json.Marshal(eventOf(r))
	if err != nil {
		return c.fail(opPublish, err)
	}
	if err := c.exec(ctx, &tx{}, func(pipe redis.Pipeliner) { c.publish(ctx, pipe, b) }); err != nil {
		return c.fail(opPublish, err)
	}
	return nil
}

func eventOf(r store.Revocation) Event {
	ev := Event{Seq: r.Seq, SessionID: r.SessionID, UserID: r.UserID, Reason: r.Reason}
	if !r.At.IsZero() {
		ev.At = r.At.UnixNano()
	}
	return ev
}
