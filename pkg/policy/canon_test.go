package policy

import (
	"errors"
	"strings"
	"testing"
)

// canonTable is the table of docs/policy.md: how each spelling is read, or why it
// is refused. want "" means refused with the error refused.
var canonTable = []struct {
	method, host, target string
	wantHost, wantPath   string
	refused              *RefusedError
}{
	// Already canonical: returned as they are.
	{"GET", "app.example.com", "/", "app.example.com", "/", nil},
	{"GET", "app.example.com", "", "app.example.com", "/", nil},
	{"GET", "app.example.com", "/a/b", "app.example.com", "/a/b", nil},
	{"GET", "app.example.com", "/a/b/", "app.example.com", "/a/b/", nil},
	{"GET", "app.example.com", "/a/b?x=../../c", "app.example.com", "/a/b", nil},
	{"GET", "app.example.com", "/a/b?", "app.example.com", "/a/b", nil},
	{"GET", "app.example.com", "/a/.hidden", "app.example.com", "/a/.hidden", nil},
	{"GET", "app.example.com", "/a/..b", "app.example.com", "/a/..b", nil},
	{"GET", "app.example.com", "/a/b..", "app.example.com", "/a/b..", nil},
	{"GET", "app.example.com", "/a/...", "app.example.com", "/a/...", nil},
	{"GET", "app.example.com", "/Admin", "app.example.com", "/Admin", nil}, // paths are case-sensitive
	{"GET", "app.example.com", "/a%20b", "app.example.com", "/a%20b", nil},
	{"GET", "app.example.com", "/caf%C3%A9", "app.example.com", "/caf%C3%A9", nil},
	{"GET", "app.example.com", "/%E2%82%AC", "app.example.com", "/%E2%82%AC", nil},
	{"GET", "app.example.com", "/%F0%9F%98%80", "app.example.com", "/%F0%9F%98%80", nil},
	{"GET", "app.example.com", "/100%25", "app.example.com", "/100%25", nil},
	{"GET", "app.example.com", "/a%3Fb", "app.example.com", "/a%3Fb", nil},
	{"GET", "app.example.com", "/a%23b", "app.example.com", "/a%23b", nil},
	{"GET", "app.example.com", "/a%3Bb", "app.example.com", "/a%3Bb", nil}, // an encoded ; is data, not a parameter
	{"GET", "app.example.com", "/a*b", "app.example.com", "/a*b", nil},
	{"GET", "app.example.com", "/~user", "app.example.com", "/~user", nil},
	{"GET", "app.example.com", "/a:b@c!$&'()+,=", "app.example.com", "/a:b@c!$&'()+,=", nil},
	// Rewritten.
	{"GET", "app.example.com", "/a/./b", "app.example.com", "/a/b", nil},
	{"GET", "app.example.com", "/a/../b", "app.example.com", "/b", nil},
	{"GET", "app.example.com", "/a/..", "app.example.com", "/", nil},
	{"GET", "app.example.com", "/a/b/..", "app.example.com", "/a/", nil},
	{"GET", "app.example.com", "/a/.", "app.example.com", "/a/", nil},
	{"GET", "app.example.com", "/..", "app.example.com", "/", nil},
	{"GET", "app.example.com", "/../../etc/passwd", "app.example.com", "/etc/passwd", nil},
	{"GET", "app.example.com", "/./admin", "app.example.com", "/admin", nil},
	{"GET", "app.example.com", "/x/../admin", "app.example.com", "/admin", nil},
	{"GET", "app.example.com", "//admin", "app.example.com", "/admin", nil},
	{"GET", "app.example.com", "/a//b", "app.example.com", "/a/b", nil},
	{"GET", "app.example.com", "/a///b//", "app.example.com", "/a/b/", nil},
	{"GET", "app.example.com", "//", "app.example.com", "/", nil},
	{"GET", "app.example.com", "/%61dmin", "app.example.com", "/admin", nil},
	{"GET", "app.example.com", "/%41dmin", "app.example.com", "/Admin", nil},
	{"GET", "app.example.com", "/adm%69n", "app.example.com", "/admin", nil},
	{"GET", "app.example.com", "/%7Euser", "app.example.com", "/~user", nil},
	{"GET", "app.example.com", "/%7euser", "app.example.com", "/~user", nil},
	{"GET", "app.example.com", "/a%2db", "app.example.com", "/a-b", nil},
	{"GET", "app.example.com", "/a%5Fb", "app.example.com", "/a_b", nil},
	{"GET", "app.example.com", "/v%2E1", "app.example.com", "/v.1", nil}, // a dot inside a segment is no dot segment
	{"GET", "app.example.com", "/a%20b/../c", "app.example.com", "/c", nil},
	{"GET", "app.example.com", "/a%3fb/", "app.example.com", "/a%3Fb/", nil}, // escapes kept, in upper case
	{"GET", "app.example.com", "/caf%c3%a9", "app.example.com", "/caf%C3%A9", nil},
	{"GET", "app.example.com", "/%e2%82%ac", "app.example.com", "/%E2%82%AC", nil},
	{"GET", "app.example.com", "http://app.example.com/a/../b", "app.example.com", "/b", nil},
	{"GET", "app.example.com", "HTTPS://APP.example.com", "app.example.com", "/", nil},
	{"GET", "app.example.com:8443", "https://app.example.com:8443/x?y", "app.example.com", "/x", nil},
	// Hosts.
	{"GET", "APP.Example.COM", "/", "APP.Example.COM", "/", nil}, // rules compare hosts without case
	{"GET", "app.example.com:443", "/", "app.example.com", "/", nil},
	{"GET", "app.example.com.", "/", "app.example.com", "/", nil},
	{"GET", "app.example.com.:443", "/", "app.example.com", "/", nil},
	{"GET", "localhost", "/", "localhost", "/", nil},
	{"GET", "my-app.internal", "/", "my-app.internal", "/", nil},
	{"GET", "xn--bcher-kva.example", "/", "xn--bcher-kva.example", "/", nil},
	{"GET", "10.0.0.1", "/", "10.0.0.1", "/", nil},
	{"GET", "10.0.0.1:8080", "/", "10.0.0.1", "/", nil},
	{"GET", "[::1]", "/", "::1", "/", nil},
	{"GET", "[::1]:8443", "/", "::1", "/", nil},
	{"GET", "[0:0::1]", "/", "::1", "/", nil}, // one spelling per IPv6 address
	{"GET", "[2001:DB8::1]", "/", "2001:db8::1", "/", nil},
	{"GET", "app.example.com..", "/", "", "", errHost},
	{"GET", "app.example.com..:443", "/", "", "", errHost},
	{"GET", "app..example.com", "/", "", "", errHost},
	{"GET", ".app.example.com", "/", "", "", errHost},
	{"GET", "", "/", "", "", errHost},
	{"GET", ".", "/", "", "", errHost},
	{"GET", "app.example.com:80:80", "/", "", "", errHost},
	{"GET", "app.example.com:", "/", "", "", errHost},
	{"GET", "app.example.com:0", "/", "", "", errHost},
	{"GET", "app.example.com:65536", "/", "", "", errHost},
	{"GET", "app.example.com:+80", "/", "", "", errHost},
	{"GET", "user@app.example.com", "/", "", "", errHost},
	{"GET", "app.example.com/x", "/", "", "", errHost},
	{"GET", "app_1.example.com", "/", "", "", errHost},
	{"GET", "app.example.com%2e", "/", "", "", errHost},
	{"GET", "ápp.example.com", "/", "", "", errHost},
	{"GET", "app example.com", "/", "", "", errHost},
	{"GET", "-app.example.com", "/", "", "", errHost},
	{"GET", "::1", "/", "", "", errHost}, // IPv6 without brackets
	{"GET", "[fe80::1%25eth0]", "/", "", "", errHost},
	{"GET", "[10.0.0.1]", "/", "", "", errHost},
	{"GET", "0x7f.1", "/", "", "", errHost},     // inet_aton forms: 127.0.0.1 to some
	{"GET", "127.1", "/", "", "", errHost},      // ditto
	{"GET", "017.0.0.1", "/", "", "", errHost},  // octal to some, decimal to others
	{"GET", "2130706433", "/", "", "", errHost}, // 127.0.0.1 as one number
	{"GET", "10.0.0.1.", "/", "", "", errHost},
	{"GET", "256.0.0.1", "/", "", "", errHost},
	{"GET", strings.Repeat("a", 64) + ".com", "/", "", "", errHost},
	// Methods.
	{"get", "app.example.com", "/", "", "", errMethod},
	{"Get", "app.example.com", "/", "", "", errMethod},
	{"", "app.example.com", "/", "", "", errMethod},
	{"GE T", "app.example.com", "/", "", "", errMethod},
	{"PROPFIND", "app.example.com", "/", "app.example.com", "/", nil},
	// Refused paths.
	{"GET", "app.example.com", "a/b", "", "", errNotPath},
	{"GET", "app.example.com", "*", "", "", errNotPath},
	{"GET", "app.example.com", "ftp://app.example.com/x", "", "", errNotPath},
	{"GET", "app.example.com", "http://other.example.com/admin", "", "", errOtherHost},
	{"GET", "app.example.com", "http://app.example.com../admin", "", "", errOtherHost},
	{"GET", "app.example.com", "/a#frag", "", "", errFragment},
	{"GET", "app.example.com", "/a b", "", "", errByte},
	{"GET", "app.example.com", "/a\tb", "", "", errByte},
	{"GET", "app.example.com", "/a\x00b", "", "", errByte},
	{"GET", "app.example.com", "/a\x7fb", "", "", errByte},
	{"GET", "app.example.com", "/café", "", "", errByte},
	{"GET", "app.example.com", "/admin\\x", "", "", errBackslash},
	{"GET", "app.example.com", "/\\evil.com", "", "", errBackslash},
	{"GET", "app.example.com", "/a%5cb", "", "", errBackslash},
	{"GET", "app.example.com", "/a%5Cb", "", "", errBackslash},
	{"GET", "app.example.com", "/%", "", "", errBadEscape},
	{"GET", "app.example.com", "/%4", "", "", errBadEscape},
	{"GET", "app.example.com", "/%zz", "", "", errBadEscape},
	{"GET", "app.example.com", "/%g1", "", "", errBadEscape},
	{"GET", "app.example.com", "/admin%2Fx", "", "", errEncodedSlash},
	{"GET", "app.example.com", "/admin%2fx", "", "", errEncodedSlash},
	{"GET", "app.example.com", "/a%00b", "", "", errEncodedNUL},
	{"GET", "app.example.com", "/a%0Ab", "", "", errEncodedNUL},
	{"GET", "app.example.com", "/a%0d%0aSet-Cookie:x", "", "", errEncodedNUL},
	{"GET", "app.example.com", "/a%7Fb", "", "", errEncodedNUL},
	{"GET", "app.example.com", "/%252e%252e/admin", "", "", errDoubleEncoded},
	{"GET", "app.example.com", "/admin%252fx", "", "", errDoubleEncoded},
	{"GET", "app.example.com", "/%2561dmin", "", "", errDoubleEncoded},
	{"GET", "app.example.com", "/%2e%2e/admin", "", "", errEncodedDot},
	{"GET", "app.example.com", "/x/%2E%2E/admin", "", "", errEncodedDot},
	{"GET", "app.example.com", "/x/.%2e/admin", "", "", errEncodedDot},
	{"GET", "app.example.com", "/x/%2e./admin", "", "", errEncodedDot},
	{"GET", "app.example.com", "/x/%2e/admin", "", "", errEncodedDot},
	{"GET", "app.example.com", "/%c0%ae%c0%ae/admin", "", "", errBadUTF8}, // overlong "."
	{"GET", "app.example.com", "/admin%c0%afx", "", "", errBadUTF8},       // overlong "/"
	{"GET", "app.example.com", "/%e0%80%ae", "", "", errBadUTF8},          // 3-byte overlong "."
	{"GET", "app.example.com", "/%C3", "", "", errBadUTF8},                // truncated
	{"GET", "app.example.com", "/%C3x", "", "", errBadUTF8},
	{"GET", "app.example.com", "/%A9", "", "", errBadUTF8},       // a lone continuation byte
	{"GET", "app.example.com", "/%ED%A0%80", "", "", errBadUTF8}, // a surrogate
	{"GET", "app.example.com", "/%FF", "", "", errBadUTF8},
}

func TestCanonicalize(t *testing.T) {
	if len(canonTable) < 100 {
		t.Fatalf("the table has %d spellings; keep at least 100", len(canonTable))
	}
	for _, tc := range canonTable {
		got, err := Canonicalize(tc.method, tc.host, tc.target)
		if tc.refused != nil {
			if err != tc.refused || !errors.Is(err, ErrRefused) {
				t.Errorf("%s %q %q: %+v, %v; want refused: %v", tc.method, tc.host, tc.target, got, err, tc.refused)
			}
			continue
		}
		if err != nil || got.Host != tc.wantHost || got.Path != tc.wantPath || got.Method != tc.method {
			t.Errorf("%s %q %q: %+v, %v; want host %q path %q", tc.method, tc.host, tc.target, got, err, tc.wantHost, tc.wantPath)
			continue
		}
		// Canonical is a fixed point.
		again, err := Canonicalize(tc.method, tc.host, got.Path)
		if err != nil || again.Path != got.Path {
			t.Errorf("%q: canonical %q reads as %q, %v", tc.target, got.Path, again.Path, err)
		}
	}
}

func TestParams(t *testing.T) {
	withPaths := mustParse(t, "rules:\n  - paths: [\"/admin/**\"]\n    action: deny\n")
	noPaths := mustParse(t, "rules:\n  - hosts: [a.example.com]\n    action: deny\n")
	for _, target := range []string{"/admin;x", "/admin;jsessionid=1/x", "/x;/../admin", "/;/admin"} {
		tg, err := Canonicalize("GET", "app.example.com", target)
		if err != nil || !tg.Params {
			t.Fatalf("%q: %+v, %v; want Params", target, tg, err)
		}
		if err := withPaths.ParamsRefused(&tg); err != errParams {
			t.Errorf("%q with path rules: %v, want refused", target, err)
		}
		if err := noPaths.ParamsRefused(&tg); err != nil {
			t.Errorf("%q without path rules: %v", target, err)
		}
	}
}

func TestCanonicalizeAllocates0(t *testing.T) {
	allocs := testing.AllocsPerRun(1000, func() {
		tg, err := Canonicalize("GET", "App.Example.com:443", "/api/v1/items?x=1")
		if err != nil || tg.Path != "/api/v1/items" {
			t.Fatal(tg, err)
		}
		if _, err := Canonicalize("GET", "app.example.com", "/a%2Fb"); err == nil {
			t.Fatal("accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// FuzzCanonicalize: never panics; a canonical result is a fixed point, has no dot
// segment, duplicate slash, backslash, control character or decodable escape; a
// refusal is one of the fixed errors.
func FuzzCanonicalize(f *testing.F) {
	for _, tc := range canonTable {
		f.Add(tc.method, tc.host, tc.target)
	}
	f.Fuzz(func(t *testing.T, method, host, target string) {
		tg, err := Canonicalize(method, host, target)
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v is not a refusal", err)
			}
			return
		}
		p := tg.Path
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "\\?#") {
			t.Fatalf("%q → %q", target, p)
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q → %q has a dot segment", target, p)
			}
		}
		for i := 0; i < len(p); i++ {
			if p[i] <= ' ' || p[i] >= 0x7f {
				t.Fatalf("%q → %q has byte %#x", target, p, p[i])
			}
			if p[i] == '%' {
				v, ok := escape(p[i:])
				if !ok || unreserved(v) || v == '/' || p[i+1] > 'F' || p[i+2] > 'F' {
					t.Fatalf("%q → %q has escape %q", target, p, p[i:i+3])
				}
			}
		}
		again, err := Canonicalize(method, host, p)
		if err != nil || again.Path != p {
			t.Fatalf("%q → %q → %q, %v", target, p, again.Path, err)
		}
		if _, err := Canonicalize("GET", tg.Host, "/"); err != nil && !strings.Contains(tg.Host, ":") {
			t.Fatalf("host %q → %q is not canonical: %v", host, tg.Host, err)
		}
	})
}

func mustParse(t testing.TB, yml string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}
