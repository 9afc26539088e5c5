package verify

import (
	"errors"
	"net/http"
	"testing"
)

func TestCompileRules(t *testing.T) {
	for _, tc := range []struct {
		rule string
		ok   bool
	}{
		{"* / *", true},
		{"* /admin admin", true},
		{"*.example.com /admin admin,ops", true},
		{"app.example.com /admin/ admin", true},
		{"APP.Example.com /x a", true},
		{"* admin admin", false},             // prefix without /
		{"* /admin", false},                  // no roles
		{"* /admin admin extra", false},      // too many fields
		{"* /admin admin,,ops", false},       // empty role
		{"* /admin admin,*", false},          // * only alone
		{"*.* /admin admin", false},          // bad wildcard
		{"exa_mple.com /x a", false},         // bad host
		{"* /a/../admin admin", false},       // not canonical
		{"* /a%2Fb admin", false},            // not canonical
		{"* //admin admin", false},           // not canonical
		{"http://x.com /admin admin", false}, // a URL, not a host
		{"app.example.com:8080 /x a", false}, // a port: would never match
		{"app.example.com. /x a", false},     // a trailing dot
		{"::1 /x a", true},                   // an IPv6 literal
	} {
		_, err := compileRules([]string{tc.rule})
		if (err == nil) != tc.ok {
			t.Errorf("compileRules(%q) = %v, want ok=%v", tc.rule, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadRule) {
			t.Errorf("compileRules(%q): %v does not match ErrBadRule", tc.rule, err)
		}
	}
	if _, err := compileRules([]string{"* /a x", "* /a/ y"}); err == nil {
		t.Error("duplicate host and prefix accepted")
	}
}

func TestRuleMatch(t *testing.T) {
	rs, err := compileRules([]string{
		"* / *",
		"* /admin admin",
		"* /admin/public *",
		"app.example.com /admin superadmin",
		"*.example.com /reports finance,ops",
		"reports.example.com /reports *",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, path string
		roles      []string
		allow      bool
	}{
		{"x.org", "/", nil, true},
		{"x.org", "/admin", nil, false},
		{"x.org", "/admin", []string{"admin"}, true},
		{"x.org", "/admin/users", []string{"dev", "admin"}, true},
		{"x.org", "/administrator", nil, true},  // whole segments only
		{"x.org", "/admin/public/x", nil, true}, // longer prefix wins
		{"app.example.com", "/admin", []string{"admin"}, false},
		{"APP.example.com:8443", "/admin", []string{"superadmin"}, true},
		{"a.example.com", "/reports/q1", []string{"ops"}, true},
		{"a.example.com", "/reports/q1", []string{"dev"}, false},
		{"example.com", "/reports", []string{"dev"}, true}, // *.example.com does not match the parent
		{"reports.example.com", "/reports", nil, true},     // exact host beats the wildcard
		// Spellings of a ruled host must not skip its rule (regression: they fell
		// through to the broader "* /admin admin" rule).
		{"app.example.com.", "/admin", []string{"admin"}, false},
		{"app.example.com.:443", "/admin", []string{"admin"}, false},
		{"app.example.com:80:80", "/admin", []string{"admin"}, false},
		{"app.example.com:80:80", "/", nil, false}, // not a host at all: refused
		{"[::1]:8080", "/admin", []string{"admin"}, true},
		{"", "/", nil, false},
	} {
		host, ok := requestHost(tc.host)
		allow := false
		if ok {
			r := rs.match(host, tc.path)
			allow = r == nil || r.permits(tc.roles)
		}
		if allow != tc.allow {
			t.Errorf("%s %s %v: allow = %v, want %v", tc.host, tc.path, tc.roles, allow, tc.allow)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "/", true},
		{"/", "/", true},
		{"/a/b?x=../../c", "/a/b", true},
		{"/a/b#frag", "/a/b", true},
		{"/a/./b", "/a/b", true},
		{"/a/../b", "/b", true},
		{"/a/..", "/", true},
		{"/a//b", "/a/b", true},
		{"/a/%2e%2e/b", "/b", true},
		{"/a%2Fb", "/a/b", true},
		{"/a/.hidden", "/a/.hidden", true},
		{"/a/..b", "/a/..b", true},
		{"/%zz", "", false},
		{"/a%00b", "", false},
		{"https://host/x/../y?q", "/y", true},
		{"a/b", "/a/b", true},
	} {
		got, ok := canonicalPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRulesInDecide(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.Rules = []string{"* /admin admin"} }))
	tok := f.token("s1", "u1", "dev")
	for _, tc := range []struct {
		path   string
		status int
	}{{"/", 200}, {"/admin", 403}, {"/admin/x", 403}, {"/admin%2fx", 403}, {"/x/../admin", 403}, {"/%zz", 403}} {
		d, err := f.v.Decide(t.Context(), &Request{Method: http.MethodGet, Host: "h", Path: tc.path, Token: tok})
		if err != nil || d.Status != tc.status {
			t.Errorf("%s: %+v, %v; want %d", tc.path, d, err, tc.status)
		}
		if d.Status == 403 && (d.Reason != ReasonForbidden || d.Allow) {
			t.Errorf("%s: %+v", tc.path, d)
		}
	}
}

// The rules shown in the package documentation compile and mean what it says.
func TestDocumentedRules(t *testing.T) {
	rs, err := compileRules([]string{
		"*               /admin    admin",
		"app.example.com /reports  finance,ops",
		"*.example.com   /public   *",
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.match("x.org", "/admin/a"); r == nil || r.permits([]string{"dev"}) || !r.permits([]string{"admin"}) {
		t.Fatal("/admin")
	}
	if h, _ := requestHost("app.example.com:443"); rs.match(h, "/reports") == nil || !rs.match(h, "/reports").permits([]string{"ops"}) {
		t.Fatal("/reports")
	}
	if r := rs.match("app.example.com", "/reports"); r == nil || !r.permits([]string{"ops"}) {
		t.Fatal("/reports")
	}
	if r := rs.match("www.example.com", "/public/x"); r == nil || !r.permits(nil) {
		t.Fatal("/public")
	}
	if r := rs.match("x.org", "/public/x"); r != nil {
		t.Fatal("/public on another host matched")
	}
}
