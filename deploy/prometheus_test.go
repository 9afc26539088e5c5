package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPrometheusRules checks the rules with the real promtool (built into the
// tools cache by scripts/build-promtool.sh) and runs their unit tests.
func TestPrometheusRules(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	out := run(t, dir, nil, promtool, "check", "rules", "vexen-auth.rules.yml")
	t.Log(strings.TrimSpace(out))
	out = run(t, dir, nil, promtool, "test", "rules", "vexen-auth.rules.test.yml")
	t.Log(strings.TrimSpace(out))

	// Every alert of the rules file has a test that shows it firing.
	rules, _ := os.ReadFile(filepath.Join(dir, "vexen-auth.rules.yml"))
	tests, _ := os.ReadFile(filepath.Join(dir, "vexen-auth.rules.test.yml"))
	for _, m := range regexp.MustCompile(`(?m)^\s+- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1) {
		firing := regexp.MustCompile(`alertname: ` + m[1] + `\n\s+exp_alerts:\n\s+- exp_labels`)
		if !firing.Match(tests) {
			t.Errorf("alert %s has no test showing it firing", m[1])
		}
	}
	requireKnownMetrics(t, "vexen-auth.rules.yml", string(rules))
}

// requireKnownMetrics fails t for every vexen_* metric name in text that the
// binaries do not export (its name, or for histograms the name without
// _bucket/_sum/_count, must appear in the Go sources under pkg/).
func requireKnownMetrics(t *testing.T, what, text string) {
	t.Helper()
	var src strings.Builder
	root := repoRoot(t)
	err := filepath.WalkDir(filepath.Join(root, "pkg"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		src.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Issuer metrics are built from namespace, subsystem and name constants.
	code := src.String()
	code = regexp.MustCompile(`Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "`).ReplaceAllString(code, `Name: "vexen_issuer_`)
	seen := map[string]bool{}
	for _, name := range regexp.MustCompile(`\bvexen_[a-z0-9_]+`).FindAllString(text, -1) {
		if seen[name] {
			continue
		}
		seen[name] = true
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && strings.Contains(code, `"`+b+`"`) {
				base = b
			}
		}
		if !strings.Contains(code, `"`+base+`"`) {
			t.Errorf("%s uses %s, which no package under pkg/ exports", what, name)
		}
	}
	if len(seen) == 0 {
		t.Errorf("%s names no vexen_* metric", what)
	}
}
