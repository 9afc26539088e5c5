// Package postgres is the PostgreSQL store.Store backend, on a pgx/v5 pgxpool.Pool.
// Importing it registers the "postgres" and "postgresql" DATABASE_URL schemes with
// store.Open.
//
// # URL and pool
//
// The URL goes to pgxpool.ParseConfig, so every libpq and pgx parameter works
// (sslmode, pool_max_conns, pool_max_conn_lifetime, …). Open builds the pool without
// waiting for the server; Ping checks it and Migrate applies the schema (under a
// transaction-level advisory lock, so two processes migrating at once are safe).
// NewWithConfig takes a *pgxpool.Config the caller prepared, e.g. with a tracer.
//
// # Concurrency
//
// Rotate locks the presented token's row (SELECT … FOR UPDATE), then its session's
// row, for the whole transaction: rotations of one token from any number of
// processes are serialized, and a revocation of the session either sees a
// concurrent rotation's new token or makes that rotation fail. Every transaction
// takes its locks in the same order (token, user, sessions by id, the revocation
// counter), so none deadlocks another.
//
// The revocation log's seq is not a sequence: sequence numbers are handed out at
// INSERT but become visible at COMMIT, so they can commit out of order, and a
// verifier that has read up to seq 11 would never see a seq 10 committed after it.
// Instead each revoking transaction takes its numbers from a one-row counter table
// (UPDATE … RETURNING), whose row lock it holds until it commits: appends are
// serialized, seq order is commit order, and the log has no gaps.
//
// # Storage
//
// Times are timestamptz (microseconds; returned in UTC), roles text[]. Emails are
// unique by a lower-cased copy computed in Go (strings.ToLower), not by SQL lower(),
// whose result depends on the database's collation: so PostgreSQL and SQLite agree
// on which emails collide.
package postgres
