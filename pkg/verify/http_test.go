package verify

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/hostlist"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// recorder is a ResponseWriter that can be reused without allocating.
type recorder struct {
	h      http.Header
	status int
	body   []byte
}

func newRecorder() *recorder { return &recorder{h: http.Header{}, body: make([]byte, 0, 64)} }

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

func (w *recorder) reset() {
	clear(w.h)
	w.status = 0
	w.body = w.body[:0]
}

func serve(h http.Handler, r *http.Request) *recorder {
	w := newRecorder()
	h.ServeHTTP(w, r)
	return w
}

func authRequest(target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func TestHandlerAnswers(t *testing.T) {
	f := newFixture(t)
	tok := f.token("s1", "u1", "admin", "dev")
	h := f.v.Handler()
	expired := f.mint.Mint(t, verifytest.Claims{Expiry: f.clock.Now().Add(-time.Hour)})

	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		header map[string]string
		absent []string
	}{
		{"bearer", authRequest("/auth", "Authorization", "Bearer "+tok), 200,
			map[string]string{"X-Auth-User": "u1", "X-Auth-Email": "user@example.com", "X-Auth-Roles": "admin,dev", "X-Auth-Session": "s1"}, nil},
		{"bearer, lowercase scheme", authRequest("/auth", "Authorization", "bearer "+tok), 200, map[string]string{"X-Auth-User": "u1"}, nil},
		{"bearer, odd case and blanks", authRequest("/auth", "Authorization", "BeArEr   "+tok+" "), 200, map[string]string{"X-Auth-User": "u1"}, nil},
		{"cookie", authRequest("/auth", "Cookie", "a=b; vexen_access="+tok+"; c=d"), 200, map[string]string{"X-Auth-User": "u1"}, nil},
		{"quoted cookie", authRequest("/auth", "Cookie", `vexen_access="`+tok+`"`), 200, map[string]string{"X-Auth-User": "u1"}, nil},
		{"header wins over cookie", authRequest("/auth", "Authorization", "Bearer "+tok, "Cookie", "vexen_access=junk"), 200, nil, nil},
		{"Basic falls back to the cookie", authRequest("/auth", "Authorization", "Basic dXNlcjpwYXNz", "Cookie", "vexen_access="+tok), 200, nil, nil},
		{"cookie of another name", authRequest("/auth", "Cookie", "other="+tok), 401,
			map[string]string{"Www-Authenticate": `Bearer realm="vexen"`}, []string{"X-Auth-User"}},
		{"no token", authRequest("/auth"), 401, map[string]string{"Www-Authenticate": `Bearer realm="vexen"`}, []string{"X-Auth-User"}},
		{"empty bearer", authRequest("/auth", "Authorization", "Bearer "), 401, map[string]string{"Www-Authenticate": `Bearer realm="vexen"`}, nil},
		{"bad token", authRequest("/auth", "Authorization", "Bearer nope"), 401,
			map[string]string{"Www-Authenticate": `Bearer realm="vexen", error="invalid_token"`}, []string{"X-Auth-User"}},
		{"expired token", authRequest("/auth", "Authorization", "Bearer "+expired), 401,
			map[string]string{"Www-Authenticate": `Bearer realm="vexen", error="invalid_token"`}, nil},
		{"envoy path", authRequest("/auth/some/path?x=1", "Authorization", "Bearer "+tok), 200, nil, nil},
		{"any method", func() *http.Request {
			r := authRequest("/auth", "Authorization", "Bearer "+tok)
			r.Method = http.MethodPost
			return r
		}(), 200, nil, nil},
		{"healthz", authRequest("/healthz"), 200, nil, nil},
		{"readyz", authRequest("/readyz"), 200, nil, nil},
		{"post healthz", func() *http.Request { r := authRequest("/healthz"); r.Method = http.MethodPost; return r }(), 405, map[string]string{"Allow": "GET, HEAD"}, nil},
		{"not found", authRequest("/authx"), 404, nil, nil},
		{"metrics is not ours", authRequest("/metrics"), 404, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.req)
			if w.status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", w.status, tc.status, w.body)
			}
			for k, want := range tc.header {
				if got := w.h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, k := range tc.absent {
				if _, ok := w.h[k]; ok {
					t.Errorf("%s present", k)
				}
			}
		})
	}
}

func TestHandlerUnavailable(t *testing.T) {
	f := newFixture(t)
	f.sessions.SetErr(verifytest.ErrDown)
	f.sessions.Add("s1", "u1", f.clock.Now().Add(time.Hour))
	tok := f.mint.Mint(t, verifytest.Claims{Subject: "u1", SessionID: "s1"})
	w := serve(f.v.Handler(), authRequest("/auth", "Authorization", "Bearer "+tok))
	if w.status != http.StatusServiceUnavailable || w.h.Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q", w.status, w.h.Get("Retry-After"))
	}
	if w.h.Get("X-Auth-User") != "" {
		t.Fatal("identity on a 503")
	}
	if w := serve(f.v.Handler(), authRequest("/readyz")); w.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d with the store down", w.status)
	}
}

// TestOriginalRequest: which headers name the original request, and that only a
// trusted peer's are believed. Rules make the choice observable: /admin needs admin.
func TestOriginalRequest(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) {
		c.Rules = []string{"app.example.com /admin admin", "* /ops ops"}
	}))
	tok := f.token("s1", "u1", "dev")
	bearer := "Bearer " + tok
	for _, tc := range []struct {
		name   string
		target string
		remote string
		hdr    []string
		status int
	}{
		{"traefik: forwarded uri and host", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/admin/users"}, 403},
		{"traefik: other host", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "other.example.com", "X-Forwarded-Uri", "/admin/users"}, 200},
		{"forwarded host with port", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "APP.example.com:8443", "X-Forwarded-Uri", "/admin"}, 403},
		{"untrusted peer: headers ignored", "/auth", "10.9.9.9:1", []string{"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/admin"}, 200},
		{"untrusted peer: cannot unlock either", "/auth/ops", "10.9.9.9:1", []string{"X-Forwarded-Uri", "/public"}, 403},
		{"nginx: X-Original-URI", "/auth", "127.0.0.1:1", []string{"Host", "app.example.com", "X-Original-URI", "/admin"}, 403},
		{"nginx: X-Original-Host", "/auth", "127.0.0.1:1", []string{"X-Original-Host", "app.example.com", "X-Original-URI", "/admin"}, 403},
		{"nginx: X-Original-URL", "/auth", "[::1]:1", []string{"X-Original-URL", "https://app.example.com/admin?x=1"}, 403},
		{"nginx: X-Original-URL, other path", "/auth", "[::1]:1", []string{"X-Original-URL", "https://app.example.com/home"}, 200},
		{"envoy: path suffix", "/auth/ops/x", "10.0.0.1:1", nil, 403},
		{"envoy: path suffix elsewhere", "/auth/home", "10.0.0.1:1", nil, 200},
		{"dot segments", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/public/../admin"}, 403},
		{"encoded slash and dots", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/public/%2e%2e/admin"}, 400},
		{"double slash", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "//admin"}, 403},
		{"bad escape", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Uri", "/ops%zz"}, 400},
		{"prefix is whole segments", "/auth", "127.0.0.1:1", []string{"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/administrator"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest(tc.target, append([]string{"Authorization", bearer}, tc.hdr...)...)
			r.RemoteAddr = tc.remote
			if host := r.Header.Get("Host"); host != "" {
				r.Host = host
			}
			w := serve(f.v.Handler(), r)
			if w.status != tc.status {
				t.Fatalf("status %d, want %d", w.status, tc.status)
			}
		})
	}
}

func TestOriginalFields(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}))
	r := authRequest("/auth", "X-Forwarded-Method", "DELETE", "X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/x?y=1",
		"X-Forwarded-For", "203.0.113.7, 10.1.1.1", "X-Original-Method", "PUT")
	r.RemoteAddr = "10.2.2.2:5555"
	var req Request
	o := f.v.original(r, &req)
	if req.Method != "DELETE" || req.Host != "app.example.com" || req.Path != "/x?y=1" || o.scheme != "https" ||
		req.Client != netip.MustParseAddr("203.0.113.7") {
		t.Fatalf("request %+v, scheme %q", req, o.scheme)
	}
	r.RemoteAddr = "127.0.0.1:5555" // loopback is not trusted with this config
	req = Request{}
	f.v.original(r, &req)
	if req.Method != http.MethodGet || req.Client != netip.MustParseAddr("127.0.0.1") || req.Path != "" {
		t.Fatalf("untrusted peer: %+v", req)
	}
}

func TestBrowserRedirect(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) {
		c.LoginURL = "https://auth.example.com/login"
		c.AllowedRedirectHosts = []string{"app.example.com", "*.apps.example.com"}
	}))
	nav := []string{"Accept", "text/html,application/xhtml+xml", "Sec-Fetch-Mode", "navigate"}
	fwd := func(host, uri string, extra ...string) []string {
		return append(append([]string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", host, "X-Forwarded-Uri", uri}, nav...), extra...)
	}
	valid := f.token("s1", "u1")
	for _, tc := range []struct {
		name     string
		target   string
		hdr      []string
		method   string
		status   int
		location string // "" with 302: LoginURL without rd
	}{
		{"opted in by query", "/auth?mode=browser", fwd("app.example.com", "/page?q=1"), "", 302,
			"https://auth.example.com/login?rd=" + url.QueryEscape("https://app.example.com/page?q=1")},
		{"opted in by header", "/auth", fwd("app.example.com", "/", "X-Auth-Mode", "browser"), "", 302,
			"https://auth.example.com/login?rd=" + url.QueryEscape("https://app.example.com/")},
		{"wildcard host", "/auth?mode=browser", fwd("x.apps.example.com", "/a"), "", 302,
			"https://auth.example.com/login?rd=" + url.QueryEscape("https://x.apps.example.com/a")},
		{"wildcard does not match the parent", "/auth?mode=browser", fwd("apps.example.com", "/a"), "", 302, ""},
		{"host not allowed", "/auth?mode=browser", fwd("evil.example.net", "/a"), "", 302, ""},
		{"userinfo in host", "/auth?mode=browser", fwd("app.example.com@evil.net", "/a"), "", 302, ""},
		{"suffix trick", "/auth?mode=browser", fwd("app.example.com.evil.net", "/a"), "", 302, ""},
		{"trailing-dot host", "/auth?mode=browser", fwd("app.example.com.", "/a"), "", 302, ""},
		{"empty port", "/auth?mode=browser", fwd("app.example.com:", "/a"), "", 302, ""},
		{"port kept", "/auth?mode=browser", fwd("app.example.com:8443", "/a"), "", 302,
			"https://auth.example.com/login?rd=" + url.QueryEscape("https://app.example.com:8443/a")},
		{"protocol-relative uri", "/auth?mode=browser", fwd("app.example.com", "//evil.net/a"), "", 302, ""},
		{"backslash uri", "/auth?mode=browser", fwd("app.example.com", "/\\evil.net"), "", 302, ""},
		{"javascript scheme", "/auth?mode=browser", []string{"X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/", "Accept", "text/html"}, "", 302, ""},
		{"overlong", "/auth?mode=browser", fwd("app.example.com", "/"+strings.Repeat("a", hostlist.MaxReturnURL)), "", 302, ""},
		{"not opted in", "/auth", fwd("app.example.com", "/"), "", 401, ""},
		{"mode on an envoy path is the original query", "/auth/x?mode=browser", nav, "", 401, ""},
		{"fetch/XHR", "/auth?mode=browser", []string{"X-Forwarded-Host", "app.example.com", "Accept", "text/html", "Sec-Fetch-Mode", "cors"}, "", 401, ""},
		{"X-Requested-With", "/auth?mode=browser", fwd("app.example.com", "/", "X-Requested-With", "XMLHttpRequest"), "", 401, ""},
		{"no html accepted", "/auth?mode=browser", []string{"Accept", "application/json"}, "", 401, ""},
		{"POST", "/auth?mode=browser", fwd("app.example.com", "/"), http.MethodPost, 401, ""},
		{"token in the header: an API client", "/auth?mode=browser", fwd("app.example.com", "/", "Authorization", "Bearer junk"), "", 401, ""},
		{"valid cookie: allowed", "/auth?mode=browser", fwd("app.example.com", "/", "Cookie", "vexen_access="+valid), "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest(tc.target, tc.hdr...)
			if tc.method != "" {
				r.Method = tc.method
			}
			w := serve(f.v.Handler(), r)
			if w.status != tc.status {
				t.Fatalf("status %d, want %d", w.status, tc.status)
			}
			if tc.status != http.StatusFound {
				if loc := w.h.Get("Location"); loc != "" {
					t.Fatalf("Location %q on a %d", loc, w.status)
				}
				return
			}
			want := tc.location
			if want == "" {
				want = "https://auth.example.com/login"
			}
			if got := w.h.Get("Location"); got != want {
				t.Fatalf("Location %q, want %q", got, want)
			}
		})
	}
}

func TestBrowserRedirectDefaults(t *testing.T) {
	// No LoginURL: never a redirect. LoginURL with a query: rd is appended with &.
	f := newFixture(t)
	r := authRequest("/auth?mode=browser", "Accept", "text/html")
	if w := serve(f.v.Handler(), r); w.status != http.StatusUnauthorized {
		t.Fatalf("status %d without LoginURL", w.status)
	}
	g := newFixture(t, withConfig(func(c *Config) { c.LoginURL = "https://app.example.com/login?x=1" }))
	r = authRequest("/auth?mode=browser", "Accept", "text/html", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/p")
	w := serve(g.v.Handler(), r)
	want := "https://app.example.com/login?x=1&rd=" + url.QueryEscape("https://app.example.com/p")
	if w.status != http.StatusFound || w.h.Get("Location") != want {
		t.Fatalf("%d %q, want 302 %q (default allowed host: the login URL's)", w.status, w.h.Get("Location"), want)
	}
}

func TestCookieValue(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"vexen_access=abc", "abc", true},
		{"a=1;vexen_access=abc", "abc", true},
		{"a=1;  vexen_access=abc  ; b=2", "abc", true},
		{"vexen_access=", "", false},
		{"vexen_access=; vexen_access=second", "second", true},
		{"xvexen_access=abc", "", false},
		{"VEXEN_ACCESS=abc", "", false},
		{"vexen_access", "", false},
		{`vexen_access="q"`, "q", true},
	} {
		got, ok := cookieValue(tc.line, "vexen_access")
		if got != tc.want || ok != tc.ok {
			t.Errorf("cookieValue(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
