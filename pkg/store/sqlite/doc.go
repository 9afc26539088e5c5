// Package sqlite is the embedded store.Store backend, on modernc.org/sqlite (pure Go,
// no cgo). Importing it registers the "sqlite" DATABASE_URL scheme with store.Open.
//
// # URL
//
// "sqlite:PATH", "sqlite://PATH" (so "sqlite:///var/lib/vexen/vexen.db" is absolute)
// or "sqlite:file:PATH". A relative PATH is relative to the working directory; the
// default, store.DefaultURL, is "sqlite:./data/vexen.db". The URL takes no
// parameters (the store sets its own) and cannot name an in-memory database: the
// issuer and the verifier must share the file. Open creates a missing directory
// with mode 0700 and a missing file with mode 0600 (SQLite gives its -wal and -shm
// files the same mode); it does not apply the schema, Migrate does.
//
// # Concurrency
//
// Every connection runs busy_timeout(10000), journal_mode(WAL), foreign_keys(ON)
// and synchronous(NORMAL). WAL lets any number of readers, in any process, run
// beside the one writer. A Store keeps two pools: one connection for writes, whose
// transactions begin IMMEDIATE (so a transaction holds the write lock from its first
// statement, and Rotate's read-check-write cannot interleave with another, in this
// process or another one, which waits up to the busy timeout), and a few read-only
// connections for single-statement reads. Revocation log sequence numbers are taken
// under that write lock, so their order is commit order.
//
// # Storage
//
// Times are INTEGER microseconds since the Unix epoch, UTC: the precision
// PostgreSQL keeps, so both backends return the same values. Roles are a JSON array.
// Emails are unique by their lower-cased form (Go's strings.ToLower), the same rule
// as the PostgreSQL backend's.
package sqlite
