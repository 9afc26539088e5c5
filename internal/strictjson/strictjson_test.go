package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// manyMembers is an object of n distinct members, then extra appended verbatim.
func manyMembers(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"m%d":%d,`, i, i)
	}
	b.WriteString(extra + "}")
	return b.String()
}

func TestMembers(t *testing.T) {
	errStop := errors.New("stop")
	for _, tc := range []struct {
		name string
		doc  string
		want error
		seen string // the top-level members as name=value;...
	}{
		{"empty object", ` {} `, nil, ""},
		{"members in order", `{"b":1,"a":"x","c":[1,{"d":null}],"e":{"f":true}}`, nil, `b=1;a="x";c=[1,{"d":null}];e={"f":true};`},
		{"blanks everywhere", "\t{ \"a\" :\n1 , \"b\" : [ ] }\r\n", nil, "a=1;b=[ ];"},
		{"escaped name is unescaped", `{"r\u006fles":["a"]}`, nil, `roles=["a"];`},
		{"escaped quote in a name", `{"a\"b":1}`, nil, `a"b=1;`},
		{"names differing in case are distinct", `{"roles":1,"ROLES":2,"Roles":3}`, nil, "roles=1;ROLES=2;Roles=3;"},
		{"same name in sibling objects", `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`, nil, `a={"x":1};b={"x":2};c=[{"x":1},{"x":2}];`},
		{"same name at two depths", `{"x":{"x":{"x":1}}}`, nil, `x={"x":{"x":1}};`},
		{"duplicate", `{"sub":"a","sub":"b"}`, ErrDuplicate, `sub="a";`},
		{"duplicate, one escaped", `{"roles":[],"r\u006fles":["admin"]}`, ErrDuplicate, "roles=[];"},
		{"duplicate, both escaped", `{"\u0061":1,"\u0061":2}`, ErrDuplicate, "a=1;"},
		{"duplicate in a nested object", `{"a":{"k":1,"k":2}}`, ErrDuplicate, ""},
		{"duplicate in an object in an array", `{"a":[[{"k":1,"j":0,"k":2}]]}`, ErrDuplicate, ""},
		{"duplicate after many members", manyMembers(40, `"m3":0`), ErrDuplicate, ""},
		{"duplicate at the map threshold", manyMembers(smallObject, `"m0":0`), ErrDuplicate, ""},
		{"many distinct members", manyMembers(100, `"last":0`), nil, ""},
		{"names not UTF-8 read as encoding/json does", "{\"\xff\":1,\"\\ufffd\":2}", ErrDuplicate, "\ufffd=1;"},
		{"empty name twice", `{"":1,"":2}`, ErrDuplicate, "=1;"},
		{"array", `["a"]`, ErrNotObject, ""},
		{"string", `"a"`, ErrNotObject, ""},
		{"null", `null`, ErrNotObject, ""},
		{"empty", ``, ErrSyntax, ""},
		{"blank", `  `, ErrSyntax, ""},
		{"two objects", `{}{}`, ErrSyntax, ""},
		{"trailing comma", `{"a":1,}`, ErrSyntax, ""},
		{"single quotes", `{'a':1}`, ErrSyntax, ""},
		{"raw control character", "{\"a\":\"\x1b\"}", ErrSyntax, ""},
		{"unterminated", `{"a":"b`, ErrSyntax, ""},
		{"fn error stops the calls", `{"stop":1,"after":2}`, errStop, "stop=1;"},
		{"a syntax error after a duplicate wins", `{"a":1,"a":2,`, ErrSyntax, ""},
		{"a syntax error after an fn error wins", `{"stop":1,"x":}`, ErrSyntax, ""},
		{"leading zero", `{"a":01}`, ErrSyntax, ""},
		{"minus alone", `{"a":-}`, ErrSyntax, ""},
		{"dot without digits", `{"a":1.}`, ErrSyntax, ""},
		{"exponent without digits", `{"a":1e+}`, ErrSyntax, ""},
		{"numbers", `{"a":-0.5e+10,"b":0,"c":12E-3,"d":-7}`, nil, "a=-0.5e+10;b=0;c=12E-3;d=-7;"},
		{"literals", `{"a":true,"b":false,"c":null}`, nil, "a=true;b=false;c=null;"},
		{"truncated literal", `{"a":tru}`, ErrSyntax, ""},
		{"short u escape", `{"a":"\u12"}`, ErrSyntax, ""},
		{"unknown escape", `{"a":"\x41"}`, ErrSyntax, ""},
		{"missing colon", `{"a" 1}`, ErrSyntax, ""},
		{"missing comma", `{"a":1 "b":2}`, ErrSyntax, ""},
		{"name not a string", `{a:1}`, ErrSyntax, ""},
		{"array trailing comma", `{"a":[1,]}`, ErrSyntax, ""},
		{"unclosed array", `{"a":[1}`, ErrSyntax, ""},
		{"nested at encoding/json's limit", `{"m0":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`, nil, ""},
		{"nested past encoding/json's limit", `{"m0":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, ErrSyntax, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen strings.Builder
			err := Members([]byte(tc.doc), func(name, value []byte) error {
				if strings.HasPrefix(string(name), "m") && len(name) > 1 && name[1] >= '0' && name[1] <= '9' || string(name) == "last" {
					return nil
				}
				fmt.Fprintf(&seen, "%s=%s;", name, value)
				if string(name) == "stop" {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Members(%s) = %v, want %v", tc.doc, err, tc.want)
			}
			if tc.want == nil || tc.seen != "" {
				if got := seen.String(); got != tc.seen {
					t.Fatalf("members seen %q, want %q", got, tc.seen)
				}
			}
			if json.Valid([]byte(tc.doc)) == (tc.want == ErrSyntax) {
				t.Fatalf("json.Valid(%s) = %v, but Members says %v", tc.doc, json.Valid([]byte(tc.doc)), tc.want)
			}
			// A nil fn checks the same way.
			if err := Members([]byte(tc.doc), nil); tc.want != errStop && !errors.Is(err, tc.want) {
				t.Fatalf("Members(nil fn) = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{`"plain"`, "plain", false},
		{`""`, "", false},
		{`null`, "", false},
		{`"caf\u00e9"`, "café", false},
		{`"café"`, "café", false},
		{`"a\nb"`, "a\nb", false},
		{"\"a\xffb\"", "a\ufffdb", false},
		{`7`, "", true},
		{`["a"]`, "", true},
		{`{"a":1}`, "", true},
		{`true`, "", true},
	} {
		got, err := String([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("String(%s) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{`["a","b"]`, []string{"a", "b"}, false},
		{`[ "a" , "\u0062" ]`, []string{"a", "b"}, false},
		{`[]`, []string{}, false},
		{`[ ]`, []string{}, false},
		{`null`, nil, false},
		{`["a",1]`, nil, true},
		{`[null]`, nil, true},
		{`[["a"]]`, nil, true},
		{`"a"`, nil, true},
		{`{"a":"b"}`, nil, true},
		{`["a`, nil, true},
		{`["a",]`, nil, true},
	} {
		got, err := Strings([]byte(tc.in))
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("Strings(%s) = %#v, %v; want %#v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestMembersAllocs: a small object without escaped names is walked without allocating.
func TestMembersAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	doc := []byte(`{"iss":"http://localhost:8080","sub":"u","aud":["vexen"],"exp":1893456000,"sid":"s","roles":["a","b"],"x":{"y":[{"z":1}]}}`)
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		if err := Members(doc, func(name, value []byte) error { n += len(name) + len(value); return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per walk, want 0", allocs)
	}
}

// reference reports what Members must answer, from encoding/json's token stream: a
// set of names per open object.
func reference(b []byte) error {
	if !json.Valid(b) {
		return ErrSyntax
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		return ErrNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		names  map[string]bool
		key    bool // the next string is a name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrSyntax
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: d == '{', names: map[string]bool{}, key: d == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top != nil && top.object {
			if top.key {
				s := tok.(string)
				if top.names[s] {
					return ErrDuplicate
				}
				top.names[s] = true
			}
			top.key = !top.key
		}
	}
}

// FuzzMembers: Members agrees with a slow reference built on encoding/json's tokens,
// and hands out exactly the members encoding/json sees.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1}]}`,
		`{"\u0061":1,"a":2}`, `{"a":"\"","b":"\\"}`, `[1]`, `{"a":1}x`, `{"A":1,"a":2}`,
		manyMembers(20, `"m7":1`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Members(b, nil)
		want := reference(b)
		if got != want {
			t.Fatalf("Members(%q) = %v, reference says %v", b, got, want)
		}
		if got != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", b, err)
		}
		n := 0
		if err := Members(b, func(name, value []byte) error {
			n++
			if !bytes.Equal(bytes.TrimSpace(m[string(name)]), value) {
				return fmt.Errorf("member %q = %s, encoding/json has %s", name, value, m[string(name)])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != len(m) {
			t.Fatalf("%d members seen, encoding/json has %d", n, len(m))
		}
	})
}
