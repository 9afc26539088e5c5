package verify

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/vexen/vexen-auth/internal/testenv"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/audit"
)

// auditLines decodes the JSON lines written to b so far.
func auditLines(t testing.TB, b *testenv.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestAuditDenials: each denial through the HTTP adapter writes one access_denied
// line at info level with its reason, the client, host and path, and a token hash
// prefix, never the token; an allowed request writes nothing.
func TestAuditDenials(t *testing.T) {
	buf := &testenv.Buffer{}
	f := newFixture(t, withAudit(audit.New(buf)))
	good := f.token("s1", "u1")
	revoked := f.token("s2", "u2")
	f.sessions.Revoke("s2", "admin", f.clock.Now())
	h := f.v.Handler()
	peer := "127.0.0.1"

	if w := serve(h, authRequest("/auth", "Authorization", "Bearer "+good)); w.status != http.StatusOK {
		t.Fatalf("good token: %d", w.status)
	}
	if n := len(auditLines(t, buf)); n != 0 {
		t.Fatalf("an allowed request wrote %d audit lines: %s", n, buf)
	}
	tests := []struct {
		name   string
		req    *http.Request
		reason string
		token  string
	}{
		{"no token", authRequest("/auth"), "no_token", ""},
		{"malformed", authRequest("/auth", "Authorization", "Bearer not.a.jwt"), "malformed", "not.a.jwt"},
		{"revoked", authRequest("/auth", "Authorization", "Bearer "+revoked), "revoked", revoked},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.req)
			if w.status == http.StatusOK {
				t.Fatalf("allowed")
			}
			got := auditLines(t, buf)
			if len(got) != i+1 {
				t.Fatalf("%d lines, want %d: %s", len(got), i+1, buf)
			}
			l := got[i]
			if l["audit"] != true || l["event"] != "access_denied" || l["result"] != "failure" ||
				l["reason"] != tt.reason || l["level"] != "INFO" || l["client_ip"] != peer ||
				l["status"] != float64(w.status) || l["method"] != "GET" {
				t.Errorf("line %v, want access_denied %s from %s with status %d", l, tt.reason, peer, w.status)
			}
			if _, ok := l["token_hash"]; ok != (tt.token != "") {
				t.Errorf("token_hash present %v, want %v: %v", ok, tt.token != "", l)
			}
		})
	}
	for _, tok := range []string{good, revoked} {
		if strings.Contains(buf.String(), tok) {
			t.Fatalf("a token reached the audit log:\n%s", buf)
		}
	}
}

// TestAuditDenialFlood: 10,000 denials write a bounded number of lines; the rest
// are counted in vexen_verifier_audit_denials_dropped_total and the next line says
// how many it stands for.
func TestAuditDenialFlood(t *testing.T) {
	buf := &testenv.Buffer{}
	f := newFixture(t, withAudit(audit.New(buf)))
	req := Request{Method: http.MethodGet, Host: "app.example.com", Path: "/" + strings.Repeat("x", 5000),
		Client: netip.MustParseAddr("198.51.100.9"), Token: "garbage", Source: SourceHeader}
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2500; i++ {
				r := req
				if d, err := f.v.Decide(context.Background(), &r); err != nil || d.Allow {
					t.Errorf("garbage token: %+v %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	lines := auditLines(t, buf)
	limit := DenialAuditBurst + int(elapsed.Seconds()*DenialAuditRate) + 1
	if len(lines) < DenialAuditBurst || len(lines) > limit {
		t.Fatalf("%d lines for 10000 denials in %v, want %d..%d", len(lines), elapsed, DenialAuditBurst, limit)
	}
	dropped := metricValue(t, f.reg, "vexen_verifier_audit_denials_dropped_total", nil)
	if int(dropped) != 10000-len(lines) {
		t.Fatalf("dropped counter %v, want %d", dropped, 10000-len(lines))
	}
	if p, _ := lines[0]["path"].(string); len(p) > maxAuditField+len("…") {
		t.Errorf("path not cut: %d bytes", len(p))
	}
	if b := len(buf.String()) / len(lines); b > 1024 {
		t.Errorf("%d bytes a line, documented under 1 KiB", b)
	}

	// After a pause, the next denial is written and the lines account for every
	// drop: the sum of their "dropped" fields is the counter.
	time.Sleep(time.Second / DenialAuditRate * 2) // the bucket refills a token
	r := req
	f.v.Decide(context.Background(), &r)
	lines = auditLines(t, buf)
	if _, ok := lines[len(lines)-1]["dropped"]; !ok {
		t.Errorf("the first line after the flood does not say how many were dropped: %v", lines[len(lines)-1])
	}
	var sum float64
	for _, l := range lines {
		n, _ := l["dropped"].(float64)
		sum += n
	}
	if total := metricValue(t, f.reg, "vexen_verifier_audit_denials_dropped_total", nil); sum != total || total < dropped {
		t.Fatalf("lines account for %v drops, counter %v (was %v)", sum, total, dropped)
	}
}

// BenchmarkDecideDenyAudit is the cost of a denial (a malformed token) without an
// audit log, and with one whose bucket is empty (a flood: the line is dropped) or
// always full (every line written, to io.Discard).
func BenchmarkDecideDenyAudit(b *testing.B) {
	for _, bc := range []struct {
		name string
		rec  audit.Recorder
		rate float64
	}{
		{"off", nil, 0},
		{"flood_dropped", audit.New(io.Discard), 0},
		{"written", audit.New(io.Discard), 1e12},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, withAudit(bc.rec))
			if bc.rate > 0 {
				f.v.denials = audit.NewSampler(bc.rec, bc.rate, 1<<30)
			} else if f.v.denials != nil {
				f.v.denials = audit.NewSampler(bc.rec, 1e-9, 1)
			}
			req := Request{Method: http.MethodGet, Host: "app.example.com", Path: "/x",
				Client: netip.MustParseAddr("198.51.100.9"), Token: "garbage", Source: SourceHeader}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r := req
				f.v.Decide(ctx, &r)
			}
		})
	}
}
