package issue

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

var testHosts = mustHosts("allowed.example.com", "*.apps.example.com", "127.0.0.1", "[::1]", "Upper.Example.ORG")

func mustHosts(entries ...string) hostlist.List {
	l, err := hostlist.Parse(entries)
	if err != nil {
		panic(err)
	}
	return l
}

func TestReturnURLAccepts(t *testing.T) {
	for _, rd := range []string{
		"/",
		"/app/page?tab=2&sort=name",
		"/a/b#frag",
		"/%2F%2Fevil.com", // a path on the issuer: browsers do not decode %2F into the authority
		"/.well-known/x",
		"https://allowed.example.com",
		"https://allowed.example.com/",
		"http://allowed.example.com:8080/x?y=z#w",
		"https://ALLOWED.EXAMPLE.COM/x",          // host names compare case-insensitively
		"HTTPS://allowed.example.com/x",          // so do schemes
		"https://a.apps.example.com/",            // wildcard
		"https://deep.a.apps.example.com/",       // wildcard, any depth
		"http://127.0.0.1:43123/app/page?tab=2",  // ports are ignored
		"http://[::1]:8080/",                     // IPv6 literal
		"https://upper.example.org/",             // a configured entry's case does not matter
		"https://allowed.example.com/@evil.com",  // "@" in the path is just a path
		"https://allowed.example.com/?u=//evil/", // so is anything in the query
	} {
		got, ok := returnURL(testHosts, rd)
		want := rd
		if strings.HasPrefix(rd, "HTTPS://") {
			want = "https://" + rd[len("HTTPS://"):]
		}
		if !ok || got != want {
			t.Errorf("returnURL(%q) = %q, %v; want %q, true", rd, got, ok, want)
		}
	}
}

// TestReturnURLRefusesOpenRedirects is the table of hostile return addresses: each
// must fall back to the default.
func TestReturnURLRefusesOpenRedirects(t *testing.T) {
	for _, rd := range []string{
		"",
		"//evil.com",
		"//evil.com/path",
		"///evil.com",
		"/\\evil.com",
		"\\\\evil.com",
		"/\\/evil.com",
		"https:evil.com",
		"https:/evil.com",
		"http:\\\\evil.com",
		"https:\\/evil.com",
		"javascript:alert(1)",
		"JavaScript:alert(1)",
		"javascript://allowed.example.com/%0aalert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox(1)",
		"ftp://allowed.example.com/",
		"file:///etc/passwd",
		"https://allowed.example.com@evil.com",
		"https://allowed.example.com:443@evil.com/",
		"https://user:pass@allowed.example.com/",
		"https://evil.com#@allowed.example.com",
		"https://evil.com?@allowed.example.com",
		"https://evil.com\\@allowed.example.com",
		"https://evil.com/allowed.example.com",
		"https://allowed.example.com.evil.com",
		"https://allowed.example.com.evil.com/",
		"https://evilallowed.example.com/",
		"https://apps.example.com/", // a wildcard does not cover its parent
		"https://x.apps.example.com.evil.com/",
		"https://allowed.example.com./", // the trailing-dot name is another origin
		"https://evil.com",
		"http://127.0.0.2/",
		"http://2130706433/", // 127.0.0.1 in decimal: never compared as such
		"http://0x7f.0.0.1/",
		"\thttps://evil.com",
		"https://allowed.example.com\t.evil.com/",
		"https://evil.com\n/",
		"/\t/evil.com",
		"/\n/evil.com",
		"/\r\n/evil.com",
		"\x00https://allowed.example.com/",
		" https://allowed.example.com/",
		"/ /evil.com",
		"https://allowed.example.com/\x7f",
		"%2F%2Fevil.com",
		"%2f%2fevil.com",
		"https%3A%2F%2Fevil.com",
		"https://allowed.example.com%2eevil.com/",
		"https://allowed.example.com%40evil.com/",
		"https://evil.com%23@allowed.example.com/",
		"https://xn--llowed-cxa.example.com/x.evil",  // punycode of another name: not on the list
		"https://аllowed.example.com/",               // Cyrillic а: IDN homograph
		"https://ａｌｌｏｗｅｄ.example.com/",               // full-width letters that a browser maps to ASCII
		"https://allowed.example.com\u3002evil.com/", // ideographic full stop, a dot to IDNA
		"https://ALLOWED.EXAMPLE.COM\u212A/",         // Kelvin sign folds to K
		"/\u2215\u2215evil.com",                      // division slashes
		"https://[::1%25eth0]/",
		"https://[::ffff:127.0.0.1/",
		"https://[127.0.0.1]/",
		"https://allowed.example.com:/",
		"https://allowed.example.com:0/",
		"https://allowed.example.com:65536/",
		"https://allowed.example.com:80:80/",
		"https://allowed.example.com:+80/",
		"https:///allowed.example.com/",
		"https://",
		"https://-allowed.example.com/",
		"https://.allowed.example.com/",
		"allowed.example.com/",
		"allowed.example.com",
		"./x",
		"x",
		"?rd=//evil.com",
		"#/evil.com",
		"https://allowed.example.com/" + strings.Repeat("a", hostlist.MaxReturnURL),
	} {
		if got, ok := returnURL(testHosts, rd); ok {
			t.Errorf("returnURL(%q) = %q, accepted; want refused", rd, got)
		}
	}
}

// TestReturnURLQueryDecoding: rd arrives query-encoded; the decoded value is what is
// checked, so an encoded "//evil.com" is refused, and a double-encoded one is not a
// URL at all.
func TestReturnURLQueryDecoding(t *testing.T) {
	for raw, wantOK := range map[string]bool{
		"rd=%2F%2Fevil.com":                                  false,
		"rd=%252F%252Fevil.com":                              false,
		"rd=%2F%5Cevil.com":                                  false,
		"rd=https%3A%2F%2Fevil.com":                          false,
		"rd=https%3A%2F%2Fallowed.example.com%2F":            true,
		"rd=%09https://allowed.example.com/":                 false,
		"rd=https://allowed.example.com%0d%0aSet-Cookie:x=y": false,
	} {
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := returnURL(testHosts, q.Get("rd")); ok != wantOK {
			t.Errorf("%s: accepted %v, want %v", raw, ok, wantOK)
		}
	}
}

func TestFormActionSources(t *testing.T) {
	got, ok := formActionSources(mustHosts("app.example.com", "*.apps.example.com", "127.0.0.1"), "https://home.example.com/start")
	want := "'self' app.example.com:* 127.0.0.1:* *.apps.example.com:* home.example.com:*"
	if !ok || got != want {
		t.Errorf("formActionSources = %q, %v; want %q", got, ok, want)
	}
	if got, ok := formActionSources(mustHosts("[::1]"), "/"); ok {
		t.Errorf("an IPv6 host has no CSP host source, yet got %q", got)
	}
}

// FuzzReturnURL: whatever rd is, an accepted one is a single-slash path or an
// http(s) URL whose host, as net/url reads it, is on the list; and it
// holds no byte that browsers strip or reinterpret.
func FuzzReturnURL(f *testing.F) {
	for _, s := range []string{
		"/", "/a?b#c", "//evil.com", "/\\evil.com", "https://allowed.example.com/x", "https://allowed.example.com@evil.com",
		"https://evil.com#@allowed.example.com", "http://[::1]:80/", "https://a.apps.example.com:8443/p", "javascript:alert(1)",
		"https://allowed.example.com%2eevil.com", "HTTP://ALLOWED.EXAMPLE.COM",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got, ok := returnURL(testHosts, rd)
		if !ok {
			return
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7f || c == '\\' {
				t.Fatalf("accepted %q holds byte %#x", got, c)
			}
		}
		if strings.HasPrefix(got, "/") {
			if strings.HasPrefix(got, "//") {
				t.Fatalf("accepted protocol-relative %q", got)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" {
			t.Fatalf("accepted %q: %+v %v", got, u, err)
		}
		if !testHosts.Allows(u.Hostname()) {
			t.Fatalf("accepted %q whose host %q is not allowed", got, u.Hostname())
		}
	})
}
