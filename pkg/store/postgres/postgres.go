package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"github.com/vexen/vexen-auth/pkg/store/internal/migrations"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vexen/vexen-auth/pkg/store"
)

func init() {
	open := func(ctx context.Context, databaseURL string) (store.Store, error) {
		s, err := Open(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

var _ store.Store = (*Store)(nil)

// Store is the PostgreSQL backend, over a pgxpool.Pool. It is safe for concurrent
// use by any number of processes sharing the database.
type Store struct {
	pool *pgxpool.Pool
}

// Open parses databaseURL with pgxpool.ParseConfig (so pool_max_conns and the other
// pgx parameters work) and builds a pool. Like sql.Open it does not wait for the
// server: call Ping to find out whether it answers, and Migrate to apply the schema.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	// store.Open matches schemes case-insensitively; pgx only knows them in lower case.
	if scheme, rest, ok := strings.Cut(databaseURL, "://"); ok {
		databaseURL = strings.ToLower(scheme) + "://" + rest
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgconn's ParseConfigError redacts the password.
		return nil, fmt.Errorf("postgres: DATABASE_URL: %w", err)
	}
	return NewWithConfig(ctx, cfg)
}

// NewWithConfig builds the store on a pool configured by the caller (for example
// with a tracer for metrics).
func NewWithConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Pool is the underlying pool, for pool statistics.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockKey is the transaction-level advisory lock Migrate holds ("vexn").
const migrateLockKey = 0x7665786e

// Migrate applies the embedded migrations that schema_migrations does not list yet,
// all in one transaction that first takes an advisory lock: a second process
// migrating at the same moment waits for the first and then finds nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.List(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint      PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := migrations.CheckApplied(ms, versions); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	applied := map[int64]bool{}
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		// No arguments: pgx sends it with the simple protocol, several statements at once.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("postgres: migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return fmt.Errorf("postgres: migrate: %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: commit: %w", err)
	}
	return nil
}

// SQLSTATE codes the store maps to its sentinels.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
