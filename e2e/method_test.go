package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// checkMethod proves the verifier judged a POST as a POST. The verifier sends only
// GET and HEAD page navigations to the login page; a form POST without a session
// gets 401. So a POST that looks like a browser navigation in every other way,
// with X-Forwarded-Method and X-Original-Method forged to GET, must get 401 on a
// page route: a proxy that let the verifier see GET (its own auth request's
// method, or a method header the client sent) would produce the redirect instead.
// The verifier's debug log, which records the method of every denial, must also
// say POST for each decision about such a request (nginx asks twice on a 401).
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

	t.Run("the verifier's own record of a denied POST says POST", func(t *testing.T) {
		host := testenv.RandomName("post-") + ".example.test"
		req, err := http.NewRequest(http.MethodPost, page, strings.NewReader("a=1"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = forgedGET(apiCall)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
		methods := s.verifierSaw(t, host)
		if len(methods) == 0 {
			t.Fatalf("the verifier logged no decision for host %s", host)
		}
		for i, m := range methods {
			if m != http.MethodPost {
				t.Errorf("decision %d of %d: the verifier saw %q, want POST", i+1, len(methods), m)
			}
		}
	})

	t.Run("POST with a valid token reaches the upstream as a POST, with its body", func(t *testing.T) {
		seen := upstreamSaw(t, send(t, http.MethodPost, page, forgedGET(bearer(admin.AccessToken)), "a=1&b=2"))
		if seen.Method != http.MethodPost || seen.BodyBytes != 7 {
			t.Errorf("upstream saw %s with %d body bytes, want POST with 7", seen.Method, seen.BodyBytes)
		}
		checkIdentity(t, seen, decodeClaims(t, admin.AccessToken))
	})
}
