package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vexen-sqlite")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The directory "data" does not exist yet: Open creates it, and the file.
	s, err := sqlite.Open(ctx, "sqlite:"+filepath.Join(dir, "data", "vexen.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("database file mode %v\n", fi.Mode().Perm())

	u, err := s.CreateUser(ctx, store.User{
		Email: "Grace@Example.com", PasswordHash: "$argon2id$…",
		CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 123456789, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	got, err := s.UserByEmail(ctx, "grace@example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.ID == u.ID, got.Email, got.CreatedAt.Format(time.RFC3339Nano))
	// Output:
	// database file mode -rw-------
	// true Grace@Example.com 2030-01-01T00:00:00.123456Z
}
