package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func lines(t testing.TB, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestLoggerFields(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name   string
		ctx    context.Context
		ev     Event
		want   map[string]any
		absent []string
	}{
		{
			name: "login failure from context client",
			ctx:  WithClient(context.Background(), Client{IP: ip, UserAgent: "curl/8", Via: "api"}),
			ev:   Event{Event: EventLogin, Result: Failure, Reason: "unknown_user", Email: "who@example.com"},
			want: map[string]any{"audit": true, "event": "login", "result": "failure", "reason": "unknown_user",
				"email": "who@example.com", "client_ip": "192.0.2.7", "user_agent": "curl/8", "via": "api", "level": "INFO"},
			absent: []string{"msg", "user_id", "session_id", "actor"},
		},
		{
			name: "explicit fields win over the context",
			ctx:  WithClient(context.Background(), Client{IP: ip, Via: "api"}),
			ev: Event{Event: EventLogoutAll, Actor: ActorUser, UserID: "u1", SessionIDs: []string{"s1", "s2"},
				ClientIP: netip.MustParseAddr("2001:db8::1"), Via: "browser"},
			want: map[string]any{"event": "logout_all", "actor": "user", "user_id": "u1",
				"session_ids": []any{"s1", "s2"}, "client_ip": "2001:db8::1", "via": "browser"},
			absent: []string{"result", "reason", "user_agent"},
		},
		{
			name:   "admin command",
			ctx:    WithClient(context.Background(), Client{Via: "cli", Operator: "root"}),
			ev:     Event{Event: EventUserAdded, Actor: ActorAdmin, UserID: "u9", Email: "x@example.com"},
			want:   map[string]any{"event": "user_added", "actor": "admin", "via": "cli", "operator": "root"},
			absent: []string{"client_ip", "user_agent"},
		},
		{
			name: "attrs escaped",
			ctx:  context.Background(),
			ev: Event{Event: EventPolicyReload, Result: Failure, Actor: ActorSystem,
				Attrs: []slog.Attr{slog.Any("err", errors.New("bad\u202erule")), slog.String("file", "p\x7f.yaml"), slog.Int("rules", 3)}},
			want:   map[string]any{"err": `bad\u202erule`, "file": `p\x7f.yaml`, "rules": float64(3)},
			absent: []string{"client_ip"},
		},
		{
			name: "client strings escaped",
			ctx:  WithClient(context.Background(), Client{UserAgent: "x\u0085\"}\n{\"audit\":true"}),
			ev:   Event{Event: EventLogin, Result: Failure, Reason: "wrong_password", Email: "a\u202e@b"},
			want: map[string]any{"user_agent": `x\u0085"}\n{"audit":true`, "email": `a\u202e@b`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			New(&buf).Record(tt.ctx, tt.ev)
			got := lines(t, buf.Bytes())
			if len(got) != 1 {
				t.Fatalf("%d lines, want 1: %s", len(got), buf.Bytes())
			}
			for k, v := range tt.want {
				gv, _ := json.Marshal(got[0][k])
				wv, _ := json.Marshal(v)
				if !bytes.Equal(gv, wv) {
					t.Errorf("%s = %s, want %s (line %s)", k, gv, wv, buf.Bytes())
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[0][k]; ok {
					t.Errorf("%s present: %s", k, buf.Bytes())
				}
			}
			if _, ok := got[0]["time"]; !ok {
				t.Errorf("no time: %s", buf.Bytes())
			}
			for _, r := range buf.String() {
				if r == '\u202e' || r == '\u0085' || r == 0x7f {
					t.Errorf("raw control %U in %q", r, buf.String())
				}
			}
		})
	}
}

type countRecorder struct {
	mu     sync.Mutex
	events []Event
}

func (c *countRecorder) Record(_ context.Context, e Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// TestSamplerFlood: 10,000 denials at once write the burst and no more; the rest are
// counted, and the next line after the bucket refills carries the count.
func TestSamplerFlood(t *testing.T) {
	var rec countRecorder
	s := NewSampler(&rec, 10, 100)
	now := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				s.record(context.Background(), Event{Event: EventDenied}, now)
			}
		}()
	}
	wg.Wait()
	if len(rec.events) != 100 {
		t.Fatalf("%d lines written under a flood of 10000, want the burst 100", len(rec.events))
	}
	if s.Dropped() != 9900 {
		t.Fatalf("Dropped = %d, want 9900", s.Dropped())
	}
	s.record(context.Background(), Event{Event: EventDenied}, now.Add(time.Second))
	if len(rec.events) != 101 {
		t.Fatalf("after a second: %d lines, want 101", len(rec.events))
	}
	last := rec.events[100]
	if len(last.Attrs) != 1 || last.Attrs[0].Key != "dropped" || last.Attrs[0].Value.Uint64() != 9900 {
		t.Fatalf("line after the flood: attrs %v, want dropped=9900", last.Attrs)
	}
	s.record(context.Background(), Event{Event: EventDenied}, now.Add(time.Second))
	if n := len(rec.events[101].Attrs); n != 0 {
		t.Fatalf("the following line repeats the count: %v", rec.events[101].Attrs)
	}
}

// TestSamplerBoundsBytes writes a flood through a real Logger and checks the size.
func TestSamplerBoundsBytes(t *testing.T) {
	var buf bytes.Buffer
	s := NewSampler(New(&buf), 0, 0) // defaults: 10/s, burst 100
	for i := 0; i < 10000; i++ {
		s.Record(context.Background(), Event{Event: EventDenied, Reason: "invalid_token"})
	}
	n := len(lines(t, buf.Bytes()))
	if n < 100 || n > 110 { // the burst, plus what refilled while the loop ran
		t.Fatalf("%d lines for 10000 denials, want about 100", n)
	}
	if s.Dropped() != uint64(10000-n) {
		t.Fatalf("Dropped = %d, want %d", s.Dropped(), 10000-n)
	}
}

func TestOpenFileModeAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := 0; i < 2; i++ {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		New(f).Record(context.Background(), Event{Event: EventKeyRotated, Actor: ActorAdmin})
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if got := strings.Count(string(b), `"event":"key_rotated"`); got != 2 {
		t.Fatalf("%d lines after two opens, want 2 (appended): %s", got, b)
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Fatal("OpenFile in a missing directory: no error")
	}
}
