package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/deploy/dashboard"
)

// TestDashboardUpToDate regenerates the dashboard and compares it with the
// committed JSON; then checks it names only metrics the binaries export and has a
// panel for each thing operators watch.
func TestDashboardUpToDate(t *testing.T) {
	got, err := dashboard.JSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot(t), "deploy", "grafana", "vexen-auth.json")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `cd deploy && go run ./cmd/dashboard-gen` and commit it", path)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(got, &d); err != nil {
		t.Fatal(err)
	}
	var exprs, titles strings.Builder
	for _, p := range d.Panels {
		titles.WriteString(p.Title + "\n")
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs.WriteString(q.Expr + "\n")
		}
	}
	for _, want := range []string{"Decisions by outcome and reason", "Cache hit ratio by layer", "Decision latency",
		"Revocation propagation", "Revocation feed freshness", "Backend and Redis errors", "Sign-ins by result", "Refreshes and reuse"} {
		if !strings.Contains(titles.String(), want+"\n") {
			t.Errorf("no panel %q", want)
		}
	}
	requireKnownMetrics(t, "the dashboard", exprs.String())
}
