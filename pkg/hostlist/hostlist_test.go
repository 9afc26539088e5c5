package hostlist_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

// testList is the list the tables below run against.
func testList(t testing.TB) hostlist.List {
	t.Helper()
	l, err := hostlist.Parse([]string{
		"allowed.example.com", "*.apps.example.com", "127.0.0.1", "[::1]", "2001:DB8::1",
		" Upper.Example.ORG ", "kelvin.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParse(t *testing.T) {
	l, err := hostlist.Parse([]string{" A.Example.com ", "*.Wild.Example", "[2001:DB8::1]", "10.0.0.1", "::1", "xn--bcher-kva.example", "a-b.c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.example.com", "xn--bcher-kva.example", "a-b.c", "2001:db8::1", "10.0.0.1", "::1", "*.wild.example"}
	if got := l.Entries(); !slices.Equal(got, want) {
		t.Errorf("Entries() = %q, want %q", got, want)
	}
	if l, err := hostlist.Parse(nil); err != nil || len(l.Entries()) != 0 || l.Allows("example.com") {
		t.Errorf("Parse(nil) = %v, %v; want an empty list that allows nothing", l.Entries(), err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ entry, why string }{
		{"", "not a host"},
		{"   ", "not a host"},
		{"*", "not a host"},
		{"*.", "wildcard"},
		{"**.example.com", "not a host"},
		{"*.*.example.com", "wildcard"},
		{"a.*.example.com", "not a host"},
		{"*example.com", "not a host"},
		{"https://a.example.com", "not a host"},
		{"a.example.com/x", "not a host"},
		{"a.example.com?x", "not a host"},
		{"user@a.example.com", "not a host"},
		{"a.example.com:8080", "no port"},
		{"[2001:db8::1]:443", "no port"},
		{"a.example.com:", "not a host"},
		{"a.example.com.", "not a host"},
		{".a.example.com", "not a host"},
		{"a..example.com", "not a host"},
		{"-a.example.com", "not a host"},
		{"a-.example.com", "not a host"},
		{"a_b.example.com", "not a host"},
		{"a b.example.com", "not a host"},
		{"аllowed.example.com", "not a host"}, // Cyrillic а
		{"ａｌｌｏｗｅｄ.example.com", "not a host"},
		{strings.Repeat("a", 64) + ".example.com", "not a host"},
		{strings.Repeat("a.", 127) + "com", "not a host"},
		{"[127.0.0.1]", "brackets"},
		{"[::1", "brackets"},
		{"[fe80::1%eth0]", "zone"},
		{"fe80::1%eth0", "zone"},
		{"2130706433", "IPv4"},
		{"0x7f.0.0.1", "IPv4"},
		{"127.1", "IPv4"},
		{"127.0.0.01", "IPv4"},
		{"*.0.0.1", "wildcard"},
		{"*.10.0.0.1", "wildcard"},
	} {
		t.Run(tc.entry, func(t *testing.T) {
			l, err := hostlist.Parse([]string{"ok.example.com", tc.entry})
			if !errors.Is(err, hostlist.ErrBadEntry) {
				t.Fatalf("Parse(%q) = %v, %v; want ErrBadEntry", tc.entry, l.Entries(), err)
			}
			if msg := err.Error(); !strings.Contains(msg, `"`+tc.entry+`"`) || !strings.Contains(msg, tc.why) {
				t.Errorf("error %q does not quote the entry or say %q", msg, tc.why)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	l := testList(t)
	for host, want := range map[string]bool{
		"allowed.example.com":        true,
		"ALLOWED.Example.COM":        true, // names compare case-insensitively
		"allowed.example.com:8443":   true, // ports are ignored
		"a.apps.example.com":         true, // wildcard
		"deep.a.apps.example.com:80": true, // at any depth
		"upper.example.org":          true, // an entry's blanks and case do not matter
		"127.0.0.1":                  true,
		"127.0.0.1:43123":            true,
		"[::1]":                      true,
		"[::1]:8080":                 true,
		"::1":                        true, // bare, as url.URL.Hostname returns it
		"[2001:db8::1]":              true, // an IPv6 entry's case does not matter
		"[2001:db8:0:0::1]:443":      true, // nor its spelling

		"":                                  false,
		"apps.example.com":                  false, // a wildcard does not cover its parent
		".apps.example.com":                 false,
		"allowed.example.com.":              false, // the trailing-dot name is another origin
		"allowed.example.com.:443":          false,
		"allowed.example.com.evil.com":      false,
		"evilallowed.example.com":           false,
		"x.apps.example.com.evil.com":       false,
		"allowed.example.com:":              false, // empty port
		"allowed.example.com:0":             false,
		"allowed.example.com:65536":         false,
		"allowed.example.com:80:80":         false,
		"allowed.example.com:+80":           false,
		"allowed.example.com:443/@evil.net": false, // a path smuggled into the authority
		"evil.net@allowed.example.com":      false, // user info
		"allowed.example.com@evil.net":      false,
		"allowed.example.com\t.evil.com":    false,
		"allowed.example.com%2eevil.com":    false,
		"-allowed.example.com":              false,
		"a..apps.example.com":               false,
		"127.0.0.2":                         false,
		"2130706433":                        false, // 127.0.0.1 to a browser: never compared as such
		"0x7f.0.0.1":                        false,
		"127.1":                             false,
		"[127.0.0.1]":                       false,
		"[::ffff:127.0.0.1]":                false, // another address, to be strict
		"[::1%25eth0]":                      false,
		"[::1%eth0]":                        false,
		"::1%eth0":                          false,
		"[::1":                              false,
		"[::1]x":                            false,
		"[::1]:":                            false,
		"xn--llowed-cxa.example.com":        false, // punycode of another name
		"аllowed.example.com":               false, // Cyrillic а: IDN homograph
		"ａｌｌｏｗｅｄ.example.com":               false, // full-width letters a browser maps to ASCII
		"allowed.example.com\u3002evil.com": false, // ideographic full stop
		"\u212Aelvin.example":               false, // the Kelvin sign folds to "k" in strings.EqualFold
		"KELVIN.EXAMPLE":                    true,
		"allowed.example.com\x00":           false,
		strings.Repeat("a", 300) + ".a.apps.example.com": false,
	} {
		if got := l.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestSplitAuthority(t *testing.T) {
	for _, tc := range []struct {
		in, host, port string
		ok             bool
	}{
		{"app.example.com", "app.example.com", "", true},
		{"App.Example.com:8443", "App.Example.com", "8443", true},
		{"localhost:1", "localhost", "1", true},
		{"127.0.0.1:65535", "127.0.0.1", "65535", true},
		{"[::1]", "::1", "", true},
		{"[2001:db8::1]:443", "2001:db8::1", "443", true},
		{"", "", "", false},
		{":443", "", "", false},
		{"app.example.com:", "", "", false},
		{"app.example.com:0", "", "", false},
		{"app.example.com:65536", "", "", false},
		{"app.example.com:123456", "", "", false},
		{"app.example.com:-1", "", "", false},
		{"app.example.com:8a", "", "", false},
		{"app.example.com:80:80", "", "", false},
		{"app.example.com.", "", "", false},
		{"user@app.example.com", "", "", false},
		{"app.example.com/x", "", "", false},
		{"::1", "", "", false}, // an authority brackets IPv6
		{"[::1]:", "", "", false},
		{"[::1]80", "", "", false},
		{"[::1%eth0]", "", "", false},
		{"[127.0.0.1]", "", "", false},
		{"[app.example.com]", "", "", false},
		{"1.2.3", "", "", false},
		{"0x7F.1", "", "", false},
		{"a.0x", "", "", false},
		{"a.b1", "a.b1", "", true}, // a last label with a letter is a name
	} {
		host, port, ok := hostlist.SplitAuthority(tc.in)
		if host != tc.host || port != tc.port || ok != tc.ok {
			t.Errorf("SplitAuthority(%q) = %q, %q, %v; want %q, %q, %v", tc.in, host, port, ok, tc.host, tc.port, tc.ok)
		}
	}
}

func TestReturnURL(t *testing.T) {
	l := testList(t)
	for _, tc := range []struct {
		name                    string
		scheme, authority, path string
		want                    string // "" means refused
	}{
		{"plain", "https", "allowed.example.com", "/reports?q=a%20b&x=1", "https://allowed.example.com/reports?q=a%20b&x=1"},
		{"no scheme means https", "", "allowed.example.com", "/x", "https://allowed.example.com/x"},
		{"scheme case", "HTTP", "allowed.example.com", "/x", "http://allowed.example.com/x"},
		{"empty path", "https", "allowed.example.com", "", "https://allowed.example.com/"},
		{"wildcard, port, case kept", "http", "Grafana.Apps.Example.com:8080", "/x", "http://Grafana.Apps.Example.com:8080/x"},
		{"IPv6", "http", "[::1]:8080", "/", "http://[::1]:8080/"},
		{"@ in the path is a path", "https", "allowed.example.com", "/@evil.net", "https://allowed.example.com/@evil.net"},
		{"query may hold anything printable", "https", "allowed.example.com", "/?u=//evil/", "https://allowed.example.com/?u=//evil/"},

		{"host not allowed", "https", "evil.example.net", "/x", ""},
		{"wildcard parent", "https", "apps.example.com", "/x", ""},
		{"suffix trick", "https", "allowed.example.com.evil.net", "/x", ""},
		{"trailing dot", "https", "allowed.example.com.", "/x", ""},
		{"user info", "https", "evil.net@allowed.example.com", "/x", ""},
		{"user info after", "https", "allowed.example.com@evil.net", "/x", ""},
		{"path in the authority", "https", "allowed.example.com:443/@evil.example.net", "/x", ""},
		{"empty port", "https", "allowed.example.com:", "/x", ""},
		{"bare IPv6 authority", "http", "::1", "/", ""},
		{"javascript", "javascript", "allowed.example.com", "/", ""},
		{"ftp", "ftp", "allowed.example.com", "/", ""},
		{"asterisk form", "https", "allowed.example.com", "*", ""},
		{"absolute form", "https", "allowed.example.com", "https://evil.net/", ""},
		{"protocol-relative", "https", "allowed.example.com", "//evil.net/a", ""},
		{"backslash after slash", "https", "allowed.example.com", "/\\evil.net", ""},
		{"backslash or space inside", "https", "allowed.example.com", "/a\\b c", ""},
		{"tab", "https", "allowed.example.com", "/\t/evil.net", ""},
		{"CRLF", "https", "allowed.example.com", "/x\r\nSet-Cookie: a=b", ""},
		{"DEL", "https", "allowed.example.com", "/\x7f", ""},
		{"non-ASCII", "https", "allowed.example.com", "/\u2215\u2215evil.net", ""},
		{"overlong", "https", "allowed.example.com", "/" + strings.Repeat("a", hostlist.MaxReturnURL), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := l.ReturnURL(tc.scheme, tc.authority, tc.path)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("ReturnURL(%q, %q, %q) = %q, %v; want %q", tc.scheme, tc.authority, tc.path, got, ok, tc.want)
			}
		})
	}
	// The limit is on the whole URL: exactly MaxReturnURL passes.
	prefix := "https://allowed.example.com/"
	if _, ok := l.ReturnURL("https", "allowed.example.com", "/"+strings.Repeat("a", hostlist.MaxReturnURL-len(prefix))); !ok {
		t.Error("a return URL of exactly MaxReturnURL bytes was refused")
	}
}

func TestAddReturn(t *testing.T) {
	const ret = "https://app.example.com/p?q=1&r=a b"
	esc := url.QueryEscape(ret)
	for _, tc := range []struct{ login, want string }{
		{"https://auth.example.com/login", "https://auth.example.com/login?rd=" + esc},
		{"https://auth.example.com/login?client=web", "https://auth.example.com/login?client=web&rd=" + esc},
		{"https://auth.example.com/login?", "https://auth.example.com/login?rd=" + esc},
		{"https://auth.example.com/login?a=1&", "https://auth.example.com/login?a=1&rd=" + esc},
		{"/login", "/login?rd=" + esc},
		{"/login#top", "/login?rd=" + esc + "#top"},
	} {
		if got := hostlist.AddReturn(tc.login, "rd", ret); got != tc.want {
			t.Errorf("AddReturn(%q) = %q, want %q", tc.login, got, tc.want)
		}
		u, err := url.Parse(hostlist.AddReturn(tc.login, "rd", ret))
		if err != nil || u.Query().Get("rd") != ret {
			t.Errorf("AddReturn(%q): rd does not read back: %v %v", tc.login, u, err)
		}
	}
	if got := hostlist.AddReturn("/login", "return to", "/x"); got != "/login?return+to=%2Fx" {
		t.Errorf("param not escaped: %q", got)
	}
}

// FuzzReturnURL: whatever a proxy reports, an accepted return URL is an http(s)
// URL without user info whose host, as net/url reads it, is allowed, and it holds no
// byte that browsers strip or reinterpret.
func FuzzReturnURL(f *testing.F) {
	for _, s := range [][3]string{
		{"https", "allowed.example.com", "/x"}, {"", "a.apps.example.com:8443", "/p?q"}, {"http", "[::1]:80", "/"},
		{"https", "evil.net@allowed.example.com", "/"}, {"https", "allowed.example.com", "//evil.net"},
		{"HTTPS", "ALLOWED.EXAMPLE.COM", "/\\x"}, {"https", "allowed.example.com.", "/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	l := testList(f)
	f.Fuzz(func(t *testing.T, scheme, authority, path string) {
		got, ok := l.ReturnURL(scheme, authority, path)
		if !ok {
			return
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7f || c == '\\' {
				t.Fatalf("accepted %q holds byte %#x", got, c)
			}
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" {
			t.Fatalf("accepted %q: %+v %v", got, u, err)
		}
		if !l.Allows(u.Hostname()) || !l.Allows(u.Host) {
			t.Fatalf("accepted %q whose host %q is not allowed", got, u.Host)
		}
		if strings.HasPrefix(u.Path, "//") || len(got) > hostlist.MaxReturnURL {
			t.Fatalf("accepted %q", got)
		}
	})
}
