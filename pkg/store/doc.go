// Package store is vexen-auth's persistent state: users, sessions, the refresh
// tokens issued in them, and the revocation log. The database is the truth; Redis
// and the verifiers' local caches only ever hold copies.
//
// # The contract
//
// Store is the one interface every backend meets, and the shared suite in
// package storetest holds each backend to it. Its rules, in short:
//
//   - Emails are kept as given and unique case-insensitively (ErrConflict).
//   - A session is one login; each Rotate of its newest refresh token issues a
//     successor pair in the same session. Tokens are stored only as the lowercase hex
//     SHA-256 of the token string, with the hash and expiry of the access token
//     minted beside them, so that a revocation can name every token still alive.
//   - Rotate runs in one transaction that locks the presented token. A token used
//     again within Rotation.Grace of its first use yields a sibling successor; used
//     again later (or at all, with a zero Grace) it is a replay: the session is
//     revoked in that same transaction, which commits, and Rotate returns
//     ErrTokenReused.
//   - Every revocation writes one log row per session that went from live to
//     revoked. The log's Seq is assigned in commit order with no gaps, so a verifier
//     that tails it with RevocationsAfter(lastSeq) misses nothing.
//   - PruneExpired deletes what stopped mattering before a cutoff (expired pairs,
//     revoked sessions once their access tokens expired, then their log rows) in
//     batches; used refresh tokens of live sessions stay for reuse detection. On
//     PostgreSQL one instance prunes at a time (advisory lock).
//   - Times come back in UTC with microsecond precision. Errors wrap the Err*
//     sentinels (use errors.Is) and never carry token hashes, passwords or SQL.
//
// Consumers declare the small interfaces they need (a verifier needs SessionState
// and RevocationsAfter; it never writes) and take a Store.
//
// # Backends and Open
//
// Backends register themselves by URL scheme from an init function, as database/sql
// drivers do; a program imports the ones it supports for effect and calls Open with
// its DATABASE_URL:
//
//	import (
//		_ "github.com/vexen/vexen-auth/pkg/store/postgres" // postgres://, postgresql://
//		_ "github.com/vexen/vexen-auth/pkg/store/sqlite"   // sqlite:PATH
//	)
//
//	s, err := store.Open(ctx, os.Getenv("DATABASE_URL")) // "" means DefaultURL
//
// Open only connects (SQLite also creates the file, mode 0600, in a 0700
// directory); the schema is applied by Migrate, which the issuer runs at start and
// `issuer migrate` runs on demand. Migrations are embedded in each backend, recorded
// in a schema_migrations table, safe to run twice and safe to run from two processes
// at once.
//
// The PostgreSQL backend (package postgres) uses a pgx connection pool and row locks
// (SELECT … FOR UPDATE). The SQLite backend (package sqlite, pure Go, no cgo) uses
// WAL mode so that an issuer and a verifier process can share one file, and takes
// the write lock at the start of each transaction (BEGIN IMMEDIATE).
package store
