// Package migrations reads a backend's embedded schema migrations: one file per
// migration, named NNNN_description.sql, applied in version order.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/vexen/vexen-auth/pkg/store"
)

// Migration is one embedded SQL file.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// List returns the migrations in dir of fsys in version order. A file not named
// NNNN_description.sql, or two files with one version, is an error.
func List(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q have the same version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// CheckApplied returns an error wrapping store.ErrSchemaTooNew when applied (the
// versions a database's schema_migrations lists) holds a version above the newest
// of ms (the binary's embedded migrations): a newer release has migrated that
// database, and this binary must not run against it.
func CheckApplied(ms []Migration, applied []int64) error {
	var newest int64
	for _, m := range ms {
		newest = max(newest, m.Version)
	}
	var db int64
	for _, v := range applied {
		db = max(db, v)
	}
	if db > newest {
		return fmt.Errorf("%w: the database is at migration %d, this binary knows up to %d; run the newer release or restore the backup taken before it migrated", store.ErrSchemaTooNew, db, newest)
	}
	return nil
}
