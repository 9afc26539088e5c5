package issue

import (
	"context"
	"errors"
	"net/http"
)

// PathPassword is where the account page's change-password form posts.
const PathPassword = "/password"

// Messages of the account lifecycle pages.
const (
	msgPasswordChanged = "Your password was changed. Your other sessions were signed out."
	msgWrongPassword   = "The current password is incorrect."
	msgWeakPassword    = "The new password must be at least 8 characters long."
	msgPasswordsDiffer = "The two new passwords differ."
	msgResetInvalid    = "This reset link is invalid, has expired or was already used. Ask your administrator for a new one."
	msgResetDone       = "Your password was changed, and every session of your account was signed out. Sign in with the new password."
)

// changePassword serves POST /v1/password {"current_password","new_password"} with
// Authorization: Bearer AT → 204; the other sessions of the user are revoked.
func (h *apiHandler) changePassword(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	tok, err := bearer(r)
	if err != nil {
		return err
	}
	if _, err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if _, err := h.s.ChangePassword(r.Context(), ChangePasswordRequest{
		AccessToken: tok, CurrentPassword: body.CurrentPassword, NewPassword: body.NewPassword, ClientIP: h.s.clientIP(r),
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetPassword serves POST /v1/password/reset {"token","new_password"} → 204.
func (h *apiHandler) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Token       string `json:"token"`
		NewPassword string `json:"new_password"`
	}
	if _, err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if err := h.s.ResetPassword(r.Context(), ResetPasswordRequest{
		Token: body.Token, NewPassword: body.NewPassword, ClientIP: h.s.clientIP(r),
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// password serves POST /password, the account page's change-password form.
func (p *pages) password(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return nil
	}
	here := p.base + PathAccount
	c, ok := p.signedIn(w, r, "password page", here)
	if !ok {
		return nil
	}
	if status, msg, ok := p.readForm(w, r, msgExpired); !ok {
		p.accountPage(w, r, status, c.Email, "", msg)
		return nil
	}
	if !p.csrfOK(r) {
		p.accountPage(w, r, http.StatusForbidden, c.Email, "", msgExpired)
		return nil
	}
	_, err := p.s.ChangePassword(r.Context(), ChangePasswordRequest{
		AccessToken: cookieValue(r, p.s.cfg.CookieName), CurrentPassword: r.PostForm.Get("current_password"), NewPassword: r.PostForm.Get("new_password"),
		ClientIP: p.s.clientIP(r),
	})
	if status, msg := p.passwordFailure(w, r, err, msgWrongPassword); status != 0 {
		p.accountPage(w, r, status, c.Email, "", msg)
		return nil
	}
	p.accountPage(w, r, http.StatusOK, c.Email, msgPasswordChanged, "")
	return nil
}

// passwordFailure is the status and message of a failed password form; 0 for nil.
func (p *pages) passwordFailure(w http.ResponseWriter, r *http.Request, err error, credentials string) (int, string) {
	var rl *RateLimitError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &rl):
		secs := retryAfter(w, rl)
		return http.StatusTooManyRequests, "Too many attempts. Please wait " + waitText(secs) + " and try again."
	case errors.Is(err, ErrWeakPassword):
		return http.StatusBadRequest, msgWeakPassword
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest, msgBadForm
	case errors.Is(err, ErrInvalidCredentials):
		return http.StatusUnauthorized, credentials
	case errors.Is(err, ErrInvalidResetLink):
		return http.StatusBadRequest, msgResetInvalid
	case errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized, msgExpired
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return http.StatusServiceUnavailable, msgUnavailable
	}
	p.s.log.Error("password change failed", "err", err)
	return http.StatusInternalServerError, msgUnavailable
}

// reset serves GET /reset?token=T (the new-password form) and POST /reset.
func (p *pages) reset(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		tok := r.URL.Query().Get("token")
		if !wellFormedRefresh(tok) {
			p.message(w, http.StatusBadRequest, "Invalid link", msgResetInvalid, "")
			return nil
		}
		p.resetForm(w, r, http.StatusOK, tok, "")
		return nil
	case http.MethodPost:
	default:
		methodNotAllowed(w, "GET, HEAD, POST")
		return nil
	}
	if status, msg, ok := p.readForm(w, r, msgExpired); !ok {
		p.message(w, status, "Password not changed", msg, "")
		return nil
	}
	tok := r.PostForm.Get("token")
	if !wellFormedRefresh(tok) {
		p.message(w, http.StatusBadRequest, "Invalid link", msgResetInvalid, "")
		return nil
	}
	if !p.csrfOK(r) {
		p.resetForm(w, r, http.StatusForbidden, tok, msgExpired)
		return nil
	}
	pw := r.PostForm.Get("new_password")
	if pw != r.PostForm.Get("confirm_password") {
		p.resetForm(w, r, http.StatusBadRequest, tok, msgPasswordsDiffer)
		return nil
	}
	err := p.s.ResetPassword(r.Context(), ResetPasswordRequest{Token: tok, NewPassword: pw, ClientIP: p.s.clientIP(r)})
	if errors.Is(err, ErrInvalidResetLink) {
		p.message(w, http.StatusBadRequest, "Invalid link", msgResetInvalid, "")
		return nil
	}
	if status, msg := p.passwordFailure(w, r, err, msgResetInvalid); status != 0 {
		p.resetForm(w, r, status, tok, msg)
		return nil
	}
	// Whatever session this browser held has just been revoked.
	p.clearSession(w)
	p.render(w, http.StatusOK, messageTmpl, view{Title: "Password changed", Notice: msgResetDone, Retry: p.base + PathLogin})
	return nil
}

func (p *pages) resetForm(w http.ResponseWriter, r *http.Request, status int, tok, msg string) {
	p.render(w, status, resetTmpl, view{
		Title: "Choose a new password", Action: p.base + PathReset, CSRF: p.csrfToken(w, r), Token: tok, Error: msg,
	})
}
