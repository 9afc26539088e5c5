package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Errors of Members. Each names the rule the document broke; the caller chooses what
// the client is told.
var (
	ErrSyntax    = errors.New("strictjson: not valid JSON")
	ErrNotObject = errors.New("strictjson: not a JSON object")
	ErrDuplicate = errors.New("strictjson: duplicated member name")
	ErrString    = errors.New("strictjson: not a JSON string")
)

// smallObject is how many member names of one object are compared pairwise before a
// map takes over (a long object must not cost quadratic time).
const smallObject = 16

// maxDepth is encoding/json's nesting limit: deeper documents are not valid there
// either.
const maxDepth = 10000

// Members checks that b is exactly one valid JSON object (blanks around it allowed)
// in which no object, the outer one or any nested in it, holds the same member name
// twice, and calls fn, in document order, for each member of the outer object with its
// name, unescaped ("r\u006fles" is "roles"), and its raw value. Names are compared byte
// for byte: "ROLES" is not "roles". A nil fn only checks.
//
// One pass does it all. ErrSyntax or ErrNotObject wins over any other error; then
// the first of ErrDuplicate and an error from fn (returned as is). After such an
// error fn is not called again, but it may have been called for members before a
// syntax error further on: on any error, discard what fn gathered.
//
// The name and value slices alias b (or a buffer Members owns, for a name with
// escapes): fn must not keep them.
func Members(b []byte, fn func(name, value []byte) error) error {
	w := walker{b: b}
	w.blanks()
	if w.i < len(b) && b[w.i] != '{' {
		if w.value(0) && w.end() {
			return ErrNotObject
		}
		return ErrSyntax
	}
	if !w.object(0, fn) || !w.end() {
		return ErrSyntax
	}
	return w.err
}

// walker checks JSON syntax as encoding/json's scanner does while it steps over a
// document. Its methods report false on a syntax error; other errors wait in err.
type walker struct {
	b   []byte
	i   int
	err error // the first ErrDuplicate or error from fn
}

func (w *walker) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *walker) blanks() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// end reports whether only blanks are left.
func (w *walker) end() bool {
	w.blanks()
	return w.i == len(w.b)
}

// next skips blanks and reports whether the next byte is c, consuming it if so.
func (w *walker) next(c byte) bool {
	w.blanks()
	if w.i < len(w.b) && w.b[w.i] == c {
		w.i++
		return true
	}
	return false
}

// object walks the object at w.i, handing its members to fn (nil for nested
// objects) until an error is set.
func (w *walker) object(depth int, fn func(name, value []byte) error) bool {
	if depth++; depth > maxDepth || !w.next('{') {
		return false
	}
	if w.next('}') {
		return true
	}
	var small [smallObject][]byte
	names := small[:0]
	var many map[string]struct{}
	for {
		w.blanks()
		start := w.i
		escaped, ok := w.str()
		if !ok {
			return false
		}
		if w.err == nil {
			name := w.b[start+1 : w.i-1]
			if escaped || !utf8.Valid(name) {
				name = unescape(w.b[start:w.i])
			}
			switch {
			case many != nil:
				if _, dup := many[string(name)]; dup {
					w.fail(ErrDuplicate)
				}
				many[string(name)] = struct{}{}
			default:
				for _, n := range names {
					if string(n) == string(name) {
						w.fail(ErrDuplicate)
					}
				}
				if len(names) < smallObject {
					names = append(names, name)
				} else {
					many = make(map[string]struct{}, 2*smallObject)
					for _, n := range names {
						many[string(n)] = struct{}{}
					}
					many[string(name)] = struct{}{}
				}
			}
			if !w.next(':') {
				return false
			}
			w.blanks()
			vstart := w.i
			if !w.value(depth) {
				return false
			}
			if fn != nil && w.err == nil {
				if err := fn(name, w.b[vstart:w.i]); err != nil {
					w.fail(err)
				}
			}
		} else if !w.next(':') || !w.value(depth) {
			return false
		}
		if w.next(',') {
			continue
		}
		return w.next('}')
	}
}

// unescape decodes a quoted JSON string that str accepted; bytes that are not UTF-8
// become U+FFFD, as encoding/json does (so that "\xff" and "\ufffd" are one name).
func unescape(quoted []byte) []byte {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		panic("strictjson: a checked string did not decode: " + err.Error())
	}
	return []byte(s)
}

// str steps over the string at w.i, reporting whether it holds an escape.
func (w *walker) str() (escaped, ok bool) {
	if w.i >= len(w.b) || w.b[w.i] != '"' {
		return false, false
	}
	for w.i++; w.i < len(w.b); {
		c := w.b[w.i]
		switch {
		case c == '"':
			w.i++
			return escaped, true
		case c < ' ':
			return false, false
		case c == '\\':
			escaped = true
			if w.i+1 >= len(w.b) {
				return false, false
			}
			switch w.b[w.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				w.i += 2
			case 'u':
				if w.i+6 > len(w.b) {
					return false, false
				}
				for _, h := range w.b[w.i+2 : w.i+6] {
					if !isHex(h) {
						return false, false
					}
				}
				w.i += 6
			default:
				return false, false
			}
		default:
			w.i++
		}
	}
	return false, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// value steps over the value at w.i (blanks before it skipped).
func (w *walker) value(depth int) bool {
	w.blanks()
	if w.i >= len(w.b) {
		return false
	}
	switch c := w.b[w.i]; {
	case c == '{':
		return w.object(depth, nil)
	case c == '[':
		if depth++; depth > maxDepth {
			return false
		}
		w.i++
		if w.next(']') {
			return true
		}
		for {
			if !w.value(depth) {
				return false
			}
			if w.next(',') {
				continue
			}
			return w.next(']')
		}
	case c == '"':
		_, ok := w.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return w.number()
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	}
	return false
}

func (w *walker) literal(lit string) bool {
	if len(w.b)-w.i < len(lit) || string(w.b[w.i:w.i+len(lit)]) != lit {
		return false
	}
	w.i += len(lit)
	return true
}

// number steps over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (w *walker) number() bool {
	if w.b[w.i] == '-' {
		w.i++
	}
	switch {
	case w.i < len(w.b) && w.b[w.i] == '0':
		w.i++
	case w.digits() == 0:
		return false
	}
	if w.i < len(w.b) && w.b[w.i] == '.' {
		w.i++
		if w.digits() == 0 {
			return false
		}
	}
	if w.i < len(w.b) && (w.b[w.i] == 'e' || w.b[w.i] == 'E') {
		w.i++
		if w.i < len(w.b) && (w.b[w.i] == '+' || w.b[w.i] == '-') {
			w.i++
		}
		if w.digits() == 0 {
			return false
		}
	}
	return true
}

func (w *walker) digits() int {
	n := 0
	for w.i < len(w.b) && '0' <= w.b[w.i] && w.b[w.i] <= '9' {
		w.i++
		n++
	}
	return n
}

// String decodes a raw JSON value as a string; null is "".
// A string without escapes is copied as is (one allocation); one with escapes or
// bytes that are not UTF-8 is read by encoding/json, which replaces such bytes with
// U+FFFD.
func String(v []byte) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) < 2 || v[0] != '"' {
		return "", ErrString
	}
	if in := v[1 : len(v)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", ErrString
	}
	return s, nil
}

// Strings decodes a raw JSON value as an array of strings; null is nil and [] is
// empty. Any element that is not a string is ErrString.
func Strings(v []byte) ([]string, error) {
	if string(v) == "null" {
		return nil, nil
	}
	w := walker{b: v}
	if !w.next('[') {
		return nil, ErrString
	}
	if w.next(']') {
		if !w.end() {
			return nil, ErrSyntax
		}
		return []string{}, nil
	}
	var out []string
	for {
		w.blanks()
		start := w.i
		if w.i >= len(v) || v[w.i] != '"' {
			return nil, ErrString
		}
		if _, ok := w.str(); !ok {
			return nil, ErrSyntax
		}
		s, err := String(v[start:w.i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if w.next(',') {
			continue
		}
		if !w.next(']') || !w.end() {
			return nil, ErrSyntax
		}
		return out, nil
	}
}
