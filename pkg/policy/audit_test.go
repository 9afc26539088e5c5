package policy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vexen/vexen-auth/pkg/audit"
)

type auditEvents struct {
	mu sync.Mutex
	ev []audit.Event
}

func (a *auditEvents) Record(_ context.Context, e audit.Event) {
	a.mu.Lock()
	a.ev = append(a.ev, e)
	a.mu.Unlock()
}

func attr(e audit.Event, key string) (slog.Value, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return slog.Value{}, false
}

// TestReloaderAudit: a good reload and a refused one each write one policy_reload
// event with the result; the refused one carries the error.
func TestReloaderAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("default: authenticated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(path, first, func(*Policy) {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec auditEvents
	r.SetAudit(&rec)
	tests := []struct {
		content string
		result  string
		attr    string
	}{
		{"default: deny\n", audit.Success, "rules"},
		{"default: [\n", audit.Failure, "err"},
	}
	for i, tt := range tests {
		if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		err := r.Reload()
		if (err == nil) != (tt.result == audit.Success) {
			t.Fatalf("%q: Reload err %v", tt.content, err)
		}
		if len(rec.ev) != i+1 {
			t.Fatalf("%q: %d events, want %d", tt.content, len(rec.ev), i+1)
		}
		e := rec.ev[i]
		if e.Event != audit.EventPolicyReload || e.Result != tt.result || e.Actor != audit.ActorSystem {
			t.Errorf("%q: event %+v", tt.content, e)
		}
		if f, _ := attr(e, "file"); f.String() != path {
			t.Errorf("%q: file %v", tt.content, f)
		}
		if _, ok := attr(e, tt.attr); !ok {
			t.Errorf("%q: no %s in %+v", tt.content, tt.attr, e.Attrs)
		}
	}
}
