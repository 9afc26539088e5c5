package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/postgres"
	"github.com/vexen/vexen-auth/pkg/store/storetest"
)

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return open(t, testenv.PostgresURL(t)) })
}

// Two pools on one database, as two processes have.
func TestTwoInstances(t *testing.T) {
	storetest.RunInstances(t, func(t testing.TB) (store.Store, store.Store) {
		url := testenv.PostgresURL(t)
		return open(t, url), open(t, url)
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) store.Store { return open(tb, testenv.PostgresURL(tb)) })
}

func TestOpenThroughRegistry(t *testing.T) {
	url := testenv.PostgresURL(t)
	for _, u := range []string{url, "postgresql" + strings.TrimPrefix(url, "postgres"), "POSTGRES" + strings.TrimPrefix(url, "postgres")} {
		s, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("store.Open(%s): %v", u, err)
		}
		if _, ok := s.(*postgres.Store); !ok {
			t.Fatalf("store.Open(%s) = %T", u, s)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		s.Close()
	}
}

func TestOpenBadURLHidesPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://vexen:s3cr3t-pw@127.0.0.1:5432/x?pool_max_conns=many")
	if err == nil {
		t.Fatal("Open accepted a bad pool_max_conns")
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestPingUnreachable(t *testing.T) {
	testenv.Integration(t)
	port := testenv.FreePort(t)
	s := open(t, "postgres://postgres@127.0.0.1:"+strconv.Itoa(port)+"/x?sslmode=disable&connect_timeout=2")
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a closed port succeeded")
	}
}

func TestUnmigratedStoreFails(t *testing.T) {
	s := open(t, testenv.PostgresURL(t))
	_, err := s.UserByID(context.Background(), "x")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByID before Migrate: %v, want a schema error", err)
	}
}

// TestPruneOneAtATime: while another instance holds the prune lock, PruneExpired does
// nothing and says so; once it is released, the next call prunes.
func TestPruneOneAtATime(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	a, b := open(t, url), open(t, url)
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateUser(ctx, store.User{Email: "lock@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := a.CreateSession(ctx, store.Session{ID: "s1", UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour)},
		store.RefreshToken{Hash: "h1", ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// Another instance is pruning: it holds the advisory lock on its own connection.
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(0x76787072)); err != nil {
		t.Fatal(err)
	}
	got, err := b.PruneExpired(ctx, now)
	if err != nil || got != (store.Pruned{Skipped: true}) {
		t.Fatalf("PruneExpired while another instance prunes = %+v, %v; want Skipped", got, err)
	}
	if _, err := b.Session(ctx, "s1"); err != nil {
		t.Fatalf("a skipped prune deleted the session: %v", err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", int64(0x76787072)); err != nil {
		t.Fatal(err)
	}
	got, err = b.PruneExpired(ctx, now)
	if err != nil || got != (store.Pruned{Tokens: 1, Sessions: 1}) {
		t.Fatalf("PruneExpired after the lock was released = %+v, %v", got, err)
	}
	// The lock went back with the connection: the other instance can take it now.
	var locked bool
	if err := holder.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(0x76787072)).Scan(&locked); err != nil || !locked {
		t.Fatalf("prune lock still held after PruneExpired returned: %v, %v", locked, err)
	}
	if got, err := a.PruneExpired(ctx, now); err != nil || !got.Skipped {
		t.Fatalf("PruneExpired on the first instance while the lock is held = %+v, %v", got, err)
	}
}

// A database migrated by a newer release (a schema_migrations version above every
// embedded one) is refused, not "migrated" by an older binary.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	s := open(t, url)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES (999999, '999999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(ctx)
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999999") {
		t.Fatalf("Migrate on a newer schema: %v, want ErrSchemaTooNew naming 999999", err)
	}
}
