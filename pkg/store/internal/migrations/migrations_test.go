package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
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
