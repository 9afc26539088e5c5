package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character that is not printable made visible, Go
// style: \t \n \r and the other short escapes, \xNN for the other ASCII controls
// and DEL, \uNNNN or \UNNNNNNNN for other code points (C1 controls U+0080–U+009F,
// bidirectional controls U+200E, U+200F, U+061C, U+202A–U+202E, U+2066–U+2069,
// line and paragraph separators, zero-width and other format characters,
// unassigned and private-use code points), and \xNN for each byte that is not
// part of valid UTF-8. A backslash becomes \\, so the escaping cannot be forged:
// different strings stay different. Printable text, accented letters and scripts
// other than Latin included, is kept as is.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c >= ' ' && c < utf8.RuneSelf && c != 0x7f {
			if c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHex(&b, `\x`, uint32(c), 2)
		case unsafeRune(r):
			writeRune(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// NeedsEscape reports whether Escape would change s.
func NeedsEscape(s string) bool { return firstUnsafe(s) >= 0 }

// firstUnsafe is the index of the first byte Escape changes, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c < utf8.RuneSelf && c != 0x7f && c != '\\' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune: everything unicode.IsPrint refuses (controls Cc, format characters
// Cf such as the bidirectional controls, separators other than the ASCII space,
// private use, unassigned).
func unsafeRune(r rune) bool { return !unicode.IsPrint(r) }

func writeRune(b *strings.Builder, r rune) {
	switch r {
	case '\a':
		b.WriteString(`\a`)
	case '\b':
		b.WriteString(`\b`)
	case '\f':
		b.WriteString(`\f`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	case '\v':
		b.WriteString(`\v`)
	default:
		switch {
		case r < utf8.RuneSelf:
			writeHex(b, `\x`, uint32(r), 2)
		case r <= 0xffff:
			writeHex(b, `\u`, uint32(r), 4)
		default:
			writeHex(b, `\U`, uint32(r), 8)
		}
	}
}

func writeHex(b *strings.Builder, prefix string, v uint32, digits int) {
	const hex = "0123456789abcdef"
	b.WriteString(prefix)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hex[v>>uint(shift)&0xf])
	}
}
