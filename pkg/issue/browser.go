package issue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

// Browser page paths (below the issuer URL's path) and names. The access-token
// cookie's name is Config.CookieName.
const (
	PathLogin   = "/login"
	PathLogout  = "/logout"
	PathAccount = "/"

	// RefreshCookie holds the refresh token. It is host-only (never Config.CookieDomain:
	// it must not reach the applications) and set twice, with Path=/login and with
	// Path=/logout, so the browser sends it to those two pages only.
	RefreshCookie = "vexen_refresh"
	// CSRFCookie is the double-submit token of the forms; on an https issuer it is
	// named CSRFCookieSecure, whose __Host- prefix makes browsers refuse it from any
	// other host (no cookie tossing from a sibling domain).
	CSRFCookie       = "vexen_csrf"
	CSRFCookieSecure = "__Host-vexen_csrf"
	// CSRFField is the form field holding the CSRF token.
	CSRFField = "csrf_token"
)

// maxFormBytes bounds a sign-in or sign-out form body.
const maxFormBytes = 32 << 10

// Messages on the pages. A failed sign-in never says whether the email is known.
const (
	msgMissing      = "Enter your email address and password."
	msgInvalid      = "The email address or password is incorrect."
	msgExpired      = "The sign-in form expired or was sent from another site. Please sign in again."
	msgUnavailable  = "Sign-in is unavailable at the moment. Please try again shortly."
	msgBadForm      = "The form could not be read. Please try again."
	msgLogoutFailed = "You could not be signed out because the server is unavailable. Please try again."
	msgLogoutCSRF   = "The sign-out form expired or was sent from another site."
	msgNoPassword   = "Sign-in with a password is switched off here. Use one of the buttons."
)

//go:embed templates/*.html templates/style.css templates/passkey.js
var templateFS embed.FS

// The pages, parsed once; the CSS is inlined and allowed by its hash in the CSP.
var (
	pageCSS     = mustRead("templates/style.css")
	pageCSSHash = cssHash(pageCSS)
	loginTmpl   = mustParse("templates/login.html")
	accountTmpl = mustParse("templates/account.html")
	messageTmpl = mustParse("templates/message.html")
	resetTmpl   = mustParse("templates/reset.html")
	codeTmpl    = mustParse("templates/code.html")
	mfaTmpl     = mustParse("templates/mfa.html")
	// The passkey pages: the list, and the ceremony page, the only one with a script
	// (inline, allowed by its hash in that page's CSP alone).
	passkeysTmpl  = mustParse("templates/passkeys.html")
	passkeyTmpl   = mustParse("templates/passkey.html")
	passkeyJS     = mustRead("templates/passkey.js")
	passkeyJSHash = cssHash(passkeyJS)
)

func mustRead(name string) string {
	b, err := templateFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustParse(page string) *template.Template {
	return template.Must(template.New("").ParseFS(templateFS, "templates/layout.html", page)).Lookup("layout")
}

func cssHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// view is what a page template gets.
type view struct {
	Title    string
	CSS      template.CSS
	Action   string // the form's action
	CSRF     string
	RD       string // the checked return URL, carried through the form
	Continue string // the return URL's host, shown to the user
	Email    string
	Error    string
	Retry    string // message page: a link to try again
	// The account lifecycle pages.
	Notice         string   // a confirmation shown on the account page
	PasswordAction string   // the account page's change-password form action
	Token          string   // the reset page: the link's token, carried through the form
	MFAToken       string   // second step of a sign-in
	MFALink        string   // account page: the second-factor page
	MFA            *mfaView // the second-factor page
	PasskeysLink   string   // account page: the passkeys page
	// Passkeys: the sign-in page's and the code page's passkey button (the form's
	// action; "" hides it), NoCode hides the code form (a user with passkeys only),
	// the passkeys page's list and the ceremony page.
	PasskeyAction string
	NoCode        bool
	Passkeys      []passkeyRow
	Passkey       *passkeyView
	JS            template.JS // the ceremony page's script
	// Sign-in page: one button per OpenID Connect provider; NoPassword hides the form.
	Providers  []providerButton
	NoPassword bool
}

type providerButton struct{ Name, URL string }

// pages serves the browser pages: the sign-in form, sign-out, and the account page.
// Everything costly (cookie attributes, the redirect allowlist, the CSP) is worked
// out once here.
type pages struct {
	s        *Service
	secure   bool   // the issuer URL is https: Secure cookies, __Host- CSRF cookie
	base     string // the issuer URL's path without the trailing slash
	hosts    hostlist.List
	csrfName string
	csp      string
	cop      *http.CrossOriginProtection
}

func newPages(s *Service) *pages {
	p := &pages{s: s, hosts: s.redirectHosts, csrfName: CSRFCookie, cop: http.NewCrossOriginProtection()}
	if u, err := url.Parse(s.cfg.IssuerURL); err == nil {
		p.secure = u.Scheme == "https"
		p.base = strings.TrimRight(u.Path, "/")
	}
	if p.secure {
		p.csrfName = CSRFCookieSecure
	}
	p.csp = "default-src 'none'; style-src " + pageCSSHash + "; img-src data:; base-uri 'none'; frame-ancestors 'none'"
	if fa, ok := formActionSources(p.hosts, s.cfg.DefaultRedirect); ok {
		p.csp += "; form-action " + fa
	}
	return p
}

// returnTo is rd when it is safe (returnURL), else Config.DefaultRedirect.
func (p *pages) returnTo(rd string) string {
	if u, ok := returnURL(p.hosts, rd); ok {
		return u
	}
	if rd != "" {
		p.s.log.Debug("return URL refused; using the default redirect")
	}
	return p.s.cfg.DefaultRedirect
}

// login serves GET /login (the form, or a silent refresh) and POST /login.
func (p *pages) login(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		rd := p.returnTo(r.URL.Query().Get("rd"))
		if r.Method == http.MethodGet && r.URL.Query().Get("mfa") == "1" {
			return p.stepUp(w, r, rd)
		}
		if r.Method == http.MethodGet {
			if rt := cookieValue(r, RefreshCookie); rt != "" {
				pair, err := p.s.Refresh(r.Context(), RefreshRequest{RefreshToken: rt, ClientIP: p.s.clientIP(r)})
				var rl *RateLimitError
				switch {
				case err == nil:
					p.setSession(w, pair)
					redirect(w, rd)
					return nil
				case errors.As(err, &rl):
					// The session may well be live: keep its cookies, and ask to retry.
					secs := retryAfter(w, rl)
					p.message(w, http.StatusTooManyRequests, "Too many requests",
						"Too many sign-in attempts. Please wait "+waitText(secs)+" and try again.", r.URL.RequestURI())
					return nil
				case errors.Is(err, ErrInvalidGrant):
					// Expired, revoked or replayed: forget the session's cookies and
					// ask for the password.
					p.clearSession(w)
				default:
					p.s.log.Error("silent refresh failed", "err", err)
					p.loginForm(w, r, http.StatusServiceUnavailable, rd, "", msgUnavailable)
					return nil
				}
			}
		}
		p.loginForm(w, r, http.StatusOK, rd, "", "")
		return nil
	case http.MethodPost:
		return p.loginPost(w, r)
	}
	methodNotAllowed(w, "GET, HEAD, POST")
	return nil
}

func (p *pages) loginPost(w http.ResponseWriter, r *http.Request) error {
	if p.s.cfg.NoPasswordLogin {
		p.loginForm(w, r, http.StatusForbidden, p.returnTo(r.URL.Query().Get("rd")), "", msgNoPassword)
		return nil
	}
	if status, msg, ok := p.readForm(w, r, msgExpired); !ok {
		p.loginForm(w, r, status, p.returnTo(r.URL.Query().Get("rd")), "", msg)
		return nil
	}
	rd := p.returnTo(r.PostForm.Get("rd"))
	if !p.csrfOK(r) {
		p.s.log.Debug("sign-in form refused: CSRF check failed", "ip", p.s.clientIP(r))
		p.loginForm(w, r, http.StatusForbidden, rd, "", msgExpired)
		return nil
	}
	if r.PostForm.Has("mfa_token") {
		return p.loginCode(w, r, rd)
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	pair, err := p.s.Login(r.Context(), LoginRequest{
		Email: email, Password: r.PostForm.Get("password"), ClientIP: p.s.clientIP(r), UserAgent: r.UserAgent(),
	})
	var rl *RateLimitError
	var mfa *MFARequiredError
	switch {
	case err == nil:
	case errors.As(err, &mfa):
		p.codeForm(w, r, http.StatusOK, rd, mfa.Token, "")
		return nil
	case errors.As(err, &rl):
		secs := retryAfter(w, rl)
		p.loginForm(w, r, http.StatusTooManyRequests, rd, email, "Too many sign-in attempts. Please wait "+waitText(secs)+" and try again.")
		return nil
	case errors.Is(err, ErrInvalidRequest):
		p.loginForm(w, r, http.StatusBadRequest, rd, email, msgMissing)
		return nil
	case errors.Is(err, ErrInvalidCredentials):
		p.loginForm(w, r, http.StatusUnauthorized, rd, email, msgInvalid)
		return nil
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		w.WriteHeader(http.StatusServiceUnavailable) // the client went away
		return nil
	default:
		p.s.log.Error("sign-in failed", "err", err)
		p.loginForm(w, r, http.StatusInternalServerError, rd, email, msgUnavailable)
		return nil
	}
	p.startSession(w, r, pair)
	redirect(w, rd)
	return nil
}

// waitText is secs in words, rounded up to minutes from two minutes on.
func waitText(secs int64) string {
	switch {
	case secs == 1:
		return "1 second"
	case secs < 120:
		return strconv.FormatInt(secs, 10) + " seconds"
	}
	return strconv.FormatInt((secs+59)/60, 10) + " minutes"
}

// logout serves GET and POST /logout: it revokes the session of the refresh cookie
// and of the access cookie, clears both, and redirects to rd. GET has no CSRF
// check, because the contract makes sign-out a link apps can point to; the worst
// another site can do with it is sign the user out. POST is checked like sign-in.
func (p *pages) logout(w http.ResponseWriter, r *http.Request) error {
	var rd string
	switch r.Method {
	case http.MethodGet:
		rd = r.URL.Query().Get("rd")
	case http.MethodPost:
		if status, msg, ok := p.readForm(w, r, msgLogoutCSRF); !ok {
			p.message(w, status, "Sign-out failed", msg, p.base+PathAccount)
			return nil
		}
		if !p.csrfOK(r) {
			p.s.log.Debug("sign-out form refused: CSRF check failed", "ip", p.s.clientIP(r))
			p.message(w, http.StatusForbidden, "Sign-out failed", msgLogoutCSRF, p.base+PathAccount)
			return nil
		}
		rd = r.FormValue("rd")
	default:
		methodNotAllowed(w, "GET, POST")
		return nil
	}
	var failed error
	if rt := cookieValue(r, RefreshCookie); rt != "" {
		if err := p.s.Logout(r.Context(), rt); err != nil && !errors.Is(err, ErrInvalidRequest) {
			failed = err
		}
	}
	if at := cookieValue(r, p.s.cfg.CookieName); at != "" {
		if err := p.s.LogoutAccess(r.Context(), at); err != nil && !errors.Is(err, ErrInvalidToken) {
			failed = err
		}
	}
	if failed != nil {
		// The cookies stay, so that trying again can still end the session.
		p.s.log.Error("sign-out failed", "err", failed)
		retry := ""
		if r.Method == http.MethodGet {
			retry = r.URL.RequestURI()
		}
		p.message(w, http.StatusServiceUnavailable, "Sign-out failed", msgLogoutFailed, retry)
		return nil
	}
	p.clearSession(w)
	to := p.returnTo(rd)
	if c := cookieValue(r, fedLogoutCookie); c != "" {
		http.SetCookie(w, &http.Cookie{Name: fedLogoutCookie, Path: p.base + PathLogout, MaxAge: -1, Expires: time.Unix(1, 0),
			HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
		if p.s.fed != nil {
			if u := p.s.fed.endSessionURL(c, to); u != "" {
				to = u // the provider's sign-out, then back through /oidc/{id}/logged-out to rd
			}
		}
	}
	redirect(w, to)
	return nil
}

// signedIn returns the claims of the browser's access cookie. Without a live one it
// sends the browser to the sign-in page with here as the return address; when the
// session cannot be checked it answers 503 (page names it in the log). Not ok: the
// answer is written.
func (p *pages) signedIn(w http.ResponseWriter, r *http.Request, page, here string) (Claims, bool) {
	at := cookieValue(r, p.s.cfg.CookieName)
	if at == "" {
		redirect(w, p.base+PathLogin+"?rd="+url.QueryEscape(here))
		return Claims{}, false
	}
	c, err := p.s.Authenticate(r.Context(), at)
	switch {
	case err == nil:
		return c, true
	case errors.Is(err, ErrInvalidToken):
		redirect(w, p.base+PathLogin+"?rd="+url.QueryEscape(here))
	default:
		p.s.log.Error(page+": session check failed", "err", err)
		p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, here)
	}
	return Claims{}, false
}

// account serves GET /: who is signed in, and a sign-out button. Without a live
// access cookie it sends the browser to the sign-in page (which refreshes
// silently when it can) with this page as the return address.
func (p *pages) account(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return nil
	}
	here := p.base + PathAccount
	c, ok := p.signedIn(w, r, "account page", here)
	if !ok {
		return nil
	}
	p.accountPage(w, r, http.StatusOK, c.Email, "", "")
	return nil
}

// accountPage renders the account page with a confirmation or an error of its
// change-password form.
func (p *pages) accountPage(w http.ResponseWriter, r *http.Request, status int, email, notice, msg string) {
	v := view{
		Title: "Signed in", Action: p.base + PathLogout, CSRF: p.csrfToken(w, r), Email: email,
		PasswordAction: p.base + PathPassword, Notice: notice, Error: msg,
	}
	if p.s.mfaReady() == nil {
		v.MFALink = p.base + PathMFAPage
	}
	if p.s.passkeysReady() == nil {
		v.PasskeysLink = p.base + PathPasskeys
	}
	p.render(w, status, accountTmpl, v)
}

func (p *pages) loginForm(w http.ResponseWriter, r *http.Request, status int, rd, email, msg string) {
	v := view{Title: "Sign in", Action: p.base + PathLogin, CSRF: p.csrfToken(w, r), RD: rd, Email: email, Error: msg,
		NoPassword: p.s.cfg.NoPasswordLogin}
	if p.s.passkeysReady() == nil {
		v.PasskeyAction = p.base + PathPasskeyLogin
	}
	if p.s.fed != nil {
		for _, fp := range p.s.fed.order {
			v.Providers = append(v.Providers, providerButton{
				Name: fp.cfg.Name, URL: p.base + "/oidc/" + fp.cfg.ID + fedStart + "?rd=" + url.QueryEscape(rd),
			})
		}
	}
	if u, err := url.Parse(rd); err == nil && u.Host != "" {
		v.Continue = u.Hostname()
	}
	p.render(w, status, loginTmpl, v)
}

func (p *pages) message(w http.ResponseWriter, status int, title, msg, retry string) {
	p.render(w, status, messageTmpl, view{Title: title, Error: msg, Retry: retry})
}

// render writes a page with the headers every page gets: no caching (set by the
// API handler for every answer), no framing, and a CSP that allows no script, the
// inline style by its hash, and form submissions to the issuer and the return hosts.
func (p *pages) render(w http.ResponseWriter, status int, t *template.Template, v view) {
	v.CSS = template.CSS(pageCSS)
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		p.s.log.Error("render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if v.JS != "" {
		h.Set("Content-Security-Policy", p.csp+"; script-src "+passkeyJSHash)
	} else {
		h.Set("Content-Security-Policy", p.csp)
	}
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// readForm reads a urlencoded form of at most maxFormBytes after the cross-origin
// check (http.CrossOriginProtection: Sec-Fetch-Site, else Origin against Host).
// When it fails it answers the status and message to show: crossOrigin for a
// cross-origin request, msgBadForm for a body it cannot read.
func (p *pages) readForm(w http.ResponseWriter, r *http.Request, crossOrigin string) (int, string, bool) {
	if err := p.cop.Check(r); err != nil {
		p.s.log.Debug("cross-origin form refused", "ip", p.s.clientIP(r), "err", err)
		return http.StatusForbidden, crossOrigin, false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return http.StatusUnsupportedMediaType, msgBadForm, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, msgBadForm, false
		}
		return http.StatusBadRequest, msgBadForm, false
	}
	return http.StatusOK, "", true
}

// csrfToken returns the browser's CSRF token, setting a new cookie when it has none.
// The token is kept across pages so that several open tabs all work.
func (p *pages) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if tok := cookieValue(r, p.csrfName); wellFormedRefresh(tok) {
		return tok
	}
	tok := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	http.SetCookie(w, &http.Cookie{
		Name: p.csrfName, Value: tok, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// csrfOK: the form's token equals the cookie's (double submit, constant time).
func (p *pages) csrfOK(r *http.Request) bool {
	c := cookieValue(r, p.csrfName)
	f := r.PostForm.Get(CSRFField)
	return wellFormedRefresh(c) && subtle.ConstantTimeCompare([]byte(c), []byte(f)) == 1
}

// setSession sets the access cookie (Config.CookieDomain, Path=/, for the apps and
// the verifier) and the refresh cookie (host-only, for /login and /logout only).
func (p *pages) setSession(w http.ResponseWriter, pair TokenPair) {
	// expires_in is exp - iat, whole seconds as the token has them: the access
	// cookie lives as long as its token, give or take the second exp was rounded by.
	http.SetCookie(w, p.accessCookie(pair.AccessToken, max(int(pair.ExpiresIn), 1)))
	for _, c := range p.refreshCookies(pair.RefreshToken, maxAge(pair.RefreshExpiresAt.Sub(p.s.now()))) {
		http.SetCookie(w, c)
	}
}

// clearSession expires both cookies (Max-Age=0, same name, Domain and Path).
func (p *pages) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, p.accessCookie("", -1))
	p.clearRefresh(w)
}

func (p *pages) clearRefresh(w http.ResponseWriter) {
	for _, c := range p.refreshCookies("", -1) {
		http.SetCookie(w, c)
	}
}

// maxAge is d in whole seconds rounded up (a cookie outliving its token by less
// than a second costs one trip through the sign-in page), at least 1 (0 would
// mean a session cookie).
func maxAge(d time.Duration) int { return max(int((d+time.Second-1)/time.Second), 1) }

func (p *pages) accessCookie(value string, age int) *http.Cookie {
	c := &http.Cookie{
		Name: p.s.cfg.CookieName, Value: value, Domain: p.s.cfg.CookieDomain, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	}
	if age < 0 {
		c.Expires = time.Unix(1, 0)
	}
	return c
}

func (p *pages) refreshCookies(value string, age int) []*http.Cookie {
	out := make([]*http.Cookie, 0, 2)
	for _, path := range []string{p.base + PathLogin, p.base + PathLogout} {
		c := &http.Cookie{
			Name: RefreshCookie, Value: value, Path: path, MaxAge: age,
			HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
		}
		if age < 0 {
			c.Expires = time.Unix(1, 0)
		}
		out = append(out, c)
	}
	return out
}

// cookieValue is the value of the first cookie named name, or "".
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// redirect answers 303 See Other to a URL returnTo or the pages built.
func redirect(w http.ResponseWriter, to string) {
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+allow)
}
