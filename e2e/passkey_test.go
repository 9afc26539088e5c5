package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestBrowserPasskey is passkeys end to end in a real headless Chromium through nginx
// with its sample config, the authenticator being Chromium's virtual one (DevTools
// WebAuthn domain: CTAP2, internal transport, resident keys, user verification).
// The issuer's public URL is http://localhost:P (an RP ID cannot be an IP address).
// Sign in with the password; add a passkey on the /passkeys page (linked from the
// account page; its screenshot is saved in $VEXEN_ARTIFACTS as passkeys.png,
// docs/passkeys.png is a copy); the password session steps up with the passkey on
// the route whose policy requires mfa (pwd,hwk,mfa); sign out; sign in with the passkey alone (user
// verified): the upstream sees X-Auth-AMR hwk,mfa and a route whose policy requires
// mfa opens at once. A second passkey goes to an authenticator without user
// verification (isUserVerified false); the password then signs in only with a
// passkey as the second step (pwd,hwk,mfa). Chromium refuses a passkey alone from
// such an authenticator, so "user present only is not mfa" is proved by the API
// tests (TestPasskeys/*/NotVerifiedIsNotMFA).
func TestBrowserPasskey(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, policy, "default: authenticated\nrules:\n  - name: secure\n    paths: [\"/app/secure/**\"]\n    action: authenticated\n    mfa: true\n")
	s := newStackAt(t, "localhost", "localhost", nil, nil, "--policy", policy)
	base := startNginx(t, testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)"), s, nil)
	base = strings.Replace(base, "127.0.0.1", "localhost", 1) // the cookies' host is the issuer's
	b := newBrowser(t, chromium)
	b.webauthnOn()
	authID := b.addAuthenticator(true, true)
	page := base + "/app/page?tab=passkey"
	secure := base + "/app/secure/report"
	amr := func() string {
		t.Helper()
		return upstreamPage(t, b).Header.Get("X-Auth-AMR")
	}

	// 1. Password (no factor yet).
	status, loc := b.navigate(page)
	onSignInForm(t, b, s, status, loc, page)
	if got := b.eval("passkey button", `String(document.querySelector('#passkey-signin') !== null)`); got != "true" {
		t.Fatal("the sign-in page offers no passkey")
	}
	b.do("password", chromedp.SendKeys(chromedp.CSS("#email"), adminUser.email), chromedp.SendKeys(chromedp.CSS("#password"), adminUser.password))
	if status, loc := b.submit("sign in"); status != http.StatusOK || loc != page {
		t.Fatalf("sign in: %d at %s", status, loc)
	}

	// 2. Add a passkey from the account page's link.
	if status, _ := b.navigate(s.issuerURL + "/"); status != http.StatusOK {
		t.Fatalf("account page: %d", status)
	}
	if href := b.eval("passkeys link", `document.querySelector('#passkeys-link').getAttribute('href')`); href != "/passkeys" {
		t.Fatalf("account page links %q, want /passkeys", href)
	}
	if status, _ := b.navigate(s.issuerURL + "/passkeys"); status != http.StatusOK {
		t.Fatalf("/passkeys: %d", status)
	}
	b.do("name", chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Laptop"))
	if status, _ := b.click("add", "#passkey-add"); status != http.StatusOK {
		t.Fatalf("add: %d", status)
	}
	if status, loc := b.ceremony("create"); status != http.StatusOK || loc != s.issuerURL+"/passkeys" {
		t.Fatalf("create: %d at %s", status, loc)
	}
	if got := b.eval("notice", `(document.querySelector('#passkeys-notice') || {textContent: ""}).textContent`); got != "Passkey “Laptop” added." {
		t.Fatalf("notice %q", got)
	}
	if got := b.eval("list", `Array.from(document.querySelectorAll('#passkey-list .passkey-name')).map(e => e.textContent).join(',')`); got != "Laptop" {
		t.Fatalf("passkeys listed: %q", got)
	}
	creds, err := callTab(b, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator credentials %+v, %v; want one discoverable credential for localhost", creds, err)
	}
	png := run(b, "screenshot", chromedp.FullScreenshot(100))
	shot := filepath.Join(artifacts, "passkeys.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("passkeys page screenshot: %s (%d bytes)", shot, len(png))

	// Step-up: the password session lacks mfa; the route requiring it sends the
	// browser to the step-up page, which offers the passkey only (no TOTP).
	status, loc = b.navigate(secure)
	if status != http.StatusOK || !strings.HasPrefix(loc, s.loginURL+"?") || !strings.Contains(loc, "mfa=1") {
		t.Fatalf("route requiring mfa: %d at %s, want the step-up page", status, loc)
	}
	if got := b.eval("code form", `String(document.querySelector('#code') === null)`); got != "true" {
		t.Fatal("the step-up page asks for a code from a user who has passkeys only")
	}
	if status, _ := b.click("step-up passkey", "#passkey-mfa"); status != http.StatusOK {
		t.Fatalf("step-up passkey page: %d", status)
	}
	if status, loc := b.ceremony("get"); status != http.StatusOK || loc != secure {
		t.Fatalf("step-up: %d at %s, want 200 at %s", status, loc, secure)
	}
	if got := amr(); got != "pwd,hwk,mfa" {
		t.Fatalf("X-Auth-AMR %q after the step-up, want pwd,hwk,mfa", got)
	}

	// 3. Sign out; the passkey alone, user verified: mfa.
	signOutByLink(t, b, s, page)
	if status, _ := b.click("passkey sign-in", "#passkey-signin"); status != http.StatusOK {
		t.Fatalf("passkey sign-in page: %d", status)
	}
	if status, loc := b.ceremony("get"); status != http.StatusOK || loc != page {
		t.Fatalf("passkey sign-in: %d at %s, want 200 at %s", status, loc, page)
	}
	if got := amr(); got != "hwk,mfa" {
		t.Fatalf("X-Auth-AMR %q after a verified passkey, want hwk,mfa", got)
	}
	if status, loc := b.navigate(secure); status != http.StatusOK || loc != secure {
		t.Fatalf("route requiring mfa: %d at %s", status, loc)
	}
	if got := amr(); got != "hwk,mfa" {
		t.Fatalf("X-Auth-AMR %q on the mfa route", got)
	}

	// 4. A second passkey, in an authenticator without user verification
	// (isUserVerified false; one that has it but fails refuses the ceremony, as user
	// verification is preferred); the first authenticator goes away. Its sign-in is
	// user presence only, so not mfa; step-up with the passkey as the second factor.
	if _, err := callTab(b, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authID}); err != nil {
		t.Fatal(err)
	}
	presentOnly := b.addAuthenticator(false, false)
	b.navigate(s.issuerURL + "/passkeys")
	b.do("name", chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Security key"))
	b.click("add", "#passkey-add")
	if status, _ := b.ceremony("create"); status != http.StatusOK {
		t.Fatalf("second passkey: %d", status)
	}
	if got := b.eval("list", `Array.from(document.querySelectorAll('#passkey-list .passkey-name')).map(e => e.textContent).join(',')`); got != "Laptop,Security key" {
		t.Fatalf("passkeys listed: %q", got)
	}
	if creds, err := callTab(b, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: presentOnly}); err != nil || len(creds.Credentials) != 1 {
		t.Fatalf("second authenticator: %+v, %v", creds, err)
	}
	// Chromium does not offer a passkey alone from an authenticator that cannot
	// verify the user (the ceremony ends in NotAllowedError): that case, hwk without
	// mfa, is proved by the API tests (TestPasskeys/*/NotVerifiedIsNotMFA). Here the
	// user-present-only passkey is the second factor after the password, where the
	// browser names the credentials.
	// 5. The password now needs a passkey as its second step: the one without user
	// verification (UV flag 0) is enough after a password.
	signOutByLink(t, b, s, page)
	b.do("password", chromedp.SendKeys(chromedp.CSS("#email"), adminUser.email), chromedp.SendKeys(chromedp.CSS("#password"), adminUser.password))
	if status, loc := b.submit("password step"); status != http.StatusOK || !strings.HasPrefix(loc, s.loginURL) {
		t.Fatalf("password step: %d at %s, want the second step", status, loc)
	}
	b.click("second step passkey", "#passkey-mfa")
	if status, loc := b.ceremony("get"); status != http.StatusOK || loc != page {
		t.Fatalf("second step: %d at %s", status, loc)
	}
	if got := amr(); got != "pwd,hwk,mfa" {
		t.Fatalf("X-Auth-AMR %q after password and passkey, want pwd,hwk,mfa", got)
	}
}

// webauthnOn turns on the DevTools WebAuthn domain for the tab: navigator.credentials
// then talks to virtual authenticators only.
func (b *browser) webauthnOn() {
	b.t.Helper()
	if _, err := callTab(b, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
}

// addAuthenticator adds a virtual CTAP2 platform authenticator (internal transport)
// with resident keys; canVerify: it has user verification, which succeeds (one
// without is CTAP 2.0).
func (b *browser) addAuthenticator(canVerify, verified bool) webauthn.AuthenticatorID {
	b.t.Helper()
	version := webauthn.Ctap2versionCtap21
	if !canVerify {
		version = webauthn.Ctap2versionCtap20
	}
	res, err := callTab(b, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: version,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: canVerify,
		IsUserVerified: verified, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

func callTab[P, R any](b *browser, cmd cdp.Command[P, R], params P) (R, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Call(ctx, cmd, params)
}

// ceremony runs the passkey ceremony page (its button starts
// navigator.credentials.create or .get with the virtual authenticator; the script
// posts the answer) and returns the page the answer leads to.
func (b *browser) ceremony(mode string) (int64, string) {
	b.t.Helper()
	if got := b.eval("ceremony mode", `(document.querySelector('#passkey-form') || {getAttribute: () => ""}).getAttribute('data-mode')`); got != mode {
		b.t.Fatalf("ceremony page in mode %q, want %q (page: %s)", got, mode, b.eval("page", `document.body.innerText`))
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#passkey-go"), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("passkey %s: %v (page says %q)", mode, err, b.eval("status", `document.querySelector('#passkey-status').textContent`))
	}
	return resp.Status, run(b, "location", chromedp.Location())
}
