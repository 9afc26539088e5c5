package rules

import (
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

func TestReuseDetected(t *testing.T) {
	used := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		now   time.Time
		grace time.Duration
		want  bool
	}{
		{"no grace, same instant", used, 0, true},
		{"negative grace", used, -time.Second, true},
		{"inside grace", used.Add(2 * time.Second), 5 * time.Second, false},
		{"at the limit", used.Add(5 * time.Second), 5 * time.Second, false},
		{"just past", used.Add(5*time.Second + time.Microsecond), 5 * time.Second, true},
		{"clock behind the first use", used.Add(-time.Second), 5 * time.Second, false},
	} {
		if got := ReuseDetected(used, tc.now, tc.grace); got != tc.want {
			t.Errorf("%s: ReuseDetected = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLiveTokens(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sess := store.Session{ID: "s", UserID: "u"}
	for _, tc := range []struct {
		name                    string
		refreshExp, accessExp   time.Time
		usedAt                  time.Time
		access                  string
		wantRefresh, wantAccess bool
	}{
		{"both live", now.Add(time.Hour), now.Add(time.Minute), time.Time{}, "a", true, true},
		{"access expired", now.Add(time.Hour), now, time.Time{}, "a", true, false},
		{"refresh expired", now, now.Add(time.Minute), time.Time{}, "a", false, true},
		{"no access token recorded", now.Add(time.Hour), time.Time{}, time.Time{}, "", true, false},
		{"refresh rotated", now.Add(time.Hour), now.Add(time.Minute), now.Add(-time.Second), "a", false, true},
		{"refresh rotated, access expired", now.Add(time.Hour), now, now.Add(-time.Hour), "a", false, false},
	} {
		th, ok := LiveTokens(sess, "r", tc.refreshExp, tc.usedAt, tc.access, tc.accessExp, now)
		if th.SessionID != "s" || th.UserID != "u" {
			t.Errorf("%s: %+v names the wrong session", tc.name, th)
		}
		if (th.Refresh == "r") != tc.wantRefresh || (th.Refresh == "") != th.RefreshExpiresAt.IsZero() {
			t.Errorf("%s: refresh half %+v, want present=%v", tc.name, th, tc.wantRefresh)
		}
		if (th.Access == "a") != tc.wantAccess || (th.Access == "") != th.AccessExpiresAt.IsZero() {
			t.Errorf("%s: access half %+v, want present=%v", tc.name, th, tc.wantAccess)
		}
		if ok != (tc.wantRefresh || tc.wantAccess) {
			t.Errorf("%s: ok = %v", tc.name, ok)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		if len(id) != 36 || id[14] != '4' || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
			t.Fatalf("NewID() = %q, not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNorm(t *testing.T) {
	in := time.Date(2030, 1, 1, 5, 30, 0, 123456789, time.FixedZone("X", 5*3600+1800))
	got := Norm(in)
	if got.Location() != time.UTC || got.Nanosecond() != 123456000 || !got.Equal(in.Truncate(time.Microsecond)) {
		t.Errorf("Norm(%v) = %v", in, got)
	}
	if !Norm(time.Time{}).IsZero() {
		t.Error("Norm(zero) is not zero")
	}
}
