package verify

import (
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// TestShapeTable: equal role and amr lists share one shape, with the header values
// rendered once; lists that join to the same string but differ stay apart; the
// shape never aliases the caller's slices.
func TestShapeTable(t *testing.T) {
	var tab shapeTable
	roles := []string{"dev", "ops"}
	a := tab.get(roles, []string{"pwd", "otp", "mfa"})
	b := tab.get([]string{"dev", "ops"}, []string{"pwd", "otp", "mfa"})
	if a != b {
		t.Fatal("equal lists got two shapes")
	}
	if a.rolesHeader[0] != "dev,ops" || a.amrHeader[0] != "pwd,otp,mfa" || !a.mfa {
		t.Fatalf("shape %+v", a)
	}
	roles[0] = "admin"
	if a.roles[0] != "dev" {
		t.Fatal("the shape aliases the caller's roles")
	}
	if c := tab.get([]string{"dev,ops"}, []string{"pwd", "otp", "mfa"}); c == a || !slices.Equal(c.roles, []string{"dev,ops"}) {
		t.Fatalf("roles [dev,ops] got shape %+v", c)
	}
	if c := tab.get([]string{"dev", "ops"}, nil); c == a || c.amr != nil || c.amrHeader != nil || c.mfa {
		t.Fatalf("no amr got shape %+v", c)
	}
	none := tab.get(nil, []string{"pwd"})
	if none.roles == nil || len(none.roles) != 0 || none.rolesHeader[0] != "" || none.mfa {
		t.Fatalf("no roles got shape %+v", none)
	}
}

// TestShapeTableBound: past maxShapes distinct shapes the table stops growing and
// still answers with correct, unshared shapes.
func TestShapeTableBound(t *testing.T) {
	var tab shapeTable
	for i := range maxShapes + 10 {
		r := "r" + strconv.Itoa(i)
		if s := tab.get([]string{r}, nil); s.rolesHeader[0] != r {
			t.Fatalf("shape %d: %+v", i, s)
		}
	}
	if len(tab.m) != maxShapes {
		t.Fatalf("table holds %d shapes, want %d", len(tab.m), maxShapes)
	}
	extra := "r" + strconv.Itoa(maxShapes+5)
	if s1, s2 := tab.get([]string{extra}, nil), tab.get([]string{extra}, nil); s1 == s2 || s1.rolesHeader[0] != extra {
		t.Fatal("a shape past the bound was interned")
	}
}

// TestEntryIdentityHeaders: a cached entry's header values are views of its own
// fields and of its shape; NewIdentity and a zero Identity answer the same way.
func TestEntryIdentityHeaders(t *testing.T) {
	var tab shapeTable
	c := &tokenClaims{Sub: "u1", Email: "a@example.com", Sid: "s1", Roles: []string{"dev"}, Amr: []string{"pwd", "mfa"}}
	e := newEntry(c, tab.get(c.Roles, c.Amr), 1, 1)
	id := &e.id
	for name, got := range map[string][]string{"user": id.UserHeader(), "email": id.EmailHeader(), "session": id.SessionHeader(),
		"roles": id.RolesHeader(), "amr": id.AMRHeader()} {
		want := map[string]string{"user": "u1", "email": "a@example.com", "session": "s1", "roles": "dev", "amr": "pwd,mfa"}[name]
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s header %q, want [%q]", name, got, want)
		}
	}
	if unsafe.SliceData(id.UserHeader()) != &id.UserID {
		t.Error("UserHeader is not a view of UserID")
	}
	if !id.MFA() || !slices.Equal(id.AMR(), []string{"pwd", "mfa"}) || !slices.Equal(id.Roles(), []string{"dev"}) {
		t.Errorf("identity %+v", id)
	}
	other := newEntry(&tokenClaims{Sub: "u2", Email: "b@example.com", Sid: "s2", Roles: []string{"dev"}, Amr: []string{"pwd", "mfa"}},
		tab.get([]string{"dev"}, []string{"pwd", "mfa"}), 1, 1)
	if unsafe.SliceData(other.id.RolesHeader()) != unsafe.SliceData(id.RolesHeader()) {
		t.Error("two identities with the same roles do not share the rendered value")
	}

	hand := NewIdentity("u3", "", "s3", []string{"a", "b"}, nil)
	if hand.RolesHeader()[0] != "a,b" || hand.AMRHeader() != nil || hand.EmailHeader()[0] != "" || hand.MFA() {
		t.Errorf("NewIdentity: roles %q amr %q", hand.RolesHeader(), hand.AMRHeader())
	}
	if hand = NewIdentity("u3", "", "s3", nil, []string{"pwd", "mfa"}); hand.AMRHeader()[0] != "pwd,mfa" || !hand.MFA() || hand.Roles() == nil {
		t.Errorf("NewIdentity: amr %q, mfa %v, roles %#v", hand.AMRHeader(), hand.MFA(), hand.Roles())
	}
	var zero Identity
	if zero.Roles() != nil || zero.AMR() != nil || zero.MFA() || zero.RolesHeader()[0] != "" || zero.AMRHeader() != nil {
		t.Error("a zero Identity has roles or amr")
	}
}

// TestEntryFootprint: an entry costs what FootprintOf says (measured with the
// allocator's own count), and fits the 80-byte size class.
func TestEntryFootprint(t *testing.T) {
	var tab shapeTable
	shape := tab.get([]string{"user"}, []string{"pwd"})
	const n = 20000
	sub, sid := "0c5e64c2-5d6c-4a4e-9d5e-1f0f7b6c2a11", "7d1e2f3a-4b5c-4d6e-8f70-812a3b4c5d6e"
	email := "mem0000001@bench.example"
	claims := &tokenClaims{Sub: sub, Email: email, Sid: sid, Roles: []string{"user"}, Amr: []string{"pwd"}}
	keep := make([]*entry, n)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range keep {
		keep[i] = newEntry(claims, shape, 1, 1)
	}
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(keep)
	fp := FootprintOf(sub, email, sid)
	per := float64(m1.TotalAlloc-m0.TotalAlloc) / n
	t.Logf("entry %d B + strings %d B = %d B; measured %.1f B per entry; map slot %d B", fp.Entry, fp.Strings, fp.Entry+fp.Strings, per, fp.MapSlot)
	if want := float64(fp.Entry + fp.Strings); per < want || per > want+1 {
		t.Fatalf("an entry allocates %.1f B, FootprintOf says %.0f B", per, want)
	}
	if fp.Entry > 80 || fp.MapSlot > 24 {
		t.Fatalf("entry struct takes %d B (size %d), map slot %d B; want at most 80 and 24", fp.Entry, unsafe.Sizeof(entry{}), fp.MapSlot)
	}
	if mallocs := float64(m1.Mallocs-m0.Mallocs) / n; mallocs > 2.01 {
		t.Fatalf("%.2f allocations per entry, want 2", mallocs)
	}
}

// TestLocalCacheKeepsEntries: put, get, remove and sweep with shared shapes (the
// tombstone rule is unchanged: a tombstoned session's entries are swept).
func TestLocalCacheKeepsEntries(t *testing.T) {
	var tab shapeTable
	c := newLocalCache(100)
	tombs := newTombstones()
	now := time.Now().UnixNano()
	var hs [][32]byte
	for i := range 10 {
		var h [32]byte
		h[0], h[1] = byte(i), byte(i)
		claims := &tokenClaims{Sub: "u" + strconv.Itoa(i), Sid: "s" + strconv.Itoa(i%2), Roles: []string{"r"}}
		c.put(&h, newEntry(claims, tab.get(claims.Roles, nil), now+int64(time.Hour), now), now)
		hs = append(hs, h)
	}
	if e := c.get(&hs[3]); e == nil || e.id.UserID != "u3" || e.id.SessionID != "s1" {
		t.Fatalf("get: %+v", e)
	}
	tombs.add("s1", now+int64(time.Minute))
	if got := c.sweep(now, tombs); got != 5 {
		t.Fatalf("sweep dropped %d entries, want the 5 of session s1", got)
	}
	if c.get(&hs[3]) != nil || c.get(&hs[4]) == nil || c.n.Load() != 5 {
		t.Fatalf("after the sweep: %d entries", c.n.Load())
	}
}
