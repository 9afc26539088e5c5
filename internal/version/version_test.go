package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--version=true"}, true},
		{[]string{"serve", "--version"}, true},
		{[]string{"--listen", ":1", "--version"}, true},
		{[]string{"version"}, false}, // a word, not a flag
		{[]string{"--", "--version"}, false},
		{[]string{"--versions"}, false},
		{[]string{"--help"}, false},
	} {
		if got := Requested(tc.args); got != tc.want {
			t.Errorf("Requested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	old, oldC := Version, Commit
	t.Cleanup(func() { Version, Commit = old, oldC })
	Version, Commit = "v1.2.3", "0123abcd"
	got := String("issuer")
	for _, want := range []string{"issuer v1.2.3", "commit 0123abcd", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(got, want) {
			t.Errorf("String = %q, want it to contain %q", got, want)
		}
	}
}
