package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

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
