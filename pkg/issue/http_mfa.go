package issue

import (
	"errors"
	"net/http"
)

// The second factor's API (see Handler):
//
//	POST   /v1/login/mfa          {"mfa_token","code"} → 200 token pair
//	POST   /v1/login/step-up      Authorization: Bearer → 401 mfa_required with an mfa_token
//	POST   /v1/mfa/totp           Authorization: Bearer → 200 {"secret","otpauth_url"}
//	POST   /v1/mfa/totp/confirm   Authorization: Bearer, {"code"} → 200 {"recovery_codes"}
//	DELETE /v1/mfa/totp           Authorization: Bearer, {"code"} → 204
const (
	PathLoginMFA    = "/v1/login/mfa"
	PathStepUp      = "/v1/login/step-up"
	PathTOTP        = "/v1/mfa/totp"
	PathTOTPConfirm = "/v1/mfa/totp/confirm"
)

// mfaRequiredBody is the 401 of a login that owes its second factor.
type mfaRequiredBody struct {
	Error       string   `json:"error"`
	Description string   `json:"error_description"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"methods"`
	ExpiresIn   int64    `json:"expires_in"`
}

// failMFA answers the second factor's errors; false when err is none of them.
func (h *apiHandler) failMFA(w http.ResponseWriter, err error) bool {
	var req *MFARequiredError
	switch {
	case errors.As(err, &req):
		writeJSON(w, http.StatusUnauthorized, mfaRequiredBody{
			Error: "mfa_required", Description: "a second factor is required",
			MFAToken: req.Token, Methods: req.Methods, ExpiresIn: int64(MFATokenTTL.Seconds()),
		})
	case errors.Is(err, ErrInvalidMFAToken):
		writeError(w, http.StatusUnauthorized, "invalid_mfa_token", "the mfa_token is invalid, expired or used")
	case errors.Is(err, ErrInvalidCode):
		writeError(w, http.StatusUnauthorized, "invalid_code", "the code is wrong or was already used")
	case errors.Is(err, ErrFactorExists):
		writeError(w, http.StatusConflict, "mfa_already_enabled", "a TOTP factor is already enabled; remove it first")
	case errors.Is(err, ErrNoFactor):
		writeError(w, http.StatusConflict, "no_factor", "no such second factor")
	case errors.Is(err, ErrMFAUnsupported):
		writeError(w, http.StatusNotImplemented, "not_supported", "second factors are not available with this store")
	default:
		return false
	}
	return true
}

func (h *apiHandler) loginMFA(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		MFAToken string `json:"mfa_token"`
		Code     string `json:"code"`
	}
	if _, err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	pair, err := h.s.LoginMFA(r.Context(), LoginMFARequest{
		MFAToken: body.MFAToken, Code: body.Code, ClientIP: h.s.clientIP(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pair)
	return nil
}

func (h *apiHandler) stepUp(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearer(r)
	if err != nil {
		return err
	}
	return h.s.StepUp(r.Context(), tok, r.UserAgent(), h.s.clientIP(r))
}

// totp serves POST (enrol) and DELETE (remove, with a code) on /v1/mfa/totp.
func (h *apiHandler) totp(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodPost:
		tok, err := bearer(r)
		if err != nil {
			return err
		}
		e, err := h.s.EnrolTOTP(r.Context(), tok)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, e)
	case http.MethodDelete:
		tok, err := bearer(r)
		if err != nil {
			return err
		}
		var body struct {
			Code string `json:"code"`
		}
		if _, err := decodeJSON(w, r, &body, false); err != nil {
			return err
		}
		if err := h.s.RemoveTOTP(r.Context(), tok, body.Code, h.s.clientIP(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST or DELETE")
	}
	return nil
}

func (h *apiHandler) totpConfirm(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearer(r)
	if err != nil {
		return err
	}
	var body struct {
		Code string `json:"code"`
	}
	if _, err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	codes, err := h.s.ConfirmTOTP(r.Context(), tok, body.Code, h.s.clientIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}{codes})
	return nil
}
