package storetest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/sqlite"
	"github.com/vexen/vexen-auth/pkg/store/storetest"
)

// A backend's test file runs the whole suite with a function that opens a Store on
// a fresh, empty database.
func ExampleRun() {
	_ = func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) store.Store {
			s, err := sqlite.OpenPath(context.Background(), filepath.Join(t.TempDir(), "vexen.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	}
}
