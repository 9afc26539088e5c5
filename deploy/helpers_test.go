package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is the vexen-auth checkout this module sits in.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Dir(filepath.Dir(file))
}

// tool returns the path of a tool built into the tools cache by scripts/build-*.sh
// ($VEXEN_TOOLS/bin, default /var/cache/vexen-auth/tools/bin), or of one on PATH
// (systemd-analyze). A missing tool fails the test: it is never skipped.
func tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("VEXEN_TOOLS")
	if dir == "" {
		dir = "/var/cache/vexen-auth/tools"
	}
	if p := filepath.Join(dir, "bin", name); isExecutable(p) {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in %s/bin nor on PATH: run scripts/build-%s.sh (scripts/test.sh does)", name, dir, name)
	}
	return p
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// run runs a command and returns its combined output; a failure fails the test
// with that output.
func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}
