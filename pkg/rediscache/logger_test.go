package rediscache

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestSlogLogger: go-redis's messages come out as JSON lines at Warn, bounded per
// second, with the count of those left out.
func TestSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	l := &slogLogger{}
	l.l.Store(slog.New(slog.NewJSONHandler(&buf, nil)))
	for range logBurst + 5 {
		l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %s\n", 1, "connection refused")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) > logBurst {
		t.Fatalf("%d lines in one second, want at most %d", len(lines), logBurst)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "redis client" ||
		rec["detail"] != "redis: connection pool: failed to dial after 1 attempts: connection refused" {
		t.Fatalf("line %v", rec)
	}
}
