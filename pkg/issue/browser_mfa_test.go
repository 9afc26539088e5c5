package issue

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var mfaTokenInput = regexp.MustCompile(`<input type="hidden" name="mfa_token" value="([^"]*)">`)

// TestPagesStepUp: a password session sent to /login?mfa=1 (the verifier's redirect
// for a rule that requires mfa) is asked only for the code; the code gives a new
// session with mfa, the old session ends, and the old token keeps its amr. A wrong
// code shows the form again; a session with mfa goes straight back.
func TestPagesStepUp(t *testing.T) {
	e := newEnv(t, sqliteStore(t), func(c *Config, _ *Deps) {
		c.IssuerURL = "http://auth.example.com"
		c.AllowedRedirectHosts = []string{"auth.example.com", "app.example.com"}
	})
	e.addUser("u@example.com", "u-password")
	rd := "http://app.example.com/billing"
	sess := e.signIn("u@example.com", "u-password", rd)
	stepUp := pageReq{method: "GET", target: "/login?mfa=1&rd=" + url.QueryEscape(rd), cookies: []*http.Cookie{sess.access, sess.refreshLogin}}

	// No factor: the page says to set one up.
	if w := e.page(stepUp); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "/mfa") {
		t.Fatalf("step-up without a factor: %d %s", w.Code, w.Body)
	}
	secret, _ := e.enrol(TokenPair{AccessToken: sess.access.Value})

	w := e.page(stepUp)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="code"`) || strings.Contains(w.Body.String(), `id="password"`) {
		t.Fatalf("step-up form: %d %s", w.Code, w.Body)
	}
	fs := readForm(t, w)
	tok := mfaTokenInput.FindStringSubmatch(w.Body.String())
	if tok == nil || fs.rd != rd {
		t.Fatalf("code form without mfa_token or rd: %s", w.Body)
	}
	csrf := fs.cookie
	if csrf == nil {
		csrf = &http.Cookie{Name: CSRFCookie, Value: fs.csrf}
	}
	post := func(code string) *httptest.ResponseRecorder {
		return e.page(pageReq{method: "POST", target: "/login",
			form:    url.Values{"mfa_token": {tok[1]}, "code": {code}, "rd": {rd}, CSRFField: {fs.csrf}},
			cookies: []*http.Cookie{csrf, sess.refreshLogin}})
	}
	bad := "000000"
	if e.code(secret) == bad {
		bad = "111111"
	}
	if w := post(bad); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), msgBadCode) {
		t.Fatalf("wrong code: %d %s", w.Code, w.Body)
	}
	w = post(e.code(secret))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != rd {
		t.Fatalf("right code: %d %s", w.Code, w.Body)
	}
	up := sessionOf(t, w, e.svc.cfg.CookieName)
	if got := e.amr(up.access.Value); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("stepped-up amr %v", got)
	}
	if got := e.amr(sess.access.Value); !slices.Equal(got, []string{"pwd"}) {
		t.Fatalf("old token amr %v", got)
	}
	if _, err := e.svc.Authenticate(t.Context(), sess.access.Value); err == nil {
		t.Fatal("the old session is still live")
	}
	// With mfa: straight back to rd.
	e.clock.Advance(time.Second)
	w = e.page(pageReq{method: "GET", target: "/login?mfa=1&rd=" + url.QueryEscape(rd), cookies: []*http.Cookie{up.access}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != rd {
		t.Fatalf("step-up with mfa: %d %s", w.Code, w.Header())
	}
}

// TestPagesMFAEnrol: the /mfa page enrols (QR code as a data: image allowed by the
// CSP, the key as text), confirms, shows the recovery codes once.
func TestPagesMFAEnrol(t *testing.T) {
	e := newEnv(t, sqliteStore(t), func(c *Config, _ *Deps) { c.IssuerURL = "http://auth.example.com" })
	e.addUser("p@example.com", "p-password")
	sess := e.signIn("p@example.com", "p-password", "/")
	w := e.page(pageReq{method: "GET", target: "/mfa", cookies: []*http.Cookie{sess.access}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `value="enrol"`) {
		t.Fatalf("/mfa: %d %s", w.Code, w.Body)
	}
	fs := formState{csrf: csrfInput.FindStringSubmatch(w.Body.String())[1]}
	csrf := &http.Cookie{Name: CSRFCookie, Value: fs.csrf}
	op := func(op, code string) *httptest.ResponseRecorder {
		return e.page(pageReq{method: "POST", target: "/mfa",
			form: url.Values{"op": {op}, "code": {code}, CSRFField: {fs.csrf}}, cookies: []*http.Cookie{sess.access, csrf}})
	}
	w = op("enrol", "")
	body := w.Body.String()
	m := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`).FindStringSubmatch(body)
	if w.Code != http.StatusOK || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("enrol page: %d %s", w.Code, body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data:") || strings.Contains(csp, "script-src") {
		t.Fatalf("CSP %q", csp)
	}
	w = op("confirm", e.code(m[1]))
	if w.Code != http.StatusOK || strings.Count(w.Body.String(), "<li><code>") != RecoveryCodeCount {
		t.Fatalf("confirm page: %d %s", w.Code, w.Body)
	}
	w = e.page(pageReq{method: "GET", target: "/mfa", cookies: []*http.Cookie{sess.access}})
	if strings.Contains(w.Body.String(), "<li><code>") || !strings.Contains(w.Body.String(), "10 recovery codes left") {
		t.Fatalf("second visit shows codes again or no state: %s", w.Body)
	}
	// Cross-site POST refused.
	r := pageReq{method: "POST", target: "/mfa", form: url.Values{"op": {"remove"}, "code": {"123456"}, CSRFField: {"x"}},
		cookies: []*http.Cookie{sess.access, csrf}}
	if w := e.page(r); w.Code != http.StatusForbidden {
		t.Fatalf("bad CSRF: %d", w.Code)
	}
}
