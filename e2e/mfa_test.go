package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestBrowserTOTP is the second factor end to end in a real headless Chromium
// through nginx with its sample config: sign in with a password; enrol an
// authenticator on the issuer's /mfa page (the key read from the page, the code
// computed from it) and see the ten recovery codes once; open a page whose policy
// rule requires mfa, where the sign-in page asks for the code alone (step-up) and
// the upstream then sees X-Auth-AMR pwd,otp,mfa; sign out; sign in with the password,
// where the enrolment code again is refused (a replay) and the next step's code lands
// on the original page; sign out; sign in with a recovery code, which a second time
// is refused. The enrolment page's screenshot is saved in $VEXEN_ARTIFACTS as
// mfa-enrol.png (docs/mfa-enrol.png is a copy).
func TestBrowserTOTP(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, policy, "default: authenticated\nrules:\n  - name: secure\n    paths: [\"/app/secure/**\"]\n    action: authenticated\n    mfa: true\n")
	s := newStack(t, "127.0.0.1", "--policy", policy)
	base := startNginx(t, testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)"), s, nil)
	b := newBrowser(t, chromium)
	page := base + "/app/page?tab=mfa"

	signIn := func(what string) {
		t.Helper()
		status, loc := b.navigate(page)
		onSignInForm(t, b, s, status, loc, page)
		b.do(what, chromedp.SendKeys(chromedp.CSS("#email"), adminUser.email), chromedp.SendKeys(chromedp.CSS("#password"), adminUser.password))
	}
	text := func(sel string) string {
		t.Helper()
		return b.eval(sel, `(document.querySelector('`+sel+`') || {textContent: ""}).textContent`)
	}

	// 1. Password only (no factor yet): straight to the page, amr pwd.
	signIn("password")
	if status, loc := b.submit("sign in"); status != http.StatusOK || loc != page {
		t.Fatalf("sign in: %d at %s", status, loc)
	}
	if got := upstreamPage(t, b).Header.Get("X-Auth-AMR"); got != "pwd" {
		t.Fatalf("X-Auth-AMR %q after a password, want pwd", got)
	}

	// 2. Enrol on the /mfa page (linked from the account page).
	if status, _ := b.navigate(s.issuerURL + "/"); status != http.StatusOK {
		t.Fatalf("account page: %d", status)
	}
	if href := b.eval("mfa link", `document.querySelector('#mfa-link').getAttribute('href')`); href != "/mfa" {
		t.Fatalf("account page links %q, want /mfa", href)
	}
	if status, _ := b.navigate(s.issuerURL + "/mfa"); status != http.StatusOK {
		t.Fatalf("/mfa: %d", status)
	}
	if got := text("#mfa-state"); !strings.Contains(got, "off") {
		t.Fatalf("mfa state %q, want off", got)
	}
	if status, _ := b.submit("set up"); status != http.StatusOK {
		t.Fatalf("enrol: %d", status)
	}
	secret := text("#totp-secret")
	if len(secret) != 32 {
		t.Fatalf("key on the page %q, want 32 base32 characters", secret)
	}
	// The QR code image loaded (the CSP allows data: images only).
	if w := b.eval("qr", `String(document.querySelector('#totp-qr').naturalWidth)`); w == "0" || w == "" {
		t.Fatalf("QR code not rendered (naturalWidth %s)", w)
	}
	png := run(b, "screenshot", chromedp.FullScreenshot(100)) // the whole page, as PNG
	shot := filepath.Join(artifacts, "mfa-enrol.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("enrolment page screenshot: %s (%d bytes)", shot, len(png))

	code := totpCode(t, secret, time.Now())
	b.do("type the code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	if status, _ := b.submit("turn on"); status != http.StatusOK {
		t.Fatalf("confirm: %d", status)
	}
	recovery := strings.Fields(b.eval("recovery codes", `Array.from(document.querySelectorAll('#recovery-codes code')).map(e => e.textContent).join(' ')`))
	if len(recovery) != 10 {
		t.Fatalf("recovery codes shown: %q, want 10", recovery)
	}
	// Shown once: the page again shows the state, not the codes.
	b.navigate(s.issuerURL + "/mfa")
	if got := text("#recovery-codes"); got != "" || !strings.Contains(text("#mfa-state"), "10 recovery codes left") {
		t.Fatalf("second visit: codes %q, state %q", got, text("#mfa-state"))
	}

	// Step-up: a rule requires mfa; the password session is sent to the sign-in page,
	// which asks only for the code, and comes back with mfa.
	secure := base + "/app/secure/report"
	status, loc := b.navigate(secure)
	if status != http.StatusOK || !strings.HasPrefix(loc, s.loginURL+"?") || !strings.Contains(loc, "mfa=1") {
		t.Fatalf("page requiring mfa: %d at %s, want the sign-in page with mfa=1", status, loc)
	}
	b.do("step-up form", chromedp.WaitVisible(chromedp.CSS("#code")))
	if got := b.eval("no password field", `String(document.querySelector('#password') === null)`); got != "true" {
		t.Fatal("the step-up form asks for the password")
	}
	stepCode := waitNextStep(t, code, secret)
	b.do("step-up code", chromedp.SendKeys(chromedp.CSS("#code"), stepCode))
	if status, loc := b.submit("step-up"); status != http.StatusOK || loc != secure {
		t.Fatalf("step-up: %d at %s, want 200 at %s", status, loc, secure)
	}
	if got := upstreamPage(t, b).Header.Get("X-Auth-AMR"); got != "pwd,otp,mfa" {
		t.Fatalf("X-Auth-AMR %q after step-up", got)
	}

	// 3. Sign out; password, then the code form. The code used to enrol is refused.
	signOutByLink(t, b, s, page)
	signIn("password again")
	if status, loc := b.submit("password step"); status != http.StatusOK || !strings.HasPrefix(loc, s.loginURL) {
		t.Fatalf("password step: %d at %s, want the code form", status, loc)
	}
	b.do("code form", chromedp.WaitVisible(chromedp.CSS("#code")))
	b.do("replayed code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	if status, _ := b.submit("replayed code"); status != http.StatusUnauthorized {
		t.Fatalf("replayed code: status %d, want 401", status)
	}
	if got := text(`[role="alert"]`); got != "The code is incorrect or was already used." {
		t.Fatalf("alert %q", got)
	}
	// The next time step's code.
	next := waitNextStep(t, stepCode, secret)
	b.do("fresh code", chromedp.SendKeys(chromedp.CSS("#code"), next))
	if status, loc := b.submit("fresh code"); status != http.StatusOK || loc != page {
		t.Fatalf("fresh code: %d at %s, want 200 at %s", status, loc, page)
	}
	if got := upstreamPage(t, b).Header.Get("X-Auth-AMR"); got != "pwd,otp,mfa" {
		t.Fatalf("X-Auth-AMR %q, want pwd,otp,mfa", got)
	}

	// 4. Sign out; password and a recovery code.
	signOutByLink(t, b, s, page)
	signIn("password, recovery")
	b.submit("password step")
	b.do("recovery code", chromedp.WaitVisible(chromedp.CSS("#code")), chromedp.SendKeys(chromedp.CSS("#code"), recovery[0]))
	if status, loc := b.submit("recovery code"); status != http.StatusOK || loc != page {
		t.Fatalf("recovery code: %d at %s", status, loc)
	}
	if got := upstreamPage(t, b).Header.Get("X-Auth-AMR"); got != "pwd,otp,mfa" {
		t.Fatalf("X-Auth-AMR %q after a recovery code", got)
	}
	// The same recovery code a second time is refused.
	signOutByLink(t, b, s, page)
	signIn("password, used recovery code")
	b.submit("password step")
	b.do("used recovery code", chromedp.WaitVisible(chromedp.CSS("#code")), chromedp.SendKeys(chromedp.CSS("#code"), recovery[0]))
	if status, _ := b.submit("used recovery code"); status != http.StatusUnauthorized {
		t.Fatalf("used recovery code: status %d, want 401", status)
	}
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitNextStep waits until the TOTP code differs from used (the next 30-second
// step) and returns it.
func waitNextStep(t *testing.T, used, secret string) string {
	t.Helper()
	deadline := time.Now().Add(65 * time.Second)
	for time.Now().Before(deadline) {
		if c := totpCode(t, secret, time.Now()); c != used {
			return c
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal("no new TOTP step within 65s")
	return ""
}
