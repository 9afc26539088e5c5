package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrLiteralMissing is returned by Render when a sample config no longer contains
// a literal the tests replace: the sample changed, and the tests must follow.
var ErrLiteralMissing = errors.New("e2e: literal not found in sample config")

// Replacement replaces every occurrence of Old by New.
type Replacement struct {
	Old, New string
}

// Render returns src with each replacement applied, in order. Every Old must occur
// in src (else ErrLiteralMissing): a sample config is rendered for a test by
// replacing its default addresses, ports and paths, so the committed file stays a
// valid, ready-to-use config and the test runs exactly that file otherwise.
func Render(src string, repl ...Replacement) (string, error) {
	for _, r := range repl {
		if r.Old == "" {
			return "", fmt.Errorf("e2e: empty literal in replacement for %q", r.New)
		}
		if !strings.Contains(src, r.Old) {
			return "", fmt.Errorf("%w: %q", ErrLiteralMissing, r.Old)
		}
		src = strings.ReplaceAll(src, r.Old, r.New)
	}
	return src, nil
}

// RenderFile reads the file at src, renders it with repl and writes the result to
// dst (mode 0644), creating dst's directory.
func RenderFile(dst, src string, repl ...Replacement) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	out, err := Render(string(b), repl...)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, []byte(out), 0o644)
}
