package store

import "context"

// Locker is a backend's optional ability to run a function while holding a named
// lock that excludes every other process using the same database: the issuer takes
// it to add a scheduled signing key once, not once per replica. PostgreSQL and
// SQLite implement it; a consumer finds it by type assertion on its Store.
//
// WithLock waits (within ctx) until no other holder of name is running, runs fn and
// releases the lock, returning fn's error. fn must not use the Store: on SQLite the
// lock is the database's write lock, held on the one writer connection.
type Locker interface {
	WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) error
}
