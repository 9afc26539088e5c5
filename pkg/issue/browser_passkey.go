package issue

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// The passkey pages. The ceremonies need the browser's navigator.credentials, so
// they are the one place with a script: the issuer renders the options into the
// ceremony page, its script (passkey.js, allowed by hash) hands them to the browser
// and posts the answer back in an ordinary form, with the CSRF token like every
// other form.
const (
	// PathPasskeys is the signed-in user's passkeys: list, add (op=begin, then
	// op=finish from the ceremony page), remove (op=remove).
	PathPasskeys = "/passkeys"
	// PathPasskeyLogin is a sign-in with a passkey: alone (op=begin, op=finish), or
	// as the second step of a login or a step-up (the same with mfa_token).
	PathPasskeyLogin = "/login/passkey"
)

// Messages of the passkey pages.
const (
	msgPasskeyRefused  = "The passkey was not accepted. Please try again."
	msgPasskeysOff     = "Passkeys are not available on this server."
	msgPasskeyName     = "Give the passkey a name of 1 to 64 characters."
	msgPasskeyStepUp   = "Removing a passkey needs a sign-in with your second factor. Confirm it, then remove the passkey."
	msgPasskeyRegister = "The passkey was not added. Please try again."
)

// passkeyView is the ceremony page: create (registration) or get (sign-in).
type passkeyView struct {
	Mode    string // "create" or "get"
	Lead    string
	Button  string
	Name    string // registration: the name chosen
	Options template.JS
}

// passkeyRow is one line of the passkeys page.
type passkeyRow struct {
	ID, Name, Created, Used string
	Synced                  bool
}

// pendingMethods are the second-factor methods of the user of a pending login
// (mfa_token), for the code page; none when the token is not live.
func (s *Service) pendingMethods(ctx context.Context, token string) []string {
	if s.factors == nil || !wellFormedRefresh(token) {
		return nil
	}
	ch, err := s.factors.MFAChallenge(ctx, TokenHash(token), s.now())
	if err != nil {
		return nil
	}
	m, err := s.secondFactors(ctx, ch.UserID)
	if err != nil {
		s.log.Warn("second-factor methods", "err", err)
	}
	return m
}

// ceremonyPage renders the page that runs navigator.credentials.
func (p *pages) ceremonyPage(w http.ResponseWriter, r *http.Request, v view, pv passkeyView, opts []byte) {
	pv.Options = template.JS(opts) // json.Marshal escapes <, > and &: no </script> inside
	v.Passkey, v.JS = &pv, template.JS(passkeyJS)
	v.CSRF = p.csrfToken(w, r)
	p.render(w, http.StatusOK, passkeyTmpl, v)
}

// passkeysPage serves GET and POST /passkeys for the signed-in user.
func (p *pages) passkeysPage(w http.ResponseWriter, r *http.Request) error {
	here := p.base + PathPasskeys
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, HEAD, POST")
		return nil
	}
	c, ok := p.signedIn(w, r, "passkeys page", here)
	if !ok {
		return nil
	}
	if p.s.passkeysReady() != nil {
		p.message(w, http.StatusNotFound, "Passkeys", msgPasskeysOff, "")
		return nil
	}
	status, notice, msg := http.StatusOK, "", ""
	if r.Method == http.MethodPost {
		if st, m, ok := p.readForm(w, r, msgExpired); !ok {
			p.message(w, st, "Passkeys", m, here)
			return nil
		}
		if !p.csrfOK(r) {
			p.message(w, http.StatusForbidden, "Passkeys", msgExpired, here)
			return nil
		}
		ip := p.s.clientIP(r)
		name := r.PostForm.Get("name")
		var err error
		switch r.PostForm.Get("op") {
		case "begin":
			if n := len([]rune(name)); n == 0 || n > maxPasskeyName {
				err = ErrInvalidRequest
				break
			}
			var opts []byte
			if opts, err = p.s.BeginPasskeyRegistration(r.Context(), c); err == nil {
				p.ceremonyPage(w, r, view{Title: "Add a passkey", Action: here, Email: c.Email}, passkeyView{
					Mode: "create", Name: name, Button: "Create the passkey",
					Lead: "Your browser asks where to keep the passkey “" + name + "” (this device, a phone, a security key) and for its screen lock.",
				}, opts)
				return nil
			}
		case "finish":
			var pk Passkey
			if pk, err = p.s.FinishPasskeyRegistration(r.Context(), c, name, []byte(r.PostForm.Get("response")), ip); err == nil {
				notice = "Passkey “" + pk.Name + "” added."
			}
		case "remove":
			if err = p.s.RemovePasskey(r.Context(), c, r.PostForm.Get("id"), ip); err == nil {
				notice = "Passkey removed."
			}
		default:
			err = ErrInvalidRequest
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidRequest):
			status, msg = http.StatusBadRequest, msgPasskeyName
		case errors.Is(err, ErrPasskeyRefused):
			status, msg = http.StatusBadRequest, msgPasskeyRegister
		case errors.Is(err, ErrStepUpNeeded):
			p.message(w, http.StatusForbidden, "Passkeys", msgPasskeyStepUp,
				p.base+PathLogin+"?mfa=1&rd="+url.QueryEscape(p.s.cfg.IssuerURL+PathPasskeys))
			return nil
		case errors.Is(err, ErrNoFactor):
			status = http.StatusConflict // the list below shows the state as it is
		default:
			p.s.log.Error("passkeys page", "err", err)
			p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, here)
			return nil
		}
	}
	list, err := p.s.Passkeys(r.Context(), c.Subject)
	if err != nil {
		p.s.log.Error("passkeys page", "err", err)
		p.message(w, http.StatusServiceUnavailable, "Unavailable", msgUnavailable, here)
		return nil
	}
	v := view{Title: "Passkeys", Action: here, CSRF: p.csrfToken(w, r), Email: c.Email, Notice: notice, Error: msg}
	for _, k := range list {
		row := passkeyRow{ID: k.ID, Name: k.Name, Synced: k.Synced, Created: k.CreatedAt.UTC().Format(time.DateOnly)}
		if !k.LastUsedAt.IsZero() {
			row.Used = k.LastUsedAt.UTC().Format(time.DateOnly)
		}
		v.Passkeys = append(v.Passkeys, row)
	}
	p.render(w, status, passkeysTmpl, v)
	return nil
}

// passkeyLogin serves POST /login/passkey: op=begin renders the ceremony page,
// op=finish checks the answer and opens the session (with mfa_token: finishes that
// login) then goes to rd.
func (p *pages) passkeyLogin(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return nil
	}
	if status, msg, ok := p.readForm(w, r, msgExpired); !ok {
		p.loginForm(w, r, status, p.returnTo(r.URL.Query().Get("rd")), "", msg)
		return nil
	}
	rd := p.returnTo(r.PostForm.Get("rd"))
	if !p.csrfOK(r) {
		p.loginForm(w, r, http.StatusForbidden, rd, "", msgExpired)
		return nil
	}
	ctx, ip, token := r.Context(), p.s.clientIP(r), r.PostForm.Get("mfa_token")
	var (
		pair TokenPair
		err  error
	)
	switch r.PostForm.Get("op") {
	case "begin":
		var opts []byte
		if token != "" {
			opts, err = p.s.BeginPasskeyMFA(ctx, token)
		} else {
			opts, err = p.s.BeginPasskeyLogin(ctx, ip)
		}
		if err == nil {
			v := view{Title: "Sign in with a passkey", Action: p.base + PathPasskeyLogin, RD: rd, MFAToken: token}
			if u, err := url.Parse(rd); err == nil && u.Host != "" {
				v.Continue = u.Hostname()
			}
			p.ceremonyPage(w, r, v, passkeyView{Mode: "get", Button: "Use a passkey",
				Lead: "Your browser asks for one of your passkeys and its screen lock."}, opts)
			return nil
		}
	case "finish":
		req := PasskeyLoginRequest{Response: []byte(r.PostForm.Get("response")), MFAToken: token, ClientIP: ip, UserAgent: r.UserAgent()}
		if token != "" {
			pair, err = p.s.FinishPasskeyMFA(ctx, req)
		} else {
			pair, err = p.s.FinishPasskeyLogin(ctx, req)
		}
	default:
		err = ErrInvalidRequest
	}
	var rl *RateLimitError
	switch {
	case err == nil:
		p.startSession(w, r, pair)
		redirect(w, rd)
	case errors.As(err, &rl):
		secs := retryAfter(w, rl)
		p.loginForm(w, r, http.StatusTooManyRequests, rd, "", "Too many sign-in attempts. Please wait "+waitText(secs)+" and try again.")
	case errors.Is(err, ErrInvalidMFAToken):
		p.loginForm(w, r, http.StatusUnauthorized, rd, "", msgMFAExpired)
	case token != "" && (errors.Is(err, ErrPasskeyRefused) || errors.Is(err, ErrNoFactor) || errors.Is(err, ErrInvalidRequest)):
		p.codeForm(w, r, http.StatusUnauthorized, rd, token, msgPasskeyRefused)
	case errors.Is(err, ErrPasskeyRefused), errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrInvalidCredentials):
		p.loginForm(w, r, http.StatusUnauthorized, rd, "", msgPasskeyRefused)
	case errors.Is(err, ErrPasskeysOff):
		p.loginForm(w, r, http.StatusNotFound, rd, "", msgPasskeysOff)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		p.s.log.Error("passkey sign-in failed", "err", err)
		p.loginForm(w, r, http.StatusInternalServerError, rd, "", msgUnavailable)
	}
	return nil
}
