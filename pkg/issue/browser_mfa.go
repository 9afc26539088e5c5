package issue

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	qrcode "github.com/skip2/go-qrcode"
)

// PathMFAPage is the second-factor page: enrol (QR code and key), confirm, recovery
// codes (shown once), remove.
const PathMFAPage = "/mfa"

// Messages of the second step.
const (
	msgBadCode      = "The code is incorrect or was already used."
	msgMFAExpired   = "The sign-in took too long. Please sign in again."
	msgNeedFactor   = "This page requires two-factor authentication. Set it up on your account page, then try again."
	msgMFAOff       = "Two-factor authentication is not available on this server."
	msgCodeRequired = "Enter the 6-digit code from your authenticator app, or a recovery code."
)

// mfaView is what mfa.html shows.
type mfaView struct {
	On            bool
	Left          int
	QR            template.URL
	Secret        string
	RecoveryCodes []string
	Done          string
}

// codeForm renders the second step of a sign-in.
func (p *pages) codeForm(w http.ResponseWriter, r *http.Request, status int, rd, token, msg string) {
	v := view{Title: "Two-factor authentication", Action: p.base + PathLogin, CSRF: p.csrfToken(w, r), RD: rd, MFAToken: token, Error: msg}
	if methods := p.s.pendingMethods(r.Context(), token); slices.Contains(methods, MethodWebAuthn) {
		v.PasskeyAction = p.base + PathPasskeyLogin
		v.NoCode = !slices.Contains(methods, MethodOTP)
	}
	if u, err := url.Parse(rd); err == nil && u.Host != "" {
		v.Continue = u.Hostname()
	}
	p.render(w, status, codeTmpl, v)
}

// loginCode serves POST /login with an mfa_token: the second step.
func (p *pages) loginCode(w http.ResponseWriter, r *http.Request, rd string) error {
	token, code := r.PostForm.Get("mfa_token"), r.PostForm.Get("code")
	if code == "" {
		p.codeForm(w, r, http.StatusBadRequest, rd, token, msgCodeRequired)
		return nil
	}
	pair, err := p.s.LoginMFA(r.Context(), LoginMFARequest{
		MFAToken: token, Code: code, ClientIP: p.s.clientIP(r), UserAgent: r.UserAgent(),
	})
	var rl *RateLimitError
	switch {
	case err == nil:
	case errors.As(err, &rl):
		secs := retryAfter(w, rl)
		p.codeForm(w, r, http.StatusTooManyRequests, rd, token, "Too many attempts. Please wait "+waitText(secs)+" and try again.")
		return nil
	case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrInvalidRequest):
		p.codeForm(w, r, http.StatusUnauthorized, rd, token, msgBadCode)
		return nil
	case errors.Is(err, ErrInvalidMFAToken), errors.Is(err, ErrInvalidCredentials):
		p.loginForm(w, r, http.StatusUnauthorized, rd, "", msgMFAExpired)
		return nil
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	default:
		p.s.log.Error("sign-in second step failed", "err", err)
		p.codeForm(w, r, http.StatusInternalServerError, rd, token, msgUnavailable)
		return nil
	}
	p.startSession(w, r, pair)
	redirect(w, rd)
	return nil
}

// startSession sets the cookies of a new sign-in (password, second step or a
// provider's callback), after ending the session of the browser's previous
// refresh cookie: that token is about to be overwritten and could not be used or
// revoked from here again.
func (p *pages) startSession(w http.ResponseWriter, r *http.Request, pair TokenPair) {
	if old := cookieValue(r, RefreshCookie); old != "" {
		if err := p.s.Logout(r.Context(), old); err != nil && !errors.Is(err, ErrInvalidRequest) {
			p.s.log.Warn("sign-in: ending the previous session failed", "err", err)
		}
	}
	p.setSession(w, pair)
}

// stepUp serves GET /login?mfa=1 (the verifier's redirect when a rule requires a
// second factor the session lacks): with a live session it asks only for the code;
// a session that already shows mfa goes straight back to rd; without a session,
// the password form (whose second step follows).
func (p *pages) stepUp(w http.ResponseWriter, r *http.Request, rd string) error {
	at := cookieValue(r, p.s.cfg.CookieName)
	c, err := p.s.Authenticate(r.Context(), at)
	if errors.Is(err, ErrInvalidToken) {
		if rt := cookieValue(r, RefreshCookie); rt != "" {
			pair, rerr := p.s.Refresh(r.Context(), RefreshRequest{RefreshToken: rt, ClientIP: p.s.clientIP(r)})
			if rerr == nil {
				p.setSession(w, pair)
				at = pair.AccessToken
				c, err = p.s.Authenticate(r.Context(), at)
			}
		}
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidToken) {
			p.s.log.Error("step-up: session check failed", "err", err)
			p.loginForm(w, r, http.StatusServiceUnavailable, rd, "", msgUnavailable)
			return nil
		}
		p.loginForm(w, r, http.StatusOK, rd, "", "")
		return nil
	}
	if slices.Contains(c.AMR, "mfa") {
		redirect(w, rd)
		return nil
	}
	err = p.s.StepUp(r.Context(), at, r.UserAgent(), p.s.clientIP(r))
	var req *MFARequiredError
	switch {
	case errors.As(err, &req):
		p.codeForm(w, r, http.StatusOK, rd, req.Token, "")
	case errors.Is(err, ErrNoFactor):
		p.message(w, http.StatusForbidden, "Two-factor authentication required", msgNeedFactor, p.base+PathMFAPage)
	case errors.Is(err, ErrMFAUnsupported):
		p.message(w, http.StatusForbidden, "Two-factor authentication required", msgMFAOff, "")
	default:
		p.s.log.Error("step-up failed", "err", err)
		p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, r.URL.RequestURI())
	}
	return nil
}

// mfaPage serves GET and POST /mfa for the signed-in user.
func (p *pages) mfaPage(w http.ResponseWriter, r *http.Request) error {
	here := p.base + PathMFAPage
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, HEAD, POST")
		return nil
	}
	c, ok := p.signedIn(w, r, "mfa page", here)
	if !ok {
		return nil
	}
	var err error
	if p.s.mfaReady() != nil {
		p.message(w, http.StatusNotFound, "Two-factor authentication", msgMFAOff, "")
		return nil
	}
	status, msg := http.StatusOK, ""
	var codes []string
	if r.Method == http.MethodPost {
		if st, m, ok := p.readForm(w, r, msgExpired); !ok {
			p.message(w, st, "Two-factor authentication", m, here)
			return nil
		}
		if !p.csrfOK(r) {
			p.message(w, http.StatusForbidden, "Two-factor authentication", msgExpired, here)
			return nil
		}
		ip := p.s.clientIP(r)
		code := r.PostForm.Get("code")
		switch r.PostForm.Get("op") {
		case "enrol":
			_, err = p.s.enrolTOTP(r.Context(), c)
		case "confirm":
			codes, err = p.s.confirmTOTP(r.Context(), c, code, ip)
		case "remove":
			err = p.s.removeTOTP(r.Context(), c, code, ip)
		default:
			err = ErrInvalidRequest
		}
		var rl *RateLimitError
		switch {
		case err == nil:
		case errors.As(err, &rl):
			secs := retryAfter(w, rl)
			status, msg = http.StatusTooManyRequests, "Too many attempts. Please wait "+waitText(secs)+" and try again."
		case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrInvalidRequest):
			status, msg = http.StatusUnauthorized, msgBadCode
		case errors.Is(err, ErrFactorExists), errors.Is(err, ErrNoFactor):
			status = http.StatusConflict // the page below shows the state as it is
		default:
			p.s.log.Error("mfa page", "err", err)
			p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, here)
			return nil
		}
	}
	mv := &mfaView{RecoveryCodes: codes, Done: here}
	st, err := p.s.Factors(r.Context(), c.Subject)
	if err != nil {
		p.s.log.Error("mfa page", "err", err)
		p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, here)
		return nil
	}
	mv.On, mv.Left = st.TOTP, st.RecoveryCodes
	if st.Pending {
		en, err := p.s.pendingTOTP(r.Context(), c)
		if err != nil {
			p.s.log.Error("mfa page", "err", err)
			p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, here)
			return nil
		}
		png, err := qrcode.Encode(en.URL, qrcode.Medium, 200)
		if err != nil {
			p.s.log.Error("mfa page: QR code", "err", err)
		} else {
			mv.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
		mv.Secret = en.Secret
	}
	p.render(w, status, mfaTmpl, view{
		Title: "Two-factor authentication", Action: here, CSRF: p.csrfToken(w, r), Email: c.Email, MFA: mv, Error: msg,
	})
	return nil
}
