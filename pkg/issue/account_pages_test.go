package issue

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/audit"
)

// accountPagesEnv is a browser env over SQLite (the account pages need a store
// with the account operations).
func accountPagesEnv(t *testing.T) (*env, *testenv.Buffer) {
	t.Helper()
	buf := &testenv.Buffer{}
	e := newEnv(t, sqliteStore(t), func(c *Config, d *Deps) {
		c.IssuerURL = "http://auth.example.com"
		c.AllowedRedirectHosts = []string{"auth.example.com"}
		d.Audit = audit.New(buf)
	})
	return e, buf
}

// TestAccountPagePasswordChange: the account page's form changes the password,
// keeps this browser's session and ends the others; its failures re-render the
// page with a message and change nothing.
func TestAccountPagePasswordChange(t *testing.T) {
	e, buf := accountPagesEnv(t)
	e.addUser("mia@example.com", "mia password 1")
	other := e.login("mia@example.com", "mia password 1")
	fs := e.signInForm("/login")
	s := sessionOf(t, e.page(fs.submit("mia@example.com", "mia password 1")), "vexen_access")
	cookies := []*http.Cookie{s.access, fs.cookie}

	w := e.page(pageReq{method: "GET", target: "/", cookies: cookies})
	body := w.Body.String()
	for _, want := range []string{`<form method="post" action="/password">`, `name="current_password"`, `autocomplete="current-password"`,
		`name="new_password"`, `autocomplete="new-password"`, `<button type="submit">Change password</button>`} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %s", want)
		}
	}
	post := func(form url.Values, cookies []*http.Cookie, header map[string]string) (int, string) {
		t.Helper()
		w := e.page(pageReq{method: "POST", target: "/password", form: form, cookies: cookies, header: header})
		return w.Code, w.Body.String()
	}
	form := func(current, next, csrf string) url.Values {
		return url.Values{"current_password": {current}, "new_password": {next}, CSRFField: {csrf}}
	}
	failures := []struct {
		name    string
		form    url.Values
		cookies []*http.Cookie
		header  map[string]string
		status  int
		msg     string
	}{
		{"wrong current", form("not my password", "mia password 2", fs.csrf), cookies, nil, 401, msgWrongPassword},
		{"short new", form("mia password 1", "short", fs.csrf), cookies, nil, 400, msgWeakPassword},
		{"bad CSRF", form("mia password 1", "mia password 2", wrongCSRF(fs.csrf)), cookies, nil, 403, msgExpired},
		{"cross-site", form("mia password 1", "mia password 2", fs.csrf), cookies, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, msgExpired},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.form, tt.cookies, tt.header)
			if code != tt.status || !strings.Contains(body, `role="alert">`+htmlEscape(tt.msg)) {
				t.Errorf("%d, want %d with %q:\n%s", code, tt.status, tt.msg, body)
			}
		})
	}
	// Without a session, the form sends the browser to sign in.
	if w := e.page(pageReq{method: "POST", target: "/password", form: form("a", "b", fs.csrf), cookies: []*http.Cookie{fs.cookie}}); w.Code != http.StatusSeeOther {
		t.Errorf("POST /password without a session: %d, want 303", w.Code)
	}
	if w := e.page(pageReq{method: "GET", target: "/password", cookies: cookies}); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /password: %d, want 405", w.Code)
	}
	e.login("mia@example.com", "mia password 1") // nothing changed so far

	code, body := post(form("mia password 1", "mia password 2", fs.csrf), cookies, nil)
	if code != http.StatusOK || !strings.Contains(body, htmlEscape(msgPasswordChanged)) {
		t.Fatalf("password change: %d\n%s", code, body)
	}
	if e.live(other.AccessToken) {
		t.Error("the other session is still live")
	}
	if w := e.page(pageReq{method: "GET", target: "/", cookies: cookies}); w.Code != http.StatusOK {
		t.Errorf("this browser's session after the change: %d, want the account page", w.Code)
	}
	e.login("mia@example.com", "mia password 2")
	if lines := auditHas(t, buf, audit.EventPasswordChanged); len(lines) == 0 || lines[len(lines)-1]["via"] != "browser" {
		t.Errorf("password_changed lines %v, want the last via browser", lines)
	}
	noSecrets(t, buf, "mia password 1", "mia password 2", "not my password")
}

var tokenInput = regexp.MustCompile(`<input type="hidden" name="token" value="([^"]*)">`)

// TestResetPage: a reset link opens a form; the form sets the password once.
func TestResetPage(t *testing.T) {
	e, _ := accountPagesEnv(t)
	e.addUser("ned@example.com", "ned password 1")
	link, err := e.svc.CreateResetLink(t.Context(), "ned@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok := resetToken(t, link)
	u, _ := url.Parse(link.URL)
	w := e.page(pageReq{method: "GET", target: u.RequestURI()})
	m := tokenInput.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil || m[1] != tok {
		t.Fatalf("GET the link: %d\n%s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "<script") || w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Error("the reset page has a script or sends a Referer (the token is in its URL)")
	}
	csrf := csrfInput.FindStringSubmatch(w.Body.String())[1]
	csrfCookie := setCookies(w)[CSRFCookie][0]
	submit := func(token, pw, confirm, csrf string) (int, string) {
		w := e.page(pageReq{method: "POST", target: PathReset, cookies: []*http.Cookie{csrfCookie},
			form: url.Values{"token": {token}, "new_password": {pw}, "confirm_password": {confirm}, CSRFField: {csrf}}})
		return w.Code, w.Body.String()
	}
	if code, body := submit(tok, "ned password 2", "ned password 3", csrf); code != 400 || !strings.Contains(body, htmlEscape(msgPasswordsDiffer)) {
		t.Errorf("different passwords: %d %s", code, body)
	}
	if code, body := submit(tok, "short", "short", csrf); code != 400 || !strings.Contains(body, htmlEscape(msgWeakPassword)) {
		t.Errorf("short password: %d %s", code, body)
	}
	if code, _ := submit(tok, "ned password 2", "ned password 2", wrongCSRF(csrf)); code != 403 {
		t.Errorf("bad CSRF: %d, want 403", code)
	}
	if code, body := submit(tok, "ned password 2", "ned password 2", csrf); code != 200 || !strings.Contains(body, htmlEscape(msgResetDone)) {
		t.Fatalf("reset: %d %s", code, body)
	}
	e.login("ned@example.com", "ned password 2")
	if code, body := submit(tok, "ned password 4", "ned password 4", csrf); code != 400 || !strings.Contains(body, htmlEscape(msgResetInvalid)) {
		t.Errorf("link used twice: %d %s", code, body)
	}
	for _, target := range []string{PathReset, PathReset + "?token=short", PathReset + "?token=" + newRefreshToken()[:42] + "%00"} {
		if w := e.page(pageReq{method: "GET", target: target}); w.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", target, w.Code)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
