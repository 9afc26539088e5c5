package cli

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hostile holds what a client can put in a User-Agent or an email: C0 (ESC, CR,
// LF), DEL, C1 (NEL, CSI), bidirectional controls and a byte that is not UTF-8.
const hostile = "curl\x1b[2J\r\nlevel=ERROR msg=forged\x7f\u0085\u009b31m\u202egnp.exe\u2066\u200f\u061c\xff"

// rawRune reports the first character of a log line a terminal or reader could be
// fooled by (the line's own trailing newline excepted), or -1.
func rawRune(line string) rune {
	line = strings.TrimSuffix(line, "\n")
	for i, r := range line {
		if r == utf8.RuneError && !strings.HasPrefix(line[i:], "\ufffd") {
			return r
		}
		if !unicode.IsPrint(r) && r != '\ufffd' {
			return r
		}
	}
	return -1
}

type hostileValuer struct{}

func (hostileValuer) LogValue() slog.Value { return slog.StringValue(hostile) }

// TestLoggerEscapes: whatever strings a log line is given (message, attribute
// values, errors, groups, With attributes, group names, LogValuers, structs), the
// line Logger writes holds no raw control or bidirectional character, in both
// formats, and one line stays one line.
func TestLoggerEscapes(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			lg, err := Logger(&buf, format, "debug")
			if err != nil {
				t.Fatal(err)
			}
			lg = lg.With("peer", hostile).WithGroup("req" + hostile)
			lg.Warn("login from "+hostile,
				"user_agent", hostile,
				hostile, "key",
				"err", errors.New("decode "+hostile),
				slog.Group("client", "ip", hostile),
				"valuer", hostileValuer{},
				"struct", struct{ UA string }{hostile},
				"n", 3)
			out := buf.String()
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("%d lines, want 1:\n%s", strings.Count(out, "\n"), out)
			}
			if r := rawRune(out); r >= 0 {
				t.Fatalf("raw %U in the log line:\n%q", r, out)
			}
			for _, want := range []string{`u0085`, `u202e`, `x1b`, `u2066`} {
				if !strings.Contains(out, want) {
					t.Errorf("no %s escape in %q", want, out)
				}
			}
			if !strings.Contains(out, `.n"=3`) && !strings.Contains(out, `"n":3`) {
				t.Errorf("the plain attribute was lost: %q", out)
			}
		})
	}
}

// TestJSONHandlerNeedsWrapping pins why Logger wraps the JSON handler: slog's own
// JSON handler writes C1 and bidirectional controls raw (and escapes C0), while the
// text handler quotes them. If a Go release changes that, this test says so.
func TestJSONHandlerNeedsWrapping(t *testing.T) {
	var j, x bytes.Buffer
	slog.New(slog.NewJSONHandler(&j, nil)).Info("m", "ua", hostile)
	slog.New(slog.NewTextHandler(&x, nil)).Info("m", "ua", hostile)
	if !strings.Contains(j.String(), "\u0085") || !strings.Contains(j.String(), "\u202e") || strings.Contains(j.String(), "\x1b") {
		t.Errorf("slog's JSON handler escapes differently now: %q", j.String())
	}
	if r := rawRune(x.String()); r >= 0 {
		t.Errorf("slog's text handler writes %U raw now: %q", r, x.String())
	}
}

// TestSafeHandlerPassesCleanLines: a line with nothing to escape reaches the wrapped
// handler as it was logged.
func TestSafeHandlerPassesCleanLines(t *testing.T) {
	var a, b bytes.Buffer
	attrs := []any{"ua", "Mozilla/5.0 (X11)", "err", errors.New("plain"), slog.Group("g", "k", 1), "s", struct{ A int }{1}}
	slog.New(slog.NewJSONHandler(&a, &slog.HandlerOptions{ReplaceAttr: dropTime})).Info("hello", attrs...)
	slog.New(SafeHandler(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: dropTime}))).Info("hello", attrs...)
	if a.String() != b.String() {
		t.Fatalf("wrapped %q, plain %q", b.String(), a.String())
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
