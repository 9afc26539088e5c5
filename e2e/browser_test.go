package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vexen/vexen-auth/internal/echo"
	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestBrowserSignIn is the whole browser round trip in a real headless Chromium,
// through the real nginx and the real Traefik with their sample configs, the real
// issuer and verifier and the echo upstream: a protected page sends the browser to
// the issuer's sign-in form; a wrong password is refused on the form; the right one
// lands on the original URL, where the upstream sees X-Auth-User; with the access
// cookie gone the browser is signed in again silently with the refresh cookie; sign
// out (nginx: the /logout link, Traefik: the button on the issuer's account page)
// revokes the session and the protected page sends the browser to the form again.
//
// A screenshot of the sign-in page is saved in $VEXEN_ARTIFACTS (default: a
// temporary directory) as login-nginx.png and login-traefik.png. The test fails,
// never skips, when Chromium is missing (except under -short).
func TestBrowserSignIn(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	for _, proxy := range []struct {
		name    string
		start   func(*testing.T, *stack) string
		signOut func(*testing.T, *browser, *stack, string)
	}{
		{"nginx", func(t *testing.T, s *stack) string {
			return startNginx(t, testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)"), s, nil)
		}, signOutByLink},
		{"traefik", func(t *testing.T, s *stack) string {
			return startTraefik(t, testenv.RequireBinary(t, "traefik", "run scripts/build-traefik.sh (installs into $VEXEN_TOOLS/bin)"), s, nil)
		}, signOutByButton},
	} {
		t.Run(proxy.name, func(t *testing.T) {
			setup := time.Now()
			s := newStack(t, "127.0.0.1")
			base := proxy.start(t, s)
			b := newBrowser(t, chromium)
			t.Logf("stack, %s and Chromium up in %v", proxy.name, time.Since(setup).Round(time.Millisecond))
			roundTrip(t, b, s, base, filepath.Join(artifacts, "login-"+proxy.name+".png"), proxy.signOut)
		})
	}
}

// chromiumPath is $VEXEN_CHROMIUM, else Debian's /usr/bin/chromium, else chromium
// on PATH; missing, the test fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VEXEN_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return testenv.RequireBinary(t, "chromium", "run scripts/install-deps.sh (Debian's chromium)")
}

// browser is one headless Chromium with a fresh profile; it is stopped when the
// test ends.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// artifactsDir is where browser tests save their screenshots: $VEXEN_ARTIFACTS
// (made if missing), or a temporary directory.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("VEXEN_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newBrowser(t *testing.T, execPath string) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "vexen-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(720, 640),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// Chromium's helpers can write into the profile for a moment after the
		// browser stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return &browser{t: t, ctx: ctx}
}

// stepTimeout bounds each browser step; the browser itself lives as long as the test.
const stepTimeout = 30 * time.Second

// run runs one action with a step timeout, failing the test on error.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, what, chromedp.Steps(steps...))
}

// navigate opens u and returns the status of the document the browser ends on
// (after every redirect) and its URL.
func (b *browser) navigate(u string) (int64, string) {
	b.t.Helper()
	resp := run(b, "navigate to "+u, chromedp.NavigateResponse(u))
	return resp.Status, run(b, "location", chromedp.Location())
}

// submit clicks the form's submit button and waits for the page it leads to.
func (b *browser) submit(what string) (int64, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status, run(b, "location", chromedp.Location())
}

func (b *browser) eval(what, js string) string {
	b.t.Helper()
	return run(b, what, chromedp.Evaluate[string](js))
}

// cookies are the browser's cookies for the issuer's pages and the proxied app.
func (b *browser) cookies(s *stack, base string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{
		URLs: []string{s.issuerURL + "/login", s.issuerURL + "/logout", s.issuerURL + "/", base + "/app/page"},
	})
	if err != nil {
		b.t.Fatalf("get cookies: %v", err)
	}
	return res.Cookies
}

func findCookies(cs []*network.Cookie, name string) []*network.Cookie {
	var out []*network.Cookie
	for _, c := range cs {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// onSignInForm asserts the browser shows the issuer's sign-in form with rd as its
// return address.
func onSignInForm(t *testing.T, b *browser, s *stack, status int64, loc, rd string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != s.loginURL {
		t.Fatalf("browser at %s, want the sign-in page %s", loc, s.loginURL)
	}
	if got := u.Query().Get("rd"); got != rd {
		t.Fatalf("sign-in page rd = %q, want %q", got, rd)
	}
	if status != http.StatusOK {
		t.Fatalf("sign-in page status %d", status)
	}
	b.do("sign-in form visible", chromedp.WaitVisible(chromedp.CSS("#email")), chromedp.WaitVisible(chromedp.CSS("#password")))
	if got := b.eval("hidden rd", `document.querySelector('input[name="rd"]').value`); got != rd {
		t.Fatalf("the form carries rd %q, want %q", got, rd)
	}
}

// upstreamPage decodes the echo upstream's answer the browser shows (Chromium
// renders JSON as text in a <pre>).
func upstreamPage(t *testing.T, b *browser) echo.Request {
	t.Helper()
	text := b.eval("page text", `(document.querySelector('pre') || document.body).textContent`)
	seen, err := echo.Decode(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the page is not the echo upstream's answer (%v): %.300s", err, text)
	}
	return seen
}

func roundTrip(t *testing.T, b *browser, s *stack, base, screenshot string, signOut func(*testing.T, *browser, *stack, string)) {
	total := time.Now()
	step := time.Now()
	lap := func(what string) {
		t.Logf("%-44s %6v", what, time.Since(step).Round(time.Millisecond))
		step = time.Now()
	}
	page := base + "/app/page?tab=2&sort=name"

	// 1. The protected page sends the browser to the sign-in form.
	status, loc := b.navigate(page)
	onSignInForm(t, b, s, status, loc, page)
	lap("protected page → sign-in form")

	// The page as a person and a screen reader get it: language, labels, autofill
	// hints, and the inline style applied (the CSP allows it by its hash).
	for js, want := range map[string]string{
		`document.documentElement.lang`: "en",
		`document.title`:                "Sign in · vexen-auth",
		`document.querySelector('label[for="email"]').textContent`:                         "Email address",
		`document.querySelector('label[for="password"]').textContent`:                      "Password",
		`document.querySelector('#email').autocomplete`:                                    "username",
		`document.querySelector('#password').autocomplete`:                                 "current-password",
		`document.activeElement.id`:                                                        "email",
		`getComputedStyle(document.querySelector('main')).maxWidth`:                        "384px",
		`String(document.querySelectorAll('script').length)`:                               "0",
		`document.querySelector('p.lead') && document.querySelector('p.lead').textContent`: "to continue to 127.0.0.1",
	} {
		if got := b.eval(js, js); got != want {
			t.Errorf("%s = %q, want %q", js, got, want)
		}
	}
	png := run(b, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(screenshot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("sign-in page screenshot: %s (%d bytes)", screenshot, len(png))
	lap("page checks and screenshot")

	// 2. A wrong password: the form again, 401, a generic alert, the email kept.
	b.do("type a wrong password",
		chromedp.SendKeys(chromedp.CSS("#email"), adminUser.email),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
	)
	status, loc = b.submit("submit a wrong password")
	if status != http.StatusUnauthorized || !strings.HasPrefix(loc, s.loginURL) {
		t.Fatalf("wrong password: status %d at %s, want 401 on the form", status, loc)
	}
	if got := b.eval("alert", `document.querySelector('[role="alert"]').textContent`); got != "The email address or password is incorrect." {
		t.Errorf("alert %q", got)
	}
	if got := b.eval("email kept", `document.querySelector('#email').value`); got != adminUser.email {
		t.Errorf("email field %q after a failed attempt", got)
	}
	if len(findCookies(b.cookies(s, base), accessCookie)) != 0 {
		t.Fatal("a wrong password set the access cookie")
	}
	lap("wrong password → form with an alert (401)")

	// 3. The right password: back on the original URL, the upstream sees the user.
	b.do("type the password", chromedp.SendKeys(chromedp.CSS("#password"), adminUser.password))
	status, loc = b.submit("sign in")
	if status != http.StatusOK || loc != page {
		t.Fatalf("after signing in: status %d at %s, want 200 at %s", status, loc, page)
	}
	cs := b.cookies(s, base)
	access := findCookies(cs, accessCookie)
	refresh := findCookies(cs, "vexen_refresh")
	if len(access) != 1 || len(refresh) != 2 {
		t.Fatalf("cookies after sign-in: %d access, %d refresh; want 1 and 2", len(access), len(refresh))
	}
	checkBrowserCookies(t, access[0], refresh)
	c := decodeClaims(t, access[0].Value)
	seen := upstreamPage(t, b)
	if seen.URI != "/app/page?tab=2&sort=name" {
		t.Errorf("upstream saw %s, want the original URI", seen.URI)
	}
	checkIdentity(t, seen, c)
	if c.Email != adminUser.email {
		t.Errorf("signed in as %q, want %q", c.Email, adminUser.email)
	}
	if cookie := strings.Join(seen.Header.Values("Cookie"), "; "); !strings.Contains(cookie, accessCookie+"=") || strings.Contains(cookie, "vexen_refresh") {
		t.Errorf("the upstream got cookies %q: want the access cookie and never the refresh token", cookie)
	}
	lap("right password → original page, X-Auth-User")

	// 4. The access cookie gone (as when it expires): the trip through the
	// sign-in page refreshes silently, without the form.
	b.do("drop the access cookie", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: accessCookie, URL: base + "/"})
		return err
	}))
	if len(findCookies(b.cookies(s, base), accessCookie)) != 0 {
		t.Fatal("the access cookie is still there")
	}
	status, loc = b.navigate(page)
	if status != http.StatusOK || loc != page {
		t.Fatalf("silent refresh: status %d at %s, want 200 at %s", status, loc, page)
	}
	cs = b.cookies(s, base)
	access2 := findCookies(cs, accessCookie)
	refresh2 := findCookies(cs, "vexen_refresh")
	if len(access2) != 1 || len(refresh2) != 2 || access2[0].Value == access[0].Value || refresh2[0].Value == refresh[0].Value {
		t.Fatal("the silent refresh did not rotate the tokens")
	}
	c2 := decodeClaims(t, access2[0].Value)
	if c2.Sid != c.Sid {
		t.Errorf("silent refresh opened session %s, want the same session %s", c2.Sid, c.Sid)
	}
	checkIdentity(t, upstreamPage(t, b), c2)
	lap("access cookie gone → silent refresh → page")

	// 5. Sign out: the session is revoked, the cookies are gone, and the
	// protected page sends the browser to the form again.
	signOut(t, b, s, page)
	lap("sign out")
	cs = b.cookies(s, base)
	if n := len(findCookies(cs, accessCookie)) + len(findCookies(cs, "vexen_refresh")); n != 0 {
		t.Errorf("%d session cookies left after signing out", n)
	}
	for _, tok := range []string{access[0].Value, access2[0].Value} {
		ok := waitFor(5*time.Second, func() bool {
			return send(t, http.MethodGet, page, bearer(tok), "").status == http.StatusUnauthorized
		})
		if !ok {
			t.Errorf("an access token of the signed-out session still works through the proxy")
		}
	}
	status, loc = b.navigate(page)
	onSignInForm(t, b, s, status, loc, page)
	lap("protected page → sign-in form again")
	t.Logf("%-44s %6v", "browser round trip", time.Since(total).Round(time.Millisecond))
}

// accessCookie is the access cookie's name (the issuer's and verifier's default).
const accessCookie = "vexen_access"

// checkBrowserCookies: the attributes as the browser stored them. Everything runs
// on http://127.0.0.1, so no Secure; the access cookie is host-only (no
// --cookie-domain) and reaches the proxy on its own port, because cookies ignore
// ports; the refresh token is there twice, for /login and /logout only.
func checkBrowserCookies(t *testing.T, access *network.Cookie, refresh []*network.Cookie) {
	t.Helper()
	if !access.HTTPOnly || access.Secure || access.SameSite != network.CookieSameSiteLax || access.Path != "/" ||
		access.Domain != "127.0.0.1" || access.Session {
		t.Errorf("access cookie: %+v", *access)
	}
	if left := time.Until(time.Unix(int64(access.Expires), 0)); left < 14*time.Minute || left > 15*time.Minute+time.Second {
		t.Errorf("access cookie expires in %v, want the access TTL (15m)", left)
	}
	paths := map[string]bool{}
	for _, r := range refresh {
		if !r.HTTPOnly || r.Secure || r.SameSite != network.CookieSameSiteLax || r.Domain != "127.0.0.1" || r.Session {
			t.Errorf("refresh cookie: %+v", *r)
		}
		paths[r.Path] = true
	}
	if !paths["/login"] || !paths["/logout"] || refresh[0].Value != refresh[1].Value {
		t.Errorf("refresh cookies for paths %v; want /login and /logout with one token", paths)
	}
}

// signOutByLink follows the issuer's /logout link with the protected page as the
// return address, which sends the browser on to the sign-in form.
func signOutByLink(t *testing.T, b *browser, s *stack, page string) {
	t.Helper()
	status, loc := b.navigate(s.issuerURL + "/logout?rd=" + url.QueryEscape(page))
	onSignInForm(t, b, s, status, loc, page)
}

// signOutByButton signs out with the button on the issuer's account page (a POST
// with the CSRF token), which lands on the sign-in form for that page.
func signOutByButton(t *testing.T, b *browser, s *stack, page string) {
	t.Helper()
	status, loc := b.navigate(s.issuerURL + "/")
	if status != http.StatusOK || loc != s.issuerURL+"/" {
		t.Fatalf("account page: status %d at %s", status, loc)
	}
	if got := b.eval("account page", `document.querySelector('main p.lead').textContent`); got != "You are signed in as "+adminUser.email+"." {
		t.Fatalf("account page says %q", got)
	}
	status, loc = b.submit("sign out")
	onSignInForm(t, b, s, status, loc, "/")
}
