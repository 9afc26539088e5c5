package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestBrowserPasswordChange: in a real headless Chromium, a user signs in on the
// issuer's form, opens the account page and changes the password there. A wrong
// current password is refused on the page (401, an alert); the right one answers the
// page with a confirmation, keeps this browser signed in, and ends the user's other
// session on the verifier. A screenshot of the account page is saved in
// $VEXEN_ARTIFACTS as account-password.png.
func TestBrowserPasswordChange(t *testing.T) {
	testenv.Integration(t)
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	s := newStack(t, "127.0.0.1")
	b := newBrowser(t, chromium)
	u := plainUser
	other := s.login(t, u) // a session elsewhere (another device, a script)

	status, loc := b.navigate(s.loginURL)
	if status != http.StatusOK {
		t.Fatalf("sign-in form: %d at %s", status, loc)
	}
	b.do("type the credentials",
		chromedp.SendKeys(chromedp.CSS("#email"), u.email),
		chromedp.SendKeys(chromedp.CSS("#password"), u.password),
	)
	if status, loc = b.submit("sign in"); status != http.StatusOK || loc != s.issuerURL+"/" {
		t.Fatalf("after signing in: %d at %s, want the account page", status, loc)
	}
	for js, want := range map[string]string{
		`document.querySelector('label[for="current_password"]').textContent`:   "Current password",
		`document.querySelector('#current_password').autocomplete`:              "current-password",
		`document.querySelector('#new_password').autocomplete`:                  "new-password",
		`document.querySelector('form[action="/password"] button').textContent`: "Change password",
	} {
		if got := b.eval(js, js); got != want {
			t.Errorf("%s = %q, want %q", js, got, want)
		}
	}
	change := func(what, current, next string) (int64, string) {
		t.Helper()
		b.do("type "+what,
			chromedp.SendKeys(chromedp.CSS("#current_password"), current),
			chromedp.SendKeys(chromedp.CSS("#new_password"), next),
		)
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		defer cancel()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/password"] button[type="submit"]`), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return resp.Status, run(b, "location", chromedp.Location())
	}

	status, loc = change("a wrong current password", "not my password", "changed in chromium 1")
	if status != http.StatusUnauthorized || loc != s.issuerURL+"/password" {
		t.Fatalf("wrong current password: %d at %s, want 401", status, loc)
	}
	if got := b.eval("alert", `document.querySelector('[role="alert"]').textContent`); got != "The current password is incorrect." {
		t.Errorf("alert %q", got)
	}
	if got := s.verifierStatus(t, other.AccessToken); got != http.StatusOK {
		t.Fatalf("a refused change ended the other session (verifier %d)", got)
	}

	status, _ = change("the right current password", u.password, "changed in chromium 1")
	if status != http.StatusOK {
		t.Fatalf("password change: %d, want 200", status)
	}
	if got := b.eval("notice", `document.querySelector('[role="status"]').textContent`); got != "Your password was changed. Your other sessions were signed out." {
		t.Errorf("notice %q", got)
	}
	png := run(b, "screenshot", chromedp.CaptureScreenshot())
	shot := filepath.Join(artifacts, "account-password.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("account page screenshot: %s (%d bytes)", shot, len(png))
	s.denied(t, "the other session after the change", other.AccessToken)
	// This browser stays signed in.
	if status, loc := b.navigate(s.issuerURL + "/"); status != http.StatusOK || loc != s.issuerURL+"/" {
		t.Errorf("account page after the change: %d at %s, want it still signed in", status, loc)
	}
	u.password = "changed in chromium 1"
	s.login(t, u)
}
