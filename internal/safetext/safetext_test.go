package safetext

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain ASCII", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"},
		{"empty", "", ""},
		{"printable non-ASCII kept", "café Ünïcödé 日本語 ✓ 🙂", "café Ünïcödé 日本語 ✓ 🙂"},
		{"ESC sequence", "a\x1b[31mred\x1b[0m", `a\x1b[31mred\x1b[0m`},
		{"newline and CR (log forging)", "ua\nlevel=ERROR msg=forged\r", `ua\nlevel=ERROR msg=forged\r`},
		{"tab and NUL", "a\tb\x00c", `a\tb\x00c`},
		{"bell, backspace, form feed, vertical tab", "\a\b\f\v", `\a\b\f\v`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"C1 CSI", "\u009b31m", `\u009b31m`},
		{"C1 range ends", "\u0080\u009f", `\u0080\u009f`},
		{"RLO", "abc\u202edcba", `abc\u202edcba`},
		{"bidi embeddings and overrides", "\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"LRM RLM ALM", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line and paragraph separators", "\u2028\u2029", `\u2028\u2029`},
		{"zero-width space and BOM", "\u200b\ufeff", `\u200b\ufeff`},
		{"tag character", "\U000e0041", `\U000e0041`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"invalid byte 0x85 is not U+0085", "\x85", `\x85`},
		{"surrogate half encoded", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"backslash", `C:\tmp`, `C:\\tmp`},
		{"a forged escape stays distinct", `\u202e`, `\\u202e`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Escape(tc.in)
			if got != tc.want {
				t.Fatalf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if NeedsEscape(tc.in) != (got != tc.in) {
				t.Fatalf("NeedsEscape(%q) = %v, but Escape changed it: %v", tc.in, NeedsEscape(tc.in), got != tc.in)
			}
			if NeedsEscape(got) && !strings.Contains(got, `\`) {
				t.Fatalf("Escape(%q) = %q still needs escaping", tc.in, got)
			}
		})
	}
}

// TestEscapeAllocs: text that needs nothing is returned without allocating.
func TestEscapeAllocs(t *testing.T) {
	s := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 café"
	if n := testing.AllocsPerRun(100, func() { _ = Escape(s) }); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}

// FuzzEscape: the result holds nothing but printable characters (and the escapes
// it wrote), it is the input when the input needs nothing, and it can be read back:
// adding quotes gives a Go string literal of the input when the input is valid UTF-8.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "abc", "a\x1b[0m", "\u202e", "\xff", `\`, `\x41`, "\u0085", "日本\u2066"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q is not UTF-8", s, e)
		}
		for _, r := range e {
			if unsafeRune(r) {
				t.Fatalf("Escape(%q) = %q holds %U", s, e, r)
			}
		}
		if !NeedsEscape(s) && e != s {
			t.Fatalf("Escape(%q) changed a safe string to %q", s, e)
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, '"') {
			return
		}
		back, err := strconv.Unquote(`"` + e + `"`)
		if err != nil || back != s {
			t.Fatalf("Escape(%q) = %q reads back as %q, %v", s, e, back, err)
		}
	})
}
