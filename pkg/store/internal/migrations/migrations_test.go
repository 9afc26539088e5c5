package migrations

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vexen/vexen-auth/pkg/store"
)

func TestList(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
		"m/0010_c.sql": {Data: []byte("C")},
	}
	ms, err := List(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name+"="+m.SQL)
	}
	if strings.Join(got, " ") != "0001_a.sql=A 0002_b.sql=B 0010_c.sql=C" {
		t.Fatalf("order: %v", got)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no version":   {"m/init.sql": {}},
		"zero version": {"m/0000_x.sql": {}},
		"same version": {"m/0001_a.sql": {}, "m/1_b.sql": {}},
	} {
		if _, err := List(bad, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckApplied(t *testing.T) {
	ms := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	for _, tc := range []struct {
		name    string
		applied []int64
		tooNew  bool
	}{
		{"fresh database", nil, false},
		{"behind", []int64{1}, false},
		{"current", []int64{1, 2, 3}, false},
		{"one ahead", []int64{1, 2, 3, 4}, true},
		{"far ahead, unordered", []int64{9000, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckApplied(ms, tc.applied)
			if got := errors.Is(err, store.ErrSchemaTooNew); got != tc.tooNew {
				t.Fatalf("CheckApplied(%v) = %v; want ErrSchemaTooNew: %v", tc.applied, err, tc.tooNew)
			}
		})
	}
}
