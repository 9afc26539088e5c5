package deploy

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReleaseReproducible builds the verifier twice with scripts/release.sh, from
// the checkout and from a copy of it at another path without .git, and requires
// byte-identical binaries and SHA256SUMS; then runs the binary's --version.
// (One binary for the host platform keeps it under two minutes; make release
// builds both for linux/amd64 and linux/arm64 the same way.)
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds release binaries")
	}
	root := repoRoot(t)
	const version, commit = "v0.0.0-reprotest", "0123456789abcdef0123456789abcdef01234567"
	target := runtime.GOOS + "/" + runtime.GOARCH
	env := func(dist string) []string {
		return []string{"DIST=" + dist, "RELEASE_TARGETS=" + target, "RELEASE_BINARIES=verifier",
			"VERSION=" + version, "COMMIT=" + commit}
	}

	distA := t.TempDir()
	run(t, root, env(distA), "bash", "scripts/release.sh")

	// A copy of the working tree (tracked and untracked, not ignored) elsewhere.
	copyDir := filepath.Join(t.TempDir(), "elsewhere", "vexen-auth")
	files := run(t, root, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		src := filepath.Join(root, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(copyDir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	distB := t.TempDir()
	run(t, copyDir, env(distB), "bash", "scripts/release.sh")

	name := "verifier-" + runtime.GOOS + "-" + runtime.GOARCH
	for _, f := range []string{name, "SHA256SUMS"} {
		a, err := os.ReadFile(filepath.Join(distA, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(distB, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same tree (%d vs %d bytes)", f, len(a), len(b))
		}
	}
	sums, _ := os.ReadFile(filepath.Join(distA, "SHA256SUMS"))
	if !strings.Contains(string(sums), "  "+name+"\n") {
		t.Errorf("SHA256SUMS does not list %s:\n%s", name, sums)
	}
	run(t, distA, nil, "sha256sum", "--check", "--strict", "SHA256SUMS")

	out, err := exec.Command(filepath.Join(distA, name), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	for _, want := range []string{"verifier " + version, "commit " + commit, runtime.Version()} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version printed %q, want %q in it", out, want)
		}
	}
	// Static: no program interpreter and no shared libraries, so it runs on an empty image.
	requireStatic(t, filepath.Join(distA, name))
}

// requireStatic fails t unless the ELF file at path has no interpreter and no
// dynamic library dependencies.
func requireStatic(t testing.TB, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not statically linked", path)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", path, libs, err)
	}
}
