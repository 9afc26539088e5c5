package verify

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// TestHandlerPolicy: what the HTTP endpoint writes for each policy decision, with
// the location's tightening read from /auth?roles=…&mfa=1.
func TestHandlerPolicy(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) {
		c.Policy = parsePolicy(t, verifytest.Policy)
		c.LoginURL = "https://auth.example.com/login"
		c.AllowedRedirectHosts = []string{"app.example.com"}
	}))
	dev := f.token("s-dev", "u-dev", "dev", "ops")
	f.sessions.Add("s-pwd", "u-pwd", f.clock.Now().Add(time.Hour))
	pwd := f.mint.Mint(t, verifytest.Claims{Subject: "u-pwd", SessionID: "s-pwd", Extra: map[string]any{"amr": []string{"pwd"}}})
	fwd := func(uri string, extra ...string) []string {
		return append([]string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", uri}, extra...)
	}
	nav := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate"}
	for _, tc := range []struct {
		name      string
		target    string
		hdr       []string
		status    int
		challenge string
		location  string
		user      string // X-Auth-User; "" = must be absent
	}{
		{"public, anonymous: no identity headers", "/auth", fwd("/healthz", "X-Auth-User", "forged"), 200, "", "", ""},
		{"public with a token: identity", "/auth", fwd("/healthz", "Authorization", "Bearer "+dev), 200, "", "", "u-dev"},
		{"public, bad token: 200, no identity", "/auth", fwd("/healthz", "Authorization", "Bearer x.y.z"), 200, "", "", ""},
		{"location roles: any of", "/auth?roles=root,ops", fwd("/x", "Authorization", "Bearer "+dev), 200, "", "", "u-dev"},
		{"location roles, escaped", "/auth?roles=root%2Cops", fwd("/x", "Authorization", "Bearer "+dev), 200, "", "", "u-dev"},
		{"location roles missing", "/auth?roles=root", fwd("/x", "Authorization", "Bearer "+dev), 403, "", "", ""},
		{"location roles given twice: fails closed", "/auth?roles=ops&roles=ops", fwd("/x", "Authorization", "Bearer "+dev), 403, "", "", ""},
		{"location tightens a public rule", "/auth?roles=root", fwd("/healthz"), 401, `Bearer realm="vexen"`, "", ""},
		{"location mfa", "/auth?mfa=1", fwd("/x", "Authorization", "Bearer "+pwd), 401, ChallengeMFA, "", ""},
		{"location mfa=true", "/auth?mfa=true", fwd("/x", "Authorization", "Bearer "+pwd), 401, ChallengeMFA, "", ""},
		{"rule mfa", "/auth", fwd("/billing/1", "Authorization", "Bearer "+pwd), 401, ChallengeMFA, "", ""},
		{"rule mfa, browser: login asks for the factor", "/auth?mode=browser", fwd("/billing/1", append([]string{"Cookie", "vexen_access=" + pwd}, nav...)...), 302, "", "https://auth.example.com/login?mfa=1&rd=" + url.QueryEscape("https://app.example.com/billing/1"), ""},
		{"deny", "/auth", fwd("/internal/x", "Authorization", "Bearer "+dev), 403, "", "", ""},
		{"ambiguous path", "/auth", fwd("/internal%2fx"), 400, "", "", ""},
		{"envoy path suffix: its query is not tightening", "/auth/x?roles=root", []string{"Authorization", "Bearer " + dev}, 200, "", "", "u-dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest(tc.target, tc.hdr...)
			r.Host = "app.example.com"
			w := serve(f.v.Handler(), r)
			if w.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", w.status, tc.status, w.body)
			}
			if got := w.h.Get("Www-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if got := w.h.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if got, ok := w.h["X-Auth-User"]; tc.user == "" && ok || tc.user != "" && (len(got) != 1 || got[0] != tc.user) {
				t.Errorf("X-Auth-User %q, want %q", got, tc.user)
			}
			if tc.status == 200 && tc.user == "" {
				for _, k := range []string{"X-Auth-Email", "X-Auth-Roles", "X-Auth-Session", "X-Auth-Amr"} {
					if _, ok := w.h[k]; ok {
						t.Errorf("%s sent for an anonymous request", k)
					}
				}
			}
			if tc.status == http.StatusBadRequest && string(w.body) != "bad request\n" {
				t.Errorf("body %q", w.body)
			}
		})
	}
}

// TestHTTPAMRHeader: X-Auth-AMR carries the token's amr, comma-separated, and is
// absent for a token without one; the cached path sends the same.
func TestHTTPAMRHeader(t *testing.T) {
	f := newFixture(t)
	f.sessions.Add("s-mfa", "u-mfa", f.clock.Now().Add(time.Hour))
	mfa := f.mint.Mint(t, verifytest.Claims{Subject: "u-mfa", SessionID: "s-mfa", Extra: map[string]any{"amr": []string{"pwd", "otp", "mfa"}}})
	plain := f.token("s-plain", "u-plain")
	for range 2 { // the second round answers from the cache
		w := serve(f.v.Handler(), authRequest("/auth", "Authorization", "Bearer "+mfa))
		if w.status != 200 || len(w.h["X-Auth-Amr"]) != 1 || w.h.Get("X-Auth-AMR") != "pwd,otp,mfa" {
			t.Fatalf("status %d, X-Auth-AMR %q", w.status, w.h["X-Auth-Amr"])
		}
		w = serve(f.v.Handler(), authRequest("/auth", "Authorization", "Bearer "+plain))
		if _, ok := w.h["X-Auth-Amr"]; w.status != 200 || ok {
			t.Fatalf("status %d, X-Auth-AMR %q for a token without amr", w.status, w.h["X-Auth-Amr"])
		}
	}
}
