// Package storetest is the shared conformance suite for store.Store backends.
//
// Every backend runs the same tests against a real database from its own _test.go:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) store.Store { return openFresh(t) })
//	}
//
// Run covers migrations (applying twice is a no-op), users (case-insensitive email
// uniqueness), sessions, revocations (idempotent, one log row per session, the live
// tokens of each revoked session), disabled users, every branch of Rotate (success,
// expiry, unknown token, replay inside and outside the grace period, a failing
// Mint), the revocation log's order, paging and sequence numbers, SessionState,
// PruneExpired, and 50 goroutines rotating one token at once: with a grace period
// all of them get a successor, without one exactly one does and the session ends
// revoked with exactly one log row. Two more races check the locking: a reader
// tailing RevocationsAfter while writers revoke concurrently must see every row once
// and never a gap (seq order is commit order), and a revocation racing rotations of
// its session must name every token those rotations returned.
//
// RunInstances repeats the migration and the races across two Store instances
// opened separately on one database, as an issuer and a verifier (or two issuers)
// share it in production, and Bench measures the issuer's writes and the verifier's
// cache-miss read.
//
// The suite's clock is fixed (no test depends on the wall clock) and its times carry
// nanoseconds, so it also checks that stores keep microseconds, in UTC.
package storetest
