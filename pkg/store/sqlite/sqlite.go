package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"github.com/vexen/vexen-auth/pkg/store/internal/migrations"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vexen/vexen-auth/pkg/store"
)

func init() {
	store.Register("sqlite", func(ctx context.Context, databaseURL string) (store.Store, error) {
		s, err := Open(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

var _ store.Store = (*Store)(nil)

// Pragmas every connection runs, busy_timeout first so that the others wait for a lock
// instead of failing. journal_mode(WAL) lets readers (a verifier process) run beside
// the one writer; synchronous(NORMAL) is durable against process crashes in WAL mode.
const pragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(ON)" +
	"&_pragma=synchronous(NORMAL)"

// Store is the SQLite backend. It is safe for concurrent use, and several processes
// may open the same file at once.
type Store struct {
	path string
	// w holds one connection whose transactions all begin IMMEDIATE: writes queue in
	// database/sql rather than spinning in SQLite's busy handler, and a transaction
	// holds the write lock from its first statement (Rotate's read-check-write is
	// race-free, even against another process, which waits up to busy_timeout).
	w *pool
	// r serves single-statement reads; in WAL mode they never block the writer.
	r *pool
}

// pool is a database/sql pool with a cache of prepared statements: preparing costs
// more than running a small query in SQLite.
type pool struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newPool(db *sql.DB) *pool { return &pool{db: db, stmts: map[string]*sql.Stmt{}} }

func (p *pool) cached(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[query]
}

// prepare returns query's cached statement, preparing it on first use. Preparing
// takes a connection of the pool, so it must not run while the caller holds one
// (the writer pool has only one: transactions use wtx instead).
func (p *pool) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := p.cached(query); st != nil {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.stmts[query]; old != nil {
		st.Close()
		return old, nil
	}
	p.stmts[query] = st
	return st, nil
}

// queryRow runs a one-row query with a cached statement. If the statement cannot be
// prepared (say, before Migrate), the query runs unprepared to report why.
func (p *pool) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.prepare(ctx, query)
	if err != nil {
		return p.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *pool) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.prepare(ctx, query)
	if err != nil {
		return p.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (p *pool) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.prepare(ctx, query)
	if err != nil {
		return p.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (p *pool) close() error {
	p.mu.Lock()
	for q, st := range p.stmts {
		st.Close()
		delete(p.stmts, q)
	}
	p.mu.Unlock()
	return p.db.Close()
}

// wtx is a write transaction (BEGIN IMMEDIATE) on the writer's connection. It uses
// the writer pool's cached statements; one not cached yet is prepared on the
// transaction's connection for this once, and cached when the transaction ends and
// the connection is free again.
type wtx struct {
	ctx    context.Context
	tx     *sql.Tx
	p      *pool
	missed []string
}

func (s *Store) begin(ctx context.Context) (*wtx, error) {
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &wtx{ctx: ctx, tx: tx, p: s.w}, nil
}

func (t *wtx) stmt(query string) (*sql.Stmt, error) {
	if st := t.p.cached(query); st != nil {
		return t.tx.StmtContext(t.ctx, st), nil
	}
	t.missed = append(t.missed, query)
	return t.tx.PrepareContext(t.ctx, query)
}

func (t *wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

func (t *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *wtx) commit() error {
	err := t.tx.Commit()
	t.warm()
	return err
}

// rollback ends the transaction if commit has not; deferred by every writer.
func (t *wtx) rollback() {
	_ = t.tx.Rollback()
	t.warm()
}

func (t *wtx) warm() {
	missed := t.missed
	t.missed = nil
	for _, q := range missed {
		_, _ = t.p.prepare(t.ctx, q) // only an optimization: a failure shows on the next use
	}
}

// ParseURL returns the file path a sqlite DATABASE_URL names. Accepted forms:
// "sqlite:PATH", "sqlite://PATH" (so "sqlite:///abs/path" is absolute) and
// "sqlite:file:PATH". A relative PATH is relative to the working directory. Query
// parameters are not accepted (the store sets its own pragmas), nor are in-memory
// databases (the issuer and verifier share the file).
func ParseURL(databaseURL string) (string, error) {
	scheme, rest, ok := strings.Cut(databaseURL, ":")
	if !ok || !strings.EqualFold(scheme, "sqlite") {
		return "", fmt.Errorf("sqlite: DATABASE_URL %q: want sqlite:PATH", databaseURL)
	}
	rest = strings.TrimPrefix(rest, "//")
	rest = strings.TrimPrefix(rest, "file:")
	switch {
	case rest == "":
		return "", fmt.Errorf("sqlite: DATABASE_URL %q: empty path", databaseURL)
	case strings.ContainsAny(rest, "?#"):
		return "", fmt.Errorf("sqlite: DATABASE_URL %q: parameters are not supported, give a plain path", databaseURL)
	case rest == ":memory:" || strings.HasPrefix(rest, ":memory:"):
		return "", fmt.Errorf("sqlite: DATABASE_URL %q: in-memory databases are not supported", databaseURL)
	}
	return rest, nil
}

// Open opens (creating when missing) the database file that databaseURL names (see
// ParseURL). A missing parent directory is created with mode 0700 and a missing file
// with mode 0600; SQLite gives its -wal and -shm files the database file's mode.
// Open does not apply the schema: call Migrate.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	path, err := ParseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	return OpenPath(ctx, path)
}

// OpenPath is Open for a file path.
func OpenPath(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}

	// A file: URI with an escaped path, so that '?', '#' and '%' in a directory name
	// cannot be read as parameters.
	base := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + pragmas

	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	r, err := sql.Open("sqlite", base+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{path: abs, w: newPool(w), r: newPool(r)}
	// Connect the writer now, so that a file that is not a database, or a directory
	// we may not write to, fails here rather than on the first request.
	if err := w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	return s, nil
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes every connection.
func (s *Store) Close() error {
	return errors.Join(s.r.close(), s.w.close())
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the embedded migrations that schema_migrations does not list yet,
// all in one IMMEDIATE transaction: a second process migrating at the same moment
// waits for the first and then finds nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.List(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	applied := map[int64]bool{}
	var versions []int64
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		applied[v] = true
		versions = append(versions, v)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := migrations.CheckApplied(ms, versions); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, unixepoch())",
			m.Version, m.Name); err != nil {
			return fmt.Errorf("sqlite: migrate: %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", err)
	}
	return nil
}

// Times are stored as INTEGER microseconds since the Unix epoch; the zero time of a
// nullable column as NULL.

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sqliteCode is the extended result code of a driver error, 0 for other errors.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
