package issue

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// pageReq is one browser request to the pages.
type pageReq struct {
	method, target string
	form           url.Values // sent urlencoded when set
	cookies        []*http.Cookie
	header         map[string]string
	remote         string
}

// page sends a browser request. A POST carries Sec-Fetch-Site: same-origin unless
// header says otherwise, as a browser posting the issuer's own form does.
func (e *env) page(r pageReq) *httptest.ResponseRecorder {
	e.t.Helper()
	var req *http.Request
	if r.form != nil {
		req = httptest.NewRequest(r.method, r.target, strings.NewReader(r.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(r.method, r.target, http.NoBody)
	}
	req.RemoteAddr = "192.0.2.10:40000"
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	if r.method == http.MethodPost {
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.svc.Handler().ServeHTTP(w, req)
	return w
}

// setCookies are the response's Set-Cookie lines by name, in order.
func setCookies(w *httptest.ResponseRecorder) map[string][]*http.Cookie {
	out := map[string][]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		out[c.Name] = append(out[c.Name], c)
	}
	return out
}

var (
	csrfInput = regexp.MustCompile(`<input type="hidden" name="csrf_token" value="([^"]*)">`)
	rdInput   = regexp.MustCompile(`<input type="hidden" name="rd" value="([^"]*)">`)
)

// formState is what a rendered sign-in form carries.
type formState struct {
	csrf   string       // the hidden token
	rd     string       // the hidden return URL
	cookie *http.Cookie // the CSRF cookie, if the answer set one
}

func readForm(t testing.TB, w *httptest.ResponseRecorder) formState {
	t.Helper()
	body := w.Body.String()
	m := csrfInput.FindStringSubmatch(body)
	r := rdInput.FindStringSubmatch(body)
	if m == nil || r == nil {
		t.Fatalf("no sign-in form in the answer (%d): %s", w.Code, body)
	}
	fs := formState{csrf: m[1], rd: html.UnescapeString(r[1])}
	if cs := setCookies(w)[CSRFCookie]; len(cs) == 1 {
		fs.cookie = cs[0]
	}
	return fs
}

// signInForm fetches the form and returns its state with the CSRF cookie.
func (e *env) signInForm(target string) formState {
	e.t.Helper()
	w := e.page(pageReq{method: "GET", target: target})
	if w.Code != http.StatusOK {
		e.t.Fatalf("GET %s: %d", target, w.Code)
	}
	fs := readForm(e.t, w)
	if fs.cookie == nil || fs.cookie.Value != fs.csrf {
		e.t.Fatalf("CSRF cookie %v does not carry the form's token %q", fs.cookie, fs.csrf)
	}
	return fs
}

func (fs formState) submit(email, password string) pageReq {
	return pageReq{
		method: "POST", target: "/login",
		form:    url.Values{"email": {email}, "password": {password}, "rd": {fs.rd}, CSRFField: {fs.csrf}},
		cookies: []*http.Cookie{fs.cookie},
	}
}

// session is the cookies a successful sign-in set.
type session struct {
	access        *http.Cookie
	refreshLogin  *http.Cookie // Path=/login
	refreshLogout *http.Cookie // Path=/logout
}

func sessionOf(t testing.TB, w *httptest.ResponseRecorder, accessName string) session {
	t.Helper()
	sc := setCookies(w)
	if len(sc[accessName]) != 1 || len(sc[RefreshCookie]) != 2 {
		t.Fatalf("Set-Cookie %v; want one %s and two %s", w.Header()["Set-Cookie"], accessName, RefreshCookie)
	}
	s := session{access: sc[accessName][0]}
	for _, c := range sc[RefreshCookie] {
		switch {
		case strings.HasSuffix(c.Path, "/login"):
			s.refreshLogin = c
		case strings.HasSuffix(c.Path, "/logout"):
			s.refreshLogout = c
		}
	}
	if s.refreshLogin == nil || s.refreshLogout == nil || s.refreshLogin.Value != s.refreshLogout.Value {
		t.Fatalf("refresh cookies %v, want the same token for /login and /logout", sc[RefreshCookie])
	}
	return s
}

func (e *env) signIn(email, password, rd string) session {
	e.t.Helper()
	fs := e.signInForm("/login?rd=" + url.QueryEscape(rd))
	w := e.page(fs.submit(email, password))
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	return sessionOf(e.t, w, e.svc.cfg.CookieName)
}

func browserEnv(t *testing.T, mod func(*Config)) *env {
	return newEnv(t, newMemStore(), func(c *Config, _ *Deps) {
		c.IssuerURL = "http://auth.example.com"
		c.AllowedRedirectHosts = []string{"auth.example.com", "app.example.com", "*.apps.example.com"}
		if mod != nil {
			mod(c)
		}
	})
}

func TestLoginPage(t *testing.T) {
	e := browserEnv(t, nil)
	w := e.page(pageReq{method: "GET", target: "/login?rd=" + url.QueryEscape("https://app.example.com/reports?q=1&x=<y>")})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	h := w.Header()
	for k, want := range map[string]string{
		"Content-Type":               "text/html; charset=utf-8",
		"Cache-Control":              "no-store",
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
		"form-action 'self' auth.example.com:* app.example.com:* *.apps.example.com:*"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows scripts or inline code", csp)
	}
	body := w.Body.String()
	for _, want := range []string{
		`<html lang="en">`,
		`<form method="post" action="/login">`,
		`<label for="email">`, `id="email" name="email" type="email"`, `autocomplete="username"`,
		`<label for="password">`, `id="password" name="password" type="password"`, `autocomplete="current-password"`,
		`<button type="submit">Sign in</button>`,
		`to continue to <strong>app.example.com</strong>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "role=\"alert\"") {
		t.Errorf("a fresh form has a script or an error region:\n%s", body)
	}
	fs := readForm(t, w)
	if fs.rd != "https://app.example.com/reports?q=1&x=<y>" {
		t.Errorf("hidden rd = %q", fs.rd)
	}
	if fs.cookie == nil || fs.cookie.Value != fs.csrf || len(fs.csrf) != 43 {
		t.Fatalf("CSRF cookie %v, token %q", fs.cookie, fs.csrf)
	}
	if !fs.cookie.HttpOnly || fs.cookie.Path != "/" || fs.cookie.SameSite != http.SameSiteStrictMode || fs.cookie.Secure {
		t.Errorf("CSRF cookie attributes: %s", fs.cookie)
	}

	// The token is kept while the cookie is there: several tabs all work.
	w = e.page(pageReq{method: "GET", target: "/login", cookies: []*http.Cookie{fs.cookie}})
	if again := readForm(t, w); again.csrf != fs.csrf || again.cookie != nil {
		t.Errorf("second form: token %q (cookie %v), want the first %q and no new cookie", again.csrf, again.cookie, fs.csrf)
	}
	// A refused rd falls back to the default, and nothing is shown as the target.
	w = e.page(pageReq{method: "GET", target: "/login?rd=" + url.QueryEscape("https://evil.example.net/")})
	if fs := readForm(t, w); fs.rd != "/" || strings.Contains(w.Body.String(), "continue to") {
		t.Errorf("refused rd: hidden rd %q; body mentions a target: %v", fs.rd, strings.Contains(w.Body.String(), "continue to"))
	}
	// HEAD answers like GET, without a body.
	if w := e.page(pageReq{method: "HEAD", target: "/login"}); w.Code != http.StatusOK {
		t.Errorf("HEAD /login: %d", w.Code)
	}
}

// TestPageStyleHash: the inline style is allowed by its hash, and html/template
// leaves it byte for byte as the hash was computed.
func TestPageStyleHash(t *testing.T) {
	e := browserEnv(t, nil)
	w := e.page(pageReq{method: "GET", target: "/login"})
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatal("no style element")
	}
	sum := sha256.Sum256([]byte(m[1]))
	src := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, src) {
		t.Errorf("CSP %q does not allow the page's style (%s)", csp, src)
	}
	if m[1] != pageCSS {
		t.Error("the rendered style differs from templates/style.css")
	}
}

func TestSignInSetsCookies(t *testing.T) {
	for _, tc := range []struct {
		name, issuer, domain string
		secure               bool
		csrfName, base       string
	}{
		{"http, host-only", "http://auth.example.com", "", false, CSRFCookie, ""},
		{"https, parent domain", "https://auth.example.com", "example.com", true, CSRFCookieSecure, ""},
		{"https, under a path", "https://example.com/idp/", ".example.com", true, CSRFCookieSecure, "/idp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := browserEnv(t, func(c *Config) {
				c.IssuerURL = tc.issuer
				c.CookieDomain = tc.domain
				c.CookieName = "app_session"
			})
			e.addUser("ann@example.com", "ann-passwd")
			w := e.page(pageReq{method: "GET", target: "/login?rd=https://app.example.com/x"})
			body := w.Body.String()
			if !strings.Contains(body, `action="`+tc.base+`/login"`) {
				t.Errorf("form action is not %s/login", tc.base)
			}
			csrf := setCookies(w)[tc.csrfName]
			if len(csrf) != 1 || csrf[0].Secure != tc.secure || csrf[0].Path != "/" || csrf[0].Domain != "" {
				t.Fatalf("CSRF cookie %s: %v", tc.csrfName, w.Header()["Set-Cookie"])
			}
			token := csrfInput.FindStringSubmatch(body)[1]
			start := e.clock.Now()
			w = e.page(pageReq{
				method: "POST", target: "/login",
				form:    url.Values{"email": {" ann@example.com "}, "password": {"ann-passwd"}, "rd": {"https://app.example.com/x"}, CSRFField: {token}},
				cookies: []*http.Cookie{csrf[0]},
			})
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://app.example.com/x" {
				t.Fatalf("sign-in: %d Location %q; %s", w.Code, w.Header().Get("Location"), w.Body)
			}
			s := sessionOf(t, w, "app_session")
			a := s.access
			if !a.HttpOnly || a.Secure != tc.secure || a.SameSite != http.SameSiteLaxMode || a.Path != "/" ||
				a.Domain != strings.TrimPrefix(tc.domain, ".") || a.MaxAge != 900 {
				t.Errorf("access cookie: %s", a)
			}
			c, err := e.svc.Authenticate(t.Context(), a.Value)
			if err != nil || c.Email != "ann@example.com" {
				t.Fatalf("access cookie does not hold a live token: %v", err)
			}
			for _, r := range []*http.Cookie{s.refreshLogin, s.refreshLogout} {
				if !r.HttpOnly || r.Secure != tc.secure || r.SameSite != http.SameSiteLaxMode || r.Domain != "" ||
					r.MaxAge != int((720*time.Hour)/time.Second) {
					t.Errorf("refresh cookie: %s", r)
				}
			}
			if s.refreshLogin.Path != tc.base+"/login" || s.refreshLogout.Path != tc.base+"/logout" {
				t.Errorf("refresh cookie paths %q, %q", s.refreshLogin.Path, s.refreshLogout.Path)
			}
			if _, err := e.svc.Refresh(t.Context(), RefreshRequest{RefreshToken: s.refreshLogin.Value}); err != nil {
				t.Errorf("refresh cookie does not hold a live refresh token: %v", err)
			}
			if !e.clock.Now().Equal(start) {
				t.Fatal("clock moved")
			}
		})
	}
}

// TestSignInFailures: the form comes back with the status, a generic message in a
// role=alert region, the email kept, and never a cookie of the session.
func TestSignInFailures(t *testing.T) {
	e := browserEnv(t, func(c *Config) { c.LoginRate.PerAccount = Rate{Events: 3, Per: 3 * time.Minute, Burst: 3} })
	e.addUser("bea@example.com", "bea-passwd")
	off := e.addUser("off@example.com", "off-passwd")
	if _, err := e.store.SetUserDisabled(t.Context(), off, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	fs := e.signInForm("/login?rd=https://app.example.com/")
	check := func(name string, w *httptest.ResponseRecorder, status int, msg, email string) string {
		t.Helper()
		if w.Code != status {
			t.Fatalf("%s: status %d, want %d; %s", name, w.Code, status, w.Body)
		}
		body := w.Body.String()
		if !strings.Contains(body, `<div id="form-error" class="error" role="alert">`+html.EscapeString(msg)+`</div>`) {
			t.Errorf("%s: no alert with %q:\n%s", name, msg, body)
		}
		if email != "" && !strings.Contains(body, `value="`+email+`"`) {
			t.Errorf("%s: the email is not kept", name)
		}
		if strings.Contains(body, "bea-passwd") || strings.Contains(body, "wrong-one") {
			t.Errorf("%s: the password is echoed", name)
		}
		if sc := setCookies(w); len(sc[e.svc.cfg.CookieName]) > 0 || len(sc[RefreshCookie]) > 0 {
			t.Errorf("%s: session cookies set: %v", name, w.Header()["Set-Cookie"])
		}
		if got := readForm(t, w).rd; got != "https://app.example.com/" {
			t.Errorf("%s: rd lost: %q", name, got)
		}
		return msg
	}
	wrong := check("wrong password", e.page(fs.submit("bea@example.com", "wrong-one")), http.StatusUnauthorized, msgInvalid, "bea@example.com")
	unknown := check("unknown email", e.page(fs.submit("nobody@example.com", "wrong-one")), http.StatusUnauthorized, msgInvalid, "nobody@example.com")
	disabled := check("disabled user", e.page(fs.submit("off@example.com", "off-passwd")), http.StatusUnauthorized, msgInvalid, "off@example.com")
	if wrong != unknown || wrong != disabled {
		t.Error("the messages tell the failures apart")
	}
	check("empty fields", e.page(fs.submit("", "")), http.StatusBadRequest, msgMissing, "")
	check("no password", e.page(fs.submit("bea@example.com", "")), http.StatusBadRequest, msgMissing, "bea@example.com")

	// The account's failure budget (3, one already spent) is the API's: the form
	// spends the same buckets through Service.Login.
	e.page(fs.submit("bea@example.com", "wrong-one"))
	e.post("/v1/login", loginBody("bea@example.com", "wrong-one"))
	before := e.hashes.Load()
	w := e.page(fs.submit("bea@example.com", "bea-passwd"))
	check("throttled", w, http.StatusTooManyRequests, "Too many sign-in attempts. Please wait 60 seconds and try again.", "bea@example.com")
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra != 60 {
		t.Errorf("Retry-After %q, want 60", w.Header().Get("Retry-After"))
	}
	if e.hashes.Load() != before {
		t.Error("a throttled sign-in ran argon2")
	}
	if got := e.counter("vexen_issuer_logins_total", "result", "rate_limited"); got != 1 {
		t.Errorf("logins_total{rate_limited} = %v", got)
	}
	e.clock.Advance(time.Minute)
	if w := e.page(fs.submit("bea@example.com", "bea-passwd")); w.Code != http.StatusSeeOther {
		t.Errorf("after Retry-After: %d", w.Code)
	}
}

func TestWaitText(t *testing.T) {
	for secs, want := range map[int64]string{1: "1 second", 20: "20 seconds", 119: "119 seconds", 120: "2 minutes", 121: "3 minutes", 600: "10 minutes"} {
		if got := waitText(secs); got != want {
			t.Errorf("waitText(%d) = %q, want %q", secs, got, want)
		}
	}
}

// TestSignInCSRF: a form post without the double-submit token, with another one, or
// from another origin is refused with 403 before any password work.
func TestSignInCSRF(t *testing.T) {
	e := browserEnv(t, nil)
	e.addUser("cy@example.com", "cy-passwd")
	fs := e.signInForm("/login")
	other := e.signInForm("/login") // another browser's token
	ok := fs.submit("cy@example.com", "cy-passwd")
	for _, tc := range []struct {
		name string
		mod  func(*pageReq)
	}{
		{"no token field", func(r *pageReq) { r.form.Del(CSRFField) }},
		{"empty token field", func(r *pageReq) { r.form.Set(CSRFField, "") }},
		{"no token cookie", func(r *pageReq) { r.cookies = nil }},
		{"wrong token", func(r *pageReq) { r.form.Set(CSRFField, other.csrf) }},
		{"token of another cookie", func(r *pageReq) { r.cookies = []*http.Cookie{other.cookie} }},
		{"malformed pair", func(r *pageReq) {
			r.form.Set(CSRFField, "x")
			r.cookies = []*http.Cookie{{Name: CSRFCookie, Value: "x"}}
		}},
		{"cross-site", func(r *pageReq) { r.header = map[string]string{"Sec-Fetch-Site": "cross-site"} }},
		{"same-site other origin", func(r *pageReq) { r.header = map[string]string{"Sec-Fetch-Site": "same-site"} }},
		{"old browser, other Origin", func(r *pageReq) {
			r.header = map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example.net"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.form = url.Values{}
			for k, v := range ok.form {
				r.form[k] = v
			}
			tc.mod(&r)
			before := e.hashes.Load()
			w := e.page(r)
			if w.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403; %s", w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), html.EscapeString(msgExpired)) {
				t.Error("no explanation on the form")
			}
			if sc := setCookies(w); len(sc[RefreshCookie]) > 0 {
				t.Error("session cookies set")
			}
			if e.hashes.Load() != before {
				t.Error("the password was checked")
			}
		})
	}
	// The untouched form works, also from an old browser with a matching Origin.
	r := ok
	r.header = map[string]string{"Sec-Fetch-Site": "", "Origin": "http://example.com"}
	if w := e.page(r); w.Code != http.StatusSeeOther {
		t.Fatalf("the genuine form: %d %s", w.Code, w.Body)
	}
}

func TestSignInBadBodies(t *testing.T) {
	e := browserEnv(t, nil)
	fs := e.signInForm("/login")
	for _, tc := range []struct {
		name   string
		ct     string
		body   string
		status int
	}{
		{"JSON", "application/json", `{"email":"a@b.c"}`, http.StatusUnsupportedMediaType},
		{"multipart", "multipart/form-data; boundary=x", "--x--", http.StatusUnsupportedMediaType},
		{"too large", "application/x-www-form-urlencoded", "email=" + strings.Repeat("a", maxFormBytes), http.StatusRequestEntityTooLarge},
		{"bad encoding", "application/x-www-form-urlencoded", "email=%zz", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/login", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.AddCookie(fs.cookie)
			w := httptest.NewRecorder()
			e.svc.Handler().ServeHTTP(w, req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), html.EscapeString(msgBadForm)) {
				t.Errorf("status %d, want %d with the form and an explanation; %s", w.Code, tc.status, w.Body)
			}
		})
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		if w := e.page(pageReq{method: m, target: "/login"}); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("%s /login: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	for _, m := range []string{"HEAD", "PUT"} {
		if w := e.page(pageReq{method: m, target: "/logout"}); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, POST" {
			t.Errorf("%s /logout: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

// TestSilentRefresh: with a live refresh cookie, GET /login rotates it and goes
// straight back to rd; a dead one is cleared and the form shown.
func TestSilentRefresh(t *testing.T) {
	e := browserEnv(t, func(c *Config) { c.RefreshGrace = 5 * time.Second })
	e.addUser("dee@example.com", "dee-passwd")
	s := e.signIn("dee@example.com", "dee-passwd", "https://app.example.com/")
	e.clock.Advance(20 * time.Minute) // the access cookie has expired

	rd := "https://x.apps.example.com/deep/page?a=1"
	w := e.page(pageReq{method: "GET", target: "/login?rd=" + url.QueryEscape(rd), cookies: []*http.Cookie{s.refreshLogin}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != rd {
		t.Fatalf("silent refresh: %d Location %q; %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	next := sessionOf(t, w, e.svc.cfg.CookieName)
	if next.refreshLogin.Value == s.refreshLogin.Value || next.access.Value == s.access.Value {
		t.Error("the tokens were not rotated")
	}
	if _, err := e.svc.Authenticate(t.Context(), next.access.Value); err != nil {
		t.Errorf("new access cookie: %v", err)
	}
	if got := e.counter("vexen_issuer_refreshes_total", "result", "success"); got != 1 {
		t.Errorf("refreshes_total{success} = %v", got)
	}
	// HEAD never rotates.
	if w := e.page(pageReq{method: "HEAD", target: "/login", cookies: []*http.Cookie{next.refreshLogin}}); w.Code != http.StatusOK {
		t.Errorf("HEAD with a refresh cookie: %d", w.Code)
	}

	// The old token presented again after the grace period is a replay: the session
	// is revoked, the cookies cleared, and the form shown.
	e.clock.Advance(time.Minute)
	w = e.page(pageReq{method: "GET", target: "/login?rd=" + url.QueryEscape(rd), cookies: []*http.Cookie{s.refreshLogin}})
	if w.Code != http.StatusOK {
		t.Fatalf("replayed refresh cookie: %d, want the form", w.Code)
	}
	if readForm(t, w).rd != rd {
		t.Error("rd lost")
	}
	checkCleared(t, w, e.svc.cfg.CookieName, "")
	if _, err := e.svc.Authenticate(t.Context(), next.access.Value); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("after a replay the session is still live: %v", err)
	}

	// Junk in the cookie: the form, the cookie cleared.
	w = e.page(pageReq{method: "GET", target: "/login", cookies: []*http.Cookie{{Name: RefreshCookie, Value: "junk"}}})
	if w.Code != http.StatusOK {
		t.Fatalf("junk refresh cookie: %d", w.Code)
	}
	checkCleared(t, w, e.svc.cfg.CookieName, "")
}

// checkCleared: the answer expires the access cookie and both refresh cookies with
// the attributes they were set with.
func checkCleared(t testing.TB, w *httptest.ResponseRecorder, accessName, domain string) {
	t.Helper()
	sc := setCookies(w)
	if len(sc[accessName]) != 1 || len(sc[RefreshCookie]) != 2 {
		t.Fatalf("Set-Cookie %v: want the access cookie and both refresh cookies cleared", w.Header()["Set-Cookie"])
	}
	paths := map[string]bool{}
	for _, c := range append(sc[accessName], sc[RefreshCookie]...) {
		if c.Value != "" || c.MaxAge != -1 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("not a clearing cookie: %s", c)
		}
		paths[c.Path] = true
	}
	if a := sc[accessName][0]; a.Domain != domain || a.Path != "/" {
		t.Errorf("access cookie cleared with Domain %q Path %q", a.Domain, a.Path)
	}
	if !paths["/login"] || !paths["/logout"] {
		t.Errorf("refresh cookies cleared for paths %v", paths)
	}
	for _, line := range w.Header()["Set-Cookie"] {
		if strings.HasPrefix(line, CSRFCookie+"=") {
			continue // a form shown with the clearing sets its CSRF cookie
		}
		if !strings.Contains(line, "Max-Age=0") || !strings.Contains(line, "Expires=Thu, 01 Jan 1970") {
			t.Errorf("clearing cookie without Max-Age=0 and a past Expires: %s", line)
		}
	}
}

func TestLogout(t *testing.T) {
	e := browserEnv(t, func(c *Config) { c.CookieDomain = "example.com" })
	e.addUser("eve@example.com", "eve-passwd")

	t.Run("GET with the refresh cookie", func(t *testing.T) {
		s := e.signIn("eve@example.com", "eve-passwd", "/")
		rd := "https://app.example.com/bye"
		w := e.page(pageReq{method: "GET", target: "/logout?rd=" + url.QueryEscape(rd), cookies: []*http.Cookie{s.refreshLogout}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != rd {
			t.Fatalf("logout: %d %q", w.Code, w.Header().Get("Location"))
		}
		checkCleared(t, w, e.svc.cfg.CookieName, "example.com")
		if _, err := e.svc.Authenticate(t.Context(), s.access.Value); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("session still live: %v", err)
		}
		if _, err := e.svc.Refresh(t.Context(), RefreshRequest{RefreshToken: s.refreshLogout.Value}); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh token still works: %v", err)
		}
	})
	t.Run("GET with an expired access cookie only", func(t *testing.T) {
		s := e.signIn("eve@example.com", "eve-passwd", "/")
		e.clock.Advance(20 * time.Minute)
		w := e.page(pageReq{method: "GET", target: "/logout?rd=//evil.com", cookies: []*http.Cookie{s.access}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
			t.Fatalf("logout: %d %q (a refused rd must go to the default)", w.Code, w.Header().Get("Location"))
		}
		if _, err := e.svc.Refresh(t.Context(), RefreshRequest{RefreshToken: s.refreshLogin.Value}); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("the session outlived a logout by its access cookie: %v", err)
		}
	})
	t.Run("GET without cookies", func(t *testing.T) {
		w := e.page(pageReq{method: "GET", target: "/logout"})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
			t.Fatalf("logout: %d %q", w.Code, w.Header().Get("Location"))
		}
		checkCleared(t, w, e.svc.cfg.CookieName, "example.com")
	})
	t.Run("POST needs the CSRF token", func(t *testing.T) {
		s := e.signIn("eve@example.com", "eve-passwd", "/")
		fs := e.signInForm("/login")
		cookies := []*http.Cookie{s.refreshLogout, s.access, fs.cookie}
		for name, r := range map[string]pageReq{
			"no token":    {method: "POST", target: "/logout", form: url.Values{"rd": {"/"}}, cookies: cookies},
			"wrong token": {method: "POST", target: "/logout", form: url.Values{CSRFField: {strings.Repeat("A", 43)}}, cookies: cookies},
			"cross-site": {method: "POST", target: "/logout", form: url.Values{CSRFField: {fs.csrf}}, cookies: cookies,
				header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		} {
			w := e.page(r)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `role="alert"`) {
				t.Errorf("%s: %d, want 403 with an alert", name, w.Code)
			}
			if len(setCookies(w)[RefreshCookie]) > 0 {
				t.Errorf("%s: cookies cleared", name)
			}
		}
		if _, err := e.svc.Authenticate(t.Context(), s.access.Value); err != nil {
			t.Fatalf("a refused sign-out ended the session: %v", err)
		}
		w := e.page(pageReq{method: "POST", target: "/logout", form: url.Values{CSRFField: {fs.csrf}, "rd": {"https://app.example.com/"}}, cookies: cookies})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://app.example.com/" {
			t.Fatalf("POST /logout: %d %q", w.Code, w.Header().Get("Location"))
		}
		checkCleared(t, w, e.svc.cfg.CookieName, "example.com")
		if _, err := e.svc.Authenticate(t.Context(), s.access.Value); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("session still live: %v", err)
		}
	})
}

// failingStore fails the lookups sign-out and the account page need.
type failingStore struct {
	*memStore
	err error
}

func (s failingStore) SessionByRefreshHash(context.Context, string) (store.Session, error) {
	return store.Session{}, s.err
}

func (s failingStore) RevokeSession(context.Context, string, string, time.Time) (store.RevokeResult, error) {
	return store.RevokeResult{}, s.err
}

func (s failingStore) SessionState(context.Context, string) (store.SessionState, error) {
	return store.SessionState{}, s.err
}

// TestLogoutStoreDown: a sign-out the store could not record keeps the cookies, so
// that trying again can still end the session, and says so.
func TestLogoutStoreDown(t *testing.T) {
	ms := newMemStore()
	fs := failingStore{memStore: ms}
	e := newEnv(t, &fs, func(c *Config, _ *Deps) { c.IssuerURL = "http://auth.example.com" })
	e.addUser("fay@example.com", "fay-passwd")
	s := e.signIn("fay@example.com", "fay-passwd", "/")
	fs.err = errors.New("database is down")
	w := e.page(pageReq{method: "GET", target: "/logout?rd=/", cookies: []*http.Cookie{s.refreshLogout, s.access}})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), html.EscapeString(msgLogoutFailed)) {
		t.Fatalf("status %d; %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), `href="/logout?rd=/"`) {
		t.Error("no link to try again")
	}
	if len(w.Header()["Set-Cookie"]) != 0 {
		t.Errorf("cookies changed: %v", w.Header()["Set-Cookie"])
	}
	w = e.page(pageReq{method: "GET", target: "/", cookies: []*http.Cookie{s.access}})
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("account page with the store down: %d", w.Code)
	}
	if strings.Contains(e.logs.String(), "database is down") == false {
		t.Error("the failure is not logged")
	}
}

func TestAccountPage(t *testing.T) {
	e := browserEnv(t, nil)
	e.addUser("gus@example.com", "gus-passwd")
	for name, cookies := range map[string][]*http.Cookie{
		"no cookie":   nil,
		"junk cookie": {{Name: "vexen_access", Value: "junk"}},
	} {
		w := e.page(pageReq{method: "GET", target: "/", cookies: cookies})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?rd=%2F" {
			t.Errorf("%s: %d %q, want 303 to the sign-in page", name, w.Code, w.Header().Get("Location"))
		}
	}
	// After signing in without a return address, the browser lands here.
	fs := e.signInForm("/login")
	w := e.page(fs.submit("gus@example.com", "gus-passwd"))
	if w.Header().Get("Location") != "/" {
		t.Fatalf("sign-in without rd goes to %q", w.Header().Get("Location"))
	}
	s := sessionOf(t, w, "vexen_access")
	w = e.page(pageReq{method: "GET", target: "/", cookies: []*http.Cookie{s.access, fs.cookie}})
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "signed in as <strong>gus@example.com</strong>") ||
		!strings.Contains(body, `<form method="post" action="/logout">`) || !strings.Contains(body, `value="`+fs.csrf+`"`) {
		t.Fatalf("account page: %d\n%s", w.Code, body)
	}
	if w.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("account page can be framed")
	}
	if w := e.page(pageReq{method: "POST", target: "/", form: url.Values{}}); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", w.Code)
	}
}

// TestSignInEndsPreviousSession: signing in again in the same browser revokes the
// session whose refresh cookie it replaces.
func TestSignInEndsPreviousSession(t *testing.T) {
	e := browserEnv(t, nil)
	e.addUser("hal@example.com", "hal-passwd")
	first := e.signIn("hal@example.com", "hal-passwd", "/")
	fs := e.signInForm("/login")
	r := fs.submit("hal@example.com", "hal-passwd")
	r.cookies = append(r.cookies, first.refreshLogin)
	if w := e.page(r); w.Code != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", w.Code)
	}
	if _, err := e.svc.Authenticate(t.Context(), first.access.Value); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the replaced session is still live: %v", err)
	}
}

// TestPagesLogNoSecrets: cookies, tokens and passwords never reach the logs.
func TestPagesLogNoSecrets(t *testing.T) {
	e := browserEnv(t, func(c *Config) { c.RefreshGrace = 0 })
	e.addUser("ida@example.com", "ida-secret-pw")
	fs := e.signInForm("/login?rd=https://app.example.com/")
	e.page(fs.submit("ida@example.com", "wrong-secret-pw"))
	s := e.signIn("ida@example.com", "ida-secret-pw", "https://app.example.com/")
	w := e.page(pageReq{method: "GET", target: "/login", cookies: []*http.Cookie{s.refreshLogin}})
	next := sessionOf(t, w, "vexen_access")
	e.page(pageReq{method: "GET", target: "/login", cookies: []*http.Cookie{s.refreshLogin}}) // a replay
	e.page(pageReq{method: "GET", target: "/logout", cookies: []*http.Cookie{next.refreshLogout, next.access}})
	bad := fs.submit("ida@example.com", "ida-secret-pw")
	bad.form.Set(CSRFField, "forged-token-value")
	e.page(bad)
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("no logs at all: the test would prove nothing")
	}
	for _, secret := range []string{"ida-secret-pw", "wrong-secret-pw", s.access.Value, s.refreshLogin.Value,
		next.access.Value, next.refreshLogin.Value, fs.csrf, "forged-token-value", TokenHash(s.refreshLogin.Value)} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret (%.12s…)", secret)
		}
	}
}

func TestCookieDomainConfig(t *testing.T) {
	for _, tc := range []struct {
		issuer, domain string
		ok             bool
	}{
		{"https://auth.example.com", "example.com", true},
		{"https://auth.example.com", ".example.com", true},
		{"https://auth.example.com", "auth.example.com", true},
		{"https://auth.example.com", "EXAMPLE.com", true},
		{"https://auth.example.com", "other.com", false},
		{"https://auth.example.com", "ample.com", false},
		{"https://auth.example.com", "app.example.com", false},
		{"https://auth.example.com", "exa_mple.com", false},
		{"https://auth.example.com", "example..com", false},
		{"http://127.0.0.1:8080", "127.0.0.1", true},
	} {
		cfg := DefaultConfig()
		cfg.IssuerURL, cfg.CookieDomain = tc.issuer, tc.domain
		err := cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "cookie-domain")) {
			t.Errorf("issuer %s, cookie domain %q: %v", tc.issuer, tc.domain, err)
		}
	}
}

func TestPageMetrics(t *testing.T) {
	e := browserEnv(t, nil)
	e.page(pageReq{method: "GET", target: "/login"})
	e.page(pageReq{method: "GET", target: "/logout"})
	e.page(pageReq{method: "GET", target: "/"})
	for ep, code := range map[string]string{"login_page": "200", "logout_page": "303", "account": "303"} {
		if got := e.counter("vexen_issuer_requests_total", "endpoint", ep, "code", code); got != 1 {
			t.Errorf("requests_total{endpoint=%s,code=%s} = %v", ep, code, got)
		}
	}
}
