package e2e

import (
	"net/http"
	"testing"
)

// checkMethod proves the verifier judged a POST as a POST. The verifier sends only
// GET and HEAD page navigations to the login page; a form POST without a session
// gets 401. So a POST that looks like a browser navigation in every other way,
// with X-Forwarded-Method and X-Original-Method forged to GET, must get 401 on a
// page route: a proxy that let the verifier see GET (its own auth request's
// method, or a method header the client sent) would produce the redirect instead.
func checkMethod(t *testing.T, s *stack, p target, page string, admin tokenPair) {
	forgedGET := func(h http.Header) http.Header {
		return with(h, "X-Forwarded-Method", "GET", "X-Original-Method", "GET",
			"X-Http-Method-Override", "GET", "Content-Type", "application/x-www-form-urlencoded")
	}
	before := s.echo.Hits()

	t.Run("control: the same GET is sent to the login page", func(t *testing.T) {
		checkLoginRedirect(t, send(t, http.MethodGet, page, forgedGET(browserNav), ""), s.loginURL, page)
	})
	t.Run("POST without a session gets 401, not the login redirect", func(t *testing.T) {
		check401(t, send(t, http.MethodPost, page, forgedGET(browserNav), "a=1&b=2"), false)
	})
	t.Run("POST with an expired cookie gets 401", func(t *testing.T) {
		h := with(forgedGET(browserNav), "Cookie", "vexen_access="+s.expiredCopy(t, admin.AccessToken))
		check401(t, send(t, http.MethodPost, page, h, "a=1&b=2"), true)
	})
	if n := s.echo.Hits() - before; n != 0 {
		t.Errorf("the upstream got %d request(s) the proxy should have refused", n)
	}

	t.Run("POST with a valid token reaches the upstream as a POST, with its body", func(t *testing.T) {
		seen := upstreamSaw(t, send(t, http.MethodPost, page, forgedGET(bearer(admin.AccessToken)), "a=1&b=2"))
		if seen.Method != http.MethodPost || seen.BodyBytes != 7 {
			t.Errorf("upstream saw %s with %d body bytes, want POST with 7", seen.Method, seen.BodyBytes)
		}
		checkIdentity(t, seen, decodeClaims(t, admin.AccessToken))
	})
}
