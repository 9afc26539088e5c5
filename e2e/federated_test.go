package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestBrowserFederatedSignIn is federated sign-in end to end in a real headless
// Chromium through nginx with its sample config, with a real OpenID provider (ORY
// Hydra; the test is its login and consent app): the protected page sends the
// browser to the sign-in page, whose provider button leads to Hydra and back to the
// page, where the upstream sees X-Auth-User of the federated user with the roles
// mapped from the provider's groups claim. Then the provider ends the session
// (the browser signs out at Hydra, which sends a back-channel logout token to the
// issuer): the session's access token is refused by the verifier, directly and
// through nginx, and the browser is sent to the sign-in page again (its refresh
// token refused too).
func TestBrowserFederatedSignIn(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	chromium := chromiumPath(t)
	hydra := testenv.StartHydra(t)
	hydra.SetUser(testenv.HydraUser{Subject: "fed-carol", Email: "carol@corp.example", EmailVerified: true,
		Groups: []string{"admins", "unmapped"}})

	s := newStackWith(t, "127.0.0.1", nil, func(issuerURL string) []string {
		pre := issuerURL + "/oidc/corp"
		c := hydra.CreateClient(t, pre+"/callback", pre+"/backchannel-logout", pre+"/logged-out")
		file := filepath.Join(t.TempDir(), "providers.yaml")
		yaml := "providers:\n" +
			"  - id: corp\n" +
			"    name: Corporate SSO\n" +
			"    issuer: " + hydra.Issuer + "\n" +
			"    client_id: " + c.ID + "\n" +
			"    client_secret: " + c.Secret + "\n" +
			"    roles_claim: groups\n" +
			"    roles: {admins: admin}\n" +
			"    default_roles: [user]\n" +
			"    create_users: true\n"
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--providers", file}
	})
	base := startNginx(t, testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)"), s, nil)
	b := newBrowser(t, chromium)
	page := base + "/app/page?tab=fed"

	// 1. Protected page -> sign-in page, with the provider's button.
	status, loc := b.navigate(page)
	onSignInForm(t, b, s, status, loc, page)
	if got := b.eval("button", `(document.querySelector('a.provider') || {textContent: ""}).textContent`); got != "Sign in with Corporate SSO" {
		t.Fatalf("provider button %q", got)
	}
	href := b.eval("button href", `document.querySelector('a.provider').getAttribute('href')`)
	if !strings.HasPrefix(href, "/oidc/corp/start?") {
		t.Fatalf("provider button links %q", href)
	}

	// 2. The button -> Hydra (its login and consent app accepts) -> the issuer's
	// callback -> the original page.
	status, loc = b.click("provider button", `a.provider`)
	if status != http.StatusOK || loc != page {
		t.Fatalf("federated sign-in: status %d at %s, want 200 at %s", status, loc, page)
	}
	access := findCookies(b.cookies(s, base), accessCookie)
	if len(access) != 1 {
		t.Fatalf("%d access cookies after the federated sign-in, want 1", len(access))
	}
	c := decodeClaims(t, access[0].Value)
	if c.Email != "carol@corp.example" || strings.Join(c.Roles, ",") != "user,admin" || strings.Join(c.AMR, ",") != "fed" {
		t.Fatalf("access token after the federated sign-in: %+v", c)
	}
	seen := upstreamPage(t, b)
	if seen.URI != "/app/page?tab=fed" {
		t.Errorf("upstream saw %s, want the original URI", seen.URI)
	}
	checkIdentity(t, seen, c)
	for h, want := range map[string]string{
		"X-Auth-User": c.Sub, "X-Auth-Email": "carol@corp.example", "X-Auth-Roles": "user,admin", "X-Auth-AMR": "fed",
	} {
		if got := seen.Header.Get(h); got != want || got == "" {
			t.Errorf("upstream saw %s = %q, want %q", h, got, want)
		}
	}
	if ok := waitFor(time.Second, func() bool { return send(t, http.MethodGet, page, bearer(access[0].Value), "").status == http.StatusOK }); !ok {
		t.Fatal("the federated session's access token does not work through nginx")
	}

	// 3. The provider ends the session: the browser signs out at Hydra, whose
	// logout app accepts; Hydra posts a logout token to the issuer's back-channel URI.
	status, loc = b.navigate(hydra.Issuer + "oauth2/sessions/logout")
	t.Logf("signed out at the provider: %d at %s", status, loc)
	if status >= 400 || !strings.HasPrefix(loc, hydra.Issuer) {
		t.Fatalf("sign-out at the provider: %d at %s", status, loc)
	}
	if !waitFor(15*time.Second, func() bool {
		return issuerMetric(t, s, `vexen_issuer_oidc_backchannel_logouts_total{provider="corp",result="success"} 1`)
	}) {
		t.Fatal("the issuer counted no successful back-channel logout from the provider")
	}

	// 4. Every way in is closed: the verifier itself (the cookie, the bearer
	// token), nginx with the token (401), and the browser, which the protected page
	// sends to the sign-in page (its refresh token is refused too).
	verifierAuth := "http://" + s.verifierAddr + "/auth"
	for what, h := range map[string]http.Header{
		"verifier, cookie": {"Cookie": {accessCookie + "=" + access[0].Value}, "Accept": {"application/json"}},
		"verifier, bearer": bearer(access[0].Value),
	} {
		if !waitFor(5*time.Second, func() bool { return send(t, http.MethodGet, verifierAuth, h, "").status == http.StatusUnauthorized }) {
			t.Errorf("%s: the revoked session is still accepted", what)
		}
	}
	a := send(t, http.MethodGet, page, bearer(access[0].Value), "")
	check401(t, a, true)
	status, loc = b.navigate(page)
	onSignInForm(t, b, s, status, loc, page)
}

// click clicks the element sel (a link) and waits for the page it leads to,
// after every redirect.
func (b *browser) click(what, sel string) (int64, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status, run(b, "location", chromedp.Location())
}

// issuerMetric reports whether the issuer's /metrics (on its metrics listener)
// has the line.
func issuerMetric(t *testing.T, s *stack, line string) bool {
	t.Helper()
	resp, err := http.Get("http://" + s.issuerMetricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("issuer metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), "\n"+line+"\n")
}
