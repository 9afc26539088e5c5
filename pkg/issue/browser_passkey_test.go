package issue

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	optionsScript = regexp.MustCompile(`<script type="application/json" id="webauthn-options">([^<]*)</script>`)
	passkeyIDs    = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]*)">`)
)

// TestPagesPasskeys: the passkey pages over a real store with a software
// authenticator: add one (a name is required), the ceremony page alone carries a
// script (by hash), removal needs a session with mfa, sign in with the passkey
// alone (303 to rd, amr hwk,mfa), a replayed answer or a missing CSRF token is
// refused, and the second step of a password login offers the passkey without a
// code field.
func TestPagesPasskeys(t *testing.T) {
	e := newEnv(t, sqliteStore(t), func(c *Config, _ *Deps) {
		c.IssuerURL = "http://auth.example.com"
		c.AllowedRedirectHosts = []string{"auth.example.com", "app.example.com"}
	})
	e.addUser("p@example.com", "p-password")
	rd := "http://app.example.com/home"
	sess := e.signIn("p@example.com", "p-password", rd)
	k := newSoftKey(t, "auth.example.com", "http://auth.example.com")

	w := e.page(pageReq{method: "GET", target: "/passkeys", cookies: []*http.Cookie{sess.access}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="passkey-none"`) {
		t.Fatalf("GET /passkeys: %d %s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "script-src") {
		t.Errorf("the list page allows scripts: %q", csp)
	}
	csrf := csrfInput.FindStringSubmatch(w.Body.String())[1]
	cookies := []*http.Cookie{sess.access, {Name: CSRFCookie, Value: csrf}}
	post := func(target string, form url.Values, cs ...*http.Cookie) *httptest.ResponseRecorder {
		form.Set(CSRFField, csrf)
		return e.page(pageReq{method: "POST", target: target, form: form, cookies: cs})
	}
	if w := post("/passkeys", url.Values{"op": {"begin"}, "name": {""}}, cookies...); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), msgPasskeyName) {
		t.Errorf("no name: %d %s", w.Code, w.Body)
	}
	w = post("/passkeys", url.Values{"op": {"begin"}, "name": {"Laptop"}}, cookies...)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-mode="create"`) {
		t.Fatalf("begin: %d %s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src "+passkeyJSHash) || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("ceremony page CSP %q, want script-src %s", csp, passkeyJSHash)
	}
	if !strings.Contains(w.Body.String(), "<script>"+passkeyJS+"</script>") {
		t.Error("the ceremony page's script is not the hashed one, byte for byte")
	}
	opts := optionsScript.FindStringSubmatch(w.Body.String())
	if opts == nil {
		t.Fatalf("no options in %s", w.Body)
	}
	w = post("/passkeys", url.Values{"op": {"finish"}, "name": {"Laptop"}, "response": {string(k.register([]byte(opts[1])))}}, cookies...)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Passkey “Laptop” added.") {
		t.Fatalf("finish: %d %s", w.Code, w.Body)
	}
	id := passkeyIDs.FindStringSubmatch(w.Body.String())
	if id == nil {
		t.Fatalf("no passkey listed: %s", w.Body)
	}
	// The password session may not remove it: the page links the step-up.
	if w := post("/passkeys", url.Values{"op": {"remove"}, "id": {id[1]}}, cookies...); w.Code != http.StatusForbidden ||
		!strings.Contains(w.Body.String(), html.EscapeString(msgPasskeyStepUp)) || !strings.Contains(w.Body.String(), "/login?mfa=1&amp;rd=") {
		t.Errorf("remove from a password session: %d %s", w.Code, w.Body)
	}

	// Sign in with the passkey alone.
	if w := e.page(pageReq{method: "GET", target: "/login"}); !strings.Contains(w.Body.String(), `id="passkey-signin"`) {
		t.Errorf("the sign-in page offers no passkey: %s", w.Body)
	}
	csrfOnly := &http.Cookie{Name: CSRFCookie, Value: csrf}
	w = post("/login/passkey", url.Values{"op": {"begin"}, "rd": {rd}}, csrfOnly)
	opts = optionsScript.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || opts == nil || !strings.Contains(w.Body.String(), `data-mode="get"`) {
		t.Fatalf("passkey sign-in page: %d %s", w.Code, w.Body)
	}
	answer := string(k.assert([]byte(opts[1])))
	w = post("/login/passkey", url.Values{"op": {"finish"}, "rd": {rd}, "response": {answer}}, csrfOnly)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != rd {
		t.Fatalf("passkey sign-in: %d %s %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	pk := sessionOf(t, w, e.svc.cfg.CookieName)
	if got := e.amr(pk.access.Value); !slices.Equal(got, []string{"hwk", "mfa"}) {
		t.Errorf("amr %v, want [hwk mfa]", got)
	}
	if w := post("/login/passkey", url.Values{"op": {"finish"}, "rd": {rd}, "response": {answer}}, csrfOnly); w.Code != http.StatusUnauthorized ||
		!strings.Contains(w.Body.String(), msgPasskeyRefused) {
		t.Errorf("replayed answer: %d %s", w.Code, w.Body)
	}
	if w := e.page(pageReq{method: "POST", target: "/login/passkey", form: url.Values{"op": {"begin"}}, cookies: []*http.Cookie{csrfOnly}}); w.Code != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", w.Code)
	}

	// With mfa, the removal works; the list is empty again.
	mfaCookies := []*http.Cookie{pk.access, csrfOnly}
	if w := post("/passkeys", url.Values{"op": {"remove"}, "id": {id[1]}}, mfaCookies...); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="passkey-none"`) {
		t.Errorf("remove from an mfa session: %d %s", w.Code, w.Body)
	}
	if w := post("/passkeys", url.Values{"op": {"remove"}, "id": {id[1]}}, mfaCookies...); w.Code != http.StatusConflict {
		t.Errorf("remove twice: %d", w.Code)
	}

	// A password login of a user with passkeys only: the second step offers the
	// passkey and no code field.
	k2 := newSoftKey(t, "auth.example.com", "http://auth.example.com")
	e.registerPasskey(TokenPair{AccessToken: pk.access.Value}, k2, "Key")
	fs := e.signInForm("/login?rd=" + url.QueryEscape(rd))
	w = e.page(fs.submit("p@example.com", "p-password"))
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `id="passkey-mfa"`) || strings.Contains(body, `id="code"`) {
		t.Fatalf("second step for a passkey user: %d %s", w.Code, body)
	}
	tok := mfaTokenInput.FindStringSubmatch(body)
	w = post("/login/passkey", url.Values{"op": {"begin"}, "rd": {rd}, "mfa_token": {tok[1]}}, csrfOnly)
	opts = optionsScript.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || opts == nil {
		t.Fatalf("second-step ceremony: %d %s", w.Code, w.Body)
	}
	w = post("/login/passkey", url.Values{"op": {"finish"}, "rd": {rd}, "mfa_token": {tok[1]}, "response": {string(k2.assert([]byte(opts[1])))}}, csrfOnly)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("second step: %d %s", w.Code, w.Body)
	}
	if got := e.amr(sessionOf(t, w, e.svc.cfg.CookieName).access.Value); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("amr %v, want [pwd hwk mfa]", got)
	}
}

// TestPasskeysOffForIPIssuer: an issuer URL on an IP address has no passkeys (no
// RP ID): no link, no button, 404 page.
func TestPasskeysOffForIPIssuer(t *testing.T) {
	e := newEnv(t, sqliteStore(t), func(c *Config, _ *Deps) { c.IssuerURL = "http://127.0.0.1:8080" })
	e.addUser("ip@example.com", "ip-password")
	sess := e.signIn("ip@example.com", "ip-password", "/")
	if w := e.page(pageReq{method: "GET", target: "/login"}); strings.Contains(w.Body.String(), `id="passkey-signin"`) {
		t.Errorf("sign-in page offers passkeys: %s", w.Body)
	}
	if w := e.page(pageReq{method: "GET", target: "/passkeys", cookies: []*http.Cookie{sess.access}}); w.Code != http.StatusNotFound {
		t.Errorf("/passkeys: %d", w.Code)
	}
	if _, err := e.svc.BeginPasskeyLogin(t.Context(), pkIP); err != ErrPasskeysOff {
		t.Errorf("BeginPasskeyLogin = %v, want ErrPasskeysOff", err)
	}
}
