package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/sqlite"
	"github.com/vexen/vexen-auth/pkg/store/storetest"
)

func open(t testing.TB, url string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return open(t, testenv.SQLiteURL(t)) })
}

// Two Stores on one file, as the issuer and verifier processes have.
func TestTwoInstances(t *testing.T) {
	storetest.RunInstances(t, func(t testing.TB) (store.Store, store.Store) {
		url := testenv.SQLiteURL(t)
		return open(t, url), open(t, url)
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) store.Store { return open(tb, testenv.SQLiteURL(tb)) })
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"sqlite:./data/vexen.db", "./data/vexen.db"},
		{"sqlite:data/vexen.db", "data/vexen.db"},
		{"sqlite:/var/lib/vexen/vexen.db", "/var/lib/vexen/vexen.db"},
		{"sqlite:///var/lib/vexen/vexen.db", "/var/lib/vexen/vexen.db"},
		{"sqlite://./vexen.db", "./vexen.db"},
		{"sqlite:file:/tmp/x.db", "/tmp/x.db"},
		{"SQLite:x.db", "x.db"},
	} {
		got, err := sqlite.ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"sqlite:", "sqlite://", "sqlite::memory:", "sqlite:file::memory:?cache=shared",
		"sqlite:x.db?_pragma=journal_mode(DELETE)", "postgres://x/y", "x.db",
	} {
		if got, err := sqlite.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir with space?#%")
	path := filepath.Join(dir, "vexen.db")
	// OpenPath: a DATABASE_URL cannot carry '?', a path can.
	s, err := sqlite.OpenPath(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path = %q, want %q", s.Path(), path)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(context.Background(), store.User{Email: "a@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %o, want 700", perm)
	}
	for _, name := range []string{"vexen.db", "vexen.db-wal", "vexen.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s mode %o, want no group or other access", name, perm)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want the database and its WAL files only", names)
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	url := testenv.SQLiteURL(t)
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*sqlite.Store); !ok {
		t.Fatalf("store.Open(%s) = %T", url, s)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsNonDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.OpenPath(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a file that is not a database")
	}
}

func TestUnmigratedStoreFails(t *testing.T) {
	s := open(t, testenv.SQLiteURL(t))
	_, err := s.UserByID(context.Background(), "x")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByID before Migrate: %v, want a schema error", err)
	}
}

// A database migrated by a newer release (a schema_migrations version above every
// embedded one) is refused, not "migrated" by an older binary.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := testenv.SQLiteURL(t)
	s := open(t, url)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	path, err := sqlite.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, '999999_future.sql', unixepoch())"); err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(ctx)
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999999") {
		t.Fatalf("Migrate on a newer schema: %v, want ErrSchemaTooNew naming 999999", err)
	}
}
