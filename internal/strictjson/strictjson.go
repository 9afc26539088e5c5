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

// Members checks that b is exactly one valid JSON object (blanks around it allowed)
// in which no object, the outer one or any nested in it, holds the same member name
// twice, and calls fn, in document order, for each member of the outer object with its
// name, unescaped ("r\u006fles" is "roles"), and its raw value. Names are compared byte
// for byte: "ROLES" is not "roles". An error from fn stops the walk and is returned
// as is. A nil fn only checks.
//
// The name and value slices alias b (or a buffer Members owns, for a name with
// escapes): fn must not keep them.
func Members(b []byte, fn func(name, value []byte) error) error {
	if !json.Valid(b) {
		return ErrSyntax
	}
	w := walker{b: b}
	w.blanks()
	if b[w.i] != '{' {
		return ErrNotObject
	}
	return w.object(fn)
}

// walker steps over a document json.Valid has accepted, so it checks no syntax.
type walker struct {
	b []byte
	i int
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

// object walks the object at w.i, reporting its members to fn when fn is not nil.
func (w *walker) object(fn func(name, value []byte) error) error {
	w.i++ // {
	w.blanks()
	if w.b[w.i] == '}' {
		w.i++
		return nil
	}
	var small [smallObject][]byte
	names := small[:0]
	var many map[string]struct{}
	for {
		w.blanks()
		name, err := w.name()
		if err != nil {
			return err
		}
		switch {
		case many != nil:
			if _, dup := many[string(name)]; dup {
				return ErrDuplicate
			}
			many[string(name)] = struct{}{}
		default:
			for _, n := range names {
				if string(n) == string(name) {
					return ErrDuplicate
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
		w.blanks()
		w.i++ // :
		w.blanks()
		start := w.i
		if err := w.value(); err != nil {
			return err
		}
		if fn != nil {
			if err := fn(name, w.b[start:w.i]); err != nil {
				return err
			}
		}
		w.blanks()
		if w.b[w.i] == ',' {
			w.i++
			continue
		}
		w.i++ // }
		return nil
	}
}

// name reads the member name at w.i, unescaped, with bytes that are not UTF-8
// replaced by U+FFFD as encoding/json does (so that "\xff" and "\ufffd" are one name).
func (w *walker) name() ([]byte, error) {
	start := w.i
	escaped := w.str()
	raw := w.b[start:w.i]
	if !escaped && utf8.Valid(raw) {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, ErrSyntax // cannot happen after json.Valid
	}
	return []byte(s), nil
}

// str steps over the string at w.i and reports whether it holds an escape.
func (w *walker) str() (escaped bool) {
	w.i++ // "
	for {
		switch w.b[w.i] {
		case '\\':
			escaped = true
			w.i += 2
		case '"':
			w.i++
			return escaped
		default:
			w.i++
		}
	}
}

// value steps over the value at w.i, checking the objects within it.
func (w *walker) value() error {
	switch w.b[w.i] {
	case '{':
		return w.object(nil)
	case '[':
		w.i++
		w.blanks()
		if w.b[w.i] == ']' {
			w.i++
			return nil
		}
		for {
			w.blanks()
			if err := w.value(); err != nil {
				return err
			}
			w.blanks()
			if w.b[w.i] == ',' {
				w.i++
				continue
			}
			w.i++ // ]
			return nil
		}
	case '"':
		w.str()
		return nil
	}
	// A number, true, false or null: up to the next delimiter.
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return nil
		}
		w.i++
	}
	return nil
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
	if len(v) < 2 || v[0] != '[' {
		return nil, ErrString
	}
	if !json.Valid(v) {
		return nil, ErrSyntax
	}
	w := walker{b: v, i: 1}
	w.blanks()
	if w.b[w.i] == ']' {
		return []string{}, nil
	}
	var out []string
	for {
		w.blanks()
		if w.b[w.i] != '"' {
			return nil, ErrString
		}
		start := w.i
		w.str()
		s, err := String(w.b[start:w.i])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		w.blanks()
		if w.b[w.i] == ',' {
			w.i++
			continue
		}
		return out, nil
	}
}
