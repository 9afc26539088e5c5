// Package rediscache is everything vexen-auth keeps in Redis: the seed's key schema,
// the issuer's write-through of new and revoked tokens, the verifier's lookups and
// refills, and the revocation channel that pushes logouts to every verifier.
//
// Redis is an accelerator and a broadcast bus, never the only copy of anything: the
// store (PostgreSQL or SQLite) is the truth, and an empty Redis costs speed, not
// correctness. Every method returns Redis failures to its caller (and counts them in
// vexen_redis_errors_total{op}); the caller decides that they are not fatal.
//
// # Keys
//
// With the optional prefix (Options.Prefix) in front of each:
//
//	access_token:{h}      JSON claims of a verified access token   TTL: the token's remaining life
//	refresh_token:{h}     user id                                  TTL: the refresh token's remaining life
//	user_session:{uid}    {"user_id","email","last_login"}         TTL: the user's longest-living token
//	revoked:{h}           "1" (access tokens only)                 TTL: the revoked token's remaining life
//	user_tokens:{uid}     SET of the hashes of the user's current  TTL: the user's longest-living token
//	                      pairs (a refresh drops the rotated pair)
//
// {h} is the lowercase hex SHA-256 of the token string, and the braces are part of
// the key: a Redis Cluster hash tag, so that the keys of one token (access_token,
// revoked) and of one user (user_session, user_tokens) share a slot. Every key is written with a
// TTL, so TTL never answers -1; a TTL that would be zero or less means the key is not
// written at all. user_session and user_tokens only ever have their TTL extended
// (PEXPIRE NX, then PEXPIRE GT, in the same transaction as the write).
//
// # Issuer side
//
// StorePair writes a new pair in one MULTI/EXEC; DropRefresh forgets the pair a
// refresh rotated away (its refresh_token:{h}, and both hashes from user_tokens);
// Revoke applies a store.RevokeResult: it deletes the session's cached tokens, marks
// its live access tokens revoked:{h} for their remaining life (refresh tokens are
// decided by the store alone and get none) and then, in the same transaction,
// publishes one Event per revocation row, in Seq order. The keys a revocation writes
// are bounded by the live access tokens, whatever the number of refreshes before it.
//
// # Verifier side
//
// Lookup reads access_token:{h} and revoked:{h} with one MGET; revoked wins over a
// cached claim. Concurrent lookups share round trips: while one is out, the others
// queue and go together as one pipeline of MGETs, each caller getting its own
// answer and error; a lone lookup is sent at once, never held back by a timer. Fill caches verified claims through a Lua script that refuses while
// revoked:{h} exists, so a refill that races a logout cannot resurrect the token.
// MarkRevoked records a revocation the verifier learned from the store.
//
// # Revocation feed
//
// RunFeed subscribes to {prefix}revocations and drives a FeedHandler: Subscribed after
// every (re)subscription (the handler catches up from the store's log there), Event for
// each revocation, Fresh(sentAt) for each PING answered on the subscription connection
// (proof that every event published before sentAt has arrived), and Down when the
// connection fails. It reconnects by itself with capped, jittered exponential backoff.
//
// # Sentinel and Cluster
//
// Open reads redis+sentinel:// and redis+cluster:// URLs and returns go-redis's
// failover or cluster client; everything here takes a redis.UniversalClient. On a
// cluster, a transaction is split per hash tag (one MULTI/EXEC per slot, retried once
// after a node failure), events are plain PUBLISH (the cluster bus relays them to
// every node), and the client re-reads the slot map when a node cannot be reached.
// The feed compares the master (run id and role; on a cluster the channel slot's
// master) at every PING with the one it subscribed on, and subscribes again when it
// changed: go-redis leaves a subscription on a demoted master.
//
// Redis is part of the trust base: an access_token:{h} value is honoured without a
// signature check. Protect it with a password or ACL, and TLS (rediss://).
package rediscache
