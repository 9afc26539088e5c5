package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/echo"
)

// target is a running proxy, with the sample config rendered for the test, in
// front of a stack.
type target struct {
	name string
	base string // http://127.0.0.1:PORT
	// pagePath is on a route whose unauthenticated page navigations are sent to
	// the login page.
	pagePath string
	// apiPath is on a route that answers API-style (401, never a redirect), or ""
	// when the config has none (nginx: every route sends browsers to the login
	// page and API clients get the 401).
	apiPath string
	// downStatus lists the statuses the proxy answers with when the verifier is
	// unreachable (measured: nginx 500, Traefik 500, Caddy 502).
	downStatus []int
}

// Request headers of a browser's top-level page navigation, and of an API call.
var (
	browserNav = http.Header{
		"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Sec-Fetch-Mode":  {"navigate"},
		"Sec-Fetch-Dest":  {"document"},
		"Sec-Fetch-User":  {"?1"},
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) e2e"},
		"Accept-Language": {"en"},
	}
	apiCall = http.Header{"Accept": {"application/json"}}
)

// identity headers the verifier sets and the proxies must control.
var identityHeaders = []string{"X-Auth-User", "X-Auth-Email", "X-Auth-Roles", "X-Auth-Session", "X-Auth-AMR"}

// client never follows redirects: the tests look at the proxy's own answer.
var client = &http.Client{
	Timeout: 15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request through the proxy. header values are copied as they are
// (so names Go would not canonicalize, like X_Auth_User, are sent as written).
func send(t *testing.T, method, url string, header http.Header, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = append([]string(nil), vs...)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func with(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = append(out[kv[i]], kv[i+1])
	}
	return out
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// upstreamSaw decodes the echo upstream's description of the request it got.
func upstreamSaw(t *testing.T, a answer) echo.Request {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d, want 200 from the upstream; body: %.300s", a.status, a.body)
	}
	seen, err := echo.Decode(strings.NewReader(string(a.body)))
	if err != nil {
		t.Fatalf("not the echo upstream's answer (%v): %.300s", err, a.body)
	}
	return seen
}

// cgiName is how CGI, PHP, WSGI and Rails name a header: uppercase, every byte
// that is not a letter or digit turned into '_'. X-Auth-User, X_Auth_User and
// X.Auth.User are one variable to them.
func cgiName(h string) string {
	b := []byte(strings.ToUpper(h))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// checkIdentity asserts the upstream saw exactly the identity of c (and no
// header aliasing an identity header under another spelling).
func checkIdentity(t *testing.T, seen echo.Request, c claims) {
	t.Helper()
	want := map[string]string{
		"X-Auth-User":    c.Sub,
		"X-Auth-Email":   c.Email,
		"X-Auth-Roles":   strings.Join(c.Roles, ","),
		"X-Auth-Session": c.Sid,
		"X-Auth-AMR":     strings.Join(c.AMR, ","),
	}
	for _, h := range identityHeaders {
		got := seen.Header.Values(h)
		switch {
		case want[h] == "" && len(got) == 0:
		case want[h] == "" && len(got) == 1 && got[0] == "":
		case len(got) == 1 && got[0] == want[h]:
		default:
			t.Errorf("upstream saw %s = %q, want %q", h, got, want[h])
		}
	}
	for name, vs := range seen.Header {
		for _, h := range identityHeaders {
			if name != http.CanonicalHeaderKey(h) && cgiName(name) == cgiName(h) {
				t.Errorf("upstream saw %q: %q, an alias of %s a client forged", name, vs, h)
			}
		}
	}
}

// check401 asserts a 401 with exactly one WWW-Authenticate challenge of the
// verifier (with error="invalid_token" when a token was sent).
func check401(t *testing.T, a answer, tokenSent bool) {
	t.Helper()
	if a.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; Location %q; body: %.300s", a.status, a.header.Get("Location"), a.body)
	}
	ch := a.header.Values("WWW-Authenticate")
	if len(ch) != 1 {
		t.Fatalf("WWW-Authenticate %q, want exactly one challenge", ch)
	}
	if !strings.HasPrefix(ch[0], `Bearer realm="vexen"`) {
		t.Errorf("WWW-Authenticate %q, want the verifier's Bearer realm=\"vexen\" challenge", ch[0])
	}
	if got := strings.Contains(ch[0], `error="invalid_token"`); got != tokenSent {
		t.Errorf("WWW-Authenticate %q: error=\"invalid_token\" present = %v, want %v", ch[0], got, tokenSent)
	}
}

// checkLoginRedirect asserts a redirect to the issuer's login page whose rd is
// exactly the URL the browser asked for.
func checkLoginRedirect(t *testing.T, a answer, loginURL, original string) {
	t.Helper()
	if a.status != http.StatusFound && a.status != http.StatusSeeOther && a.status != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want a redirect to the login page; body: %.300s", a.status, a.body)
	}
	loc, err := url.Parse(a.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", a.header.Get("Location"), err)
	}
	login, _ := url.Parse(loginURL)
	if loc.Scheme != login.Scheme || loc.Host != login.Host || loc.Path != login.Path {
		t.Errorf("Location %q, want the login page %s", loc, loginURL)
	}
	if rd := loc.Query().Get("rd"); rd != original {
		t.Errorf("Location %q: rd = %q, want the original URL %q", loc, rd, original)
	}
}

// runSuite is the behaviour every proxy sample config must show; it ends by
// stopping the verifier.
func runSuite(t *testing.T, s *stack, p target) {
	admin := s.login(t, adminUser)
	adminClaims := decodeClaims(t, admin.AccessToken)
	plain := s.login(t, plainUser)
	plainClaims := decodeClaims(t, plain.AccessToken)
	page := p.base + p.pagePath
	api := p.base + p.apiPath
	if p.apiPath == "" {
		api = page
	}

	// refused runs req, which must be refused without the upstream seeing it.
	refused := func(t *testing.T, req func() answer) answer {
		t.Helper()
		before := s.echo.Hits()
		a := req()
		if n := s.echo.Hits() - before; n != 0 {
			t.Errorf("the upstream got %d request(s) the proxy should have refused", n)
		}
		return a
	}

	t.Run("valid token reaches the upstream with the identity", func(t *testing.T) {
		seen := upstreamSaw(t, send(t, http.MethodGet, api, with(bearer(admin.AccessToken), "Accept", "application/json"), ""))
		checkIdentity(t, seen, adminClaims)
		if got := seen.Header.Get("X-Auth-Roles"); got != "admin,dev" {
			t.Errorf("X-Auth-Roles %q, want admin,dev", got)
		}
	})

	t.Run("user without roles gets no X-Auth-Roles", func(t *testing.T) {
		seen := upstreamSaw(t, send(t, http.MethodGet, api, bearer(plain.AccessToken), ""))
		checkIdentity(t, seen, plainClaims)
	})

	t.Run("access-token cookie on a page", func(t *testing.T) {
		seen := upstreamSaw(t, send(t, http.MethodGet, page, with(browserNav, "Cookie", "vexen_access="+admin.AccessToken), ""))
		checkIdentity(t, seen, adminClaims)
	})

	t.Run("forged identity headers never reach the upstream", func(t *testing.T) {
		// Every character HTTP allows in a header name that CGI-style frameworks
		// fold to '_' like '-': X_Auth_User, X.Auth.User, X~Auth~User, ...
		forged := http.Header{}
		for _, h := range identityHeaders {
			forged[h] = []string{"forged"}
			for _, c := range "_.~!#$%&'*+^`|" {
				forged[strings.ReplaceAll(h, "-", string(c))] = []string{"forged"}
			}
		}
		t.Run("with a valid token", func(t *testing.T) {
			h := forged.Clone()
			h.Set("Authorization", "Bearer "+admin.AccessToken)
			checkIdentity(t, upstreamSaw(t, send(t, http.MethodGet, api, h, "")), adminClaims)
		})
		t.Run("with a valid token of a user without roles", func(t *testing.T) {
			h := forged.Clone()
			h.Set("Authorization", "Bearer "+plain.AccessToken)
			checkIdentity(t, upstreamSaw(t, send(t, http.MethodGet, api, h, "")), plainClaims)
		})
		t.Run("without a token", func(t *testing.T) {
			a := refused(t, func() answer { return send(t, http.MethodGet, api, forged, "") })
			check401(t, a, false)
		})
	})

	t.Run("refused tokens", func(t *testing.T) {
		tests := []struct {
			name   string
			header http.Header
			sent   bool
		}{
			{"missing", apiCall, false},
			{"not a JWT", with(apiCall, "Authorization", "Bearer not-a-jwt"), true},
			{"bad signature", with(apiCall, "Authorization", "Bearer "+tamper(admin.AccessToken)), true},
			{"expired", with(apiCall, "Authorization", "Bearer "+s.expiredCopy(t, admin.AccessToken)), true},
			{"bad cookie", with(apiCall, "Cookie", "vexen_access="+tamper(admin.AccessToken)), true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				check401(t, refused(t, func() answer { return send(t, http.MethodGet, api, tt.header, "") }), tt.sent)
			})
		}
	})

	t.Run("browser navigation without a session goes to the login page", func(t *testing.T) {
		a := refused(t, func() answer { return send(t, http.MethodGet, page, browserNav, "") })
		checkLoginRedirect(t, a, s.loginURL, page)
	})

	t.Run("browser navigation with an expired cookie goes to the login page", func(t *testing.T) {
		h := with(browserNav, "Cookie", "vexen_access="+s.expiredCopy(t, admin.AccessToken))
		a := refused(t, func() answer { return send(t, http.MethodGet, page, h, "") })
		checkLoginRedirect(t, a, s.loginURL, page)
	})

	t.Run("browser navigation for a host not on the allowlist: no return URL", func(t *testing.T) {
		req := func() answer {
			req, err := http.NewRequest(http.MethodGet, page, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = browserNav.Clone()
			req.Host = "evil.example"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			return answer{status: resp.StatusCode, header: resp.Header}
		}
		a := refused(t, req)
		if a.status != http.StatusFound {
			t.Fatalf("status %d, want 302 to the login page", a.status)
		}
		loc, err := url.Parse(a.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if rd := loc.Query().Get("rd"); rd != "" || strings.Contains(loc.String(), "evil.example") {
			t.Errorf("Location %q carries a return URL to a host not allowed", loc)
		}
	})

	t.Run("fetch from a page gets 401, not a redirect", func(t *testing.T) {
		h := http.Header{"Accept": {"application/json"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"}}
		check401(t, refused(t, func() answer { return send(t, http.MethodGet, page, h, "") }), false)
	})

	t.Run("a client's X-Auth-Mode header does not reach the verifier", func(t *testing.T) {
		// Page route, browser navigation: the answer must be the login redirect
		// (nginx would answer 500 to a 302 from its decision subrequest), and on an
		// API route (below) a 401.
		h := with(browserNav, "X-Auth-Mode", "browser")
		checkLoginRedirect(t, refused(t, func() answer { return send(t, http.MethodGet, page, h, "") }), s.loginURL, page)
	})

	if p.apiPath != "" {
		t.Run("browser navigation on an API route gets 401", func(t *testing.T) {
			check401(t, refused(t, func() answer { return send(t, http.MethodGet, api, browserNav, "") }), false)
		})
		t.Run("a client cannot pick the verifier's mode on an API route", func(t *testing.T) {
			u := api + "?mode=browser"
			h := with(browserNav, "X-Auth-Mode", "browser")
			check401(t, refused(t, func() answer { return send(t, http.MethodGet, u, h, "") }), false)
		})
	}

	t.Run("POST is judged on its real method", func(t *testing.T) {
		checkMethod(t, s, p, page, admin)
	})

	t.Run("revoked session", func(t *testing.T) {
		tp := s.login(t, adminUser)
		upstreamSaw(t, send(t, http.MethodGet, api, bearer(tp.AccessToken), ""))
		s.logout(t, tp.AccessToken)
		var last answer
		ok := waitFor(5*time.Second, func() bool {
			last = send(t, http.MethodGet, api, bearer(tp.AccessToken), "")
			return last.status == http.StatusUnauthorized
		})
		if !ok {
			t.Fatalf("still %d 5s after logout; want 401", last.status)
		}
		check401(t, refused(t, func() answer { return send(t, http.MethodGet, api, bearer(tp.AccessToken), "") }), true)
		// The other session of the same user is untouched.
		upstreamSaw(t, send(t, http.MethodGet, api, bearer(admin.AccessToken), ""))
	})

	t.Run("verifier down: refused, never let through", func(t *testing.T) {
		s.verifier.stop(t)
		for _, tc := range []struct {
			name, url string
			header    http.Header
		}{
			{"valid token", api, bearer(admin.AccessToken)},
			{"no token", api, apiCall},
			{"browser navigation", page, browserNav},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := refused(t, func() answer { return send(t, http.MethodGet, tc.url, tc.header, "") })
				if a.status < 500 || a.status > 599 {
					t.Fatalf("status %d with the verifier down, want 5xx; body: %.300s", a.status, a.body)
				}
				known := false
				for _, st := range p.downStatus {
					known = known || a.status == st
				}
				if !known {
					t.Errorf("status %d with the verifier down, want one of %v (as measured)", a.status, p.downStatus)
				}
			})
		}
	})
}
