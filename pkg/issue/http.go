package issue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/internal/strictjson"
	"github.com/vexen/vexen-auth/pkg/audit"
)

// Handler returns the HTTP API:
//
//	POST /v1/login                          {"email","password"} → 200 token pair
//	POST /v1/refresh                        {"refresh_token"} → 200 token pair
//	POST /v1/logout                         {"refresh_token"} or Authorization: Bearer → 204
//	POST /v1/logout-all                     Authorization: Bearer → 204
//	GET  /v1/sessions                       Authorization: Bearer → 200 [sessions]
//	POST /v1/password                       {"current_password","new_password"}, Bearer → 204
//	POST /v1/password/reset                 {"token","new_password"} → 204
//	GET  /.well-known/jwks.json             the JWKS
//	GET  /.well-known/openid-configuration  discovery
//	GET  /healthz, /readyz                  liveness, readiness (store, Redis)
//
// and the browser pages (HTML, see the package documentation):
//
//	GET  /login?rd=URL     the sign-in form, or a silent refresh and 303 to rd
//	POST /login            email, password, rd, csrf_token → cookies, 303 to rd
//	GET|POST /logout?rd=   revoke the session, clear the cookies, 303 to rd
//	GET  /                 who is signed in, a sign-out button, a change-password form
//	POST /password         current_password, new_password, csrf_token → the account page
//	GET|POST /reset        a reset link's new-password form (token, new_password, confirm_password)
//
// /metrics is not served here: the program serves its registry on a private listener
// (the login counters by result would tell anyone whether an email has an account). Every error is
// {"error": CODE, "error_description": TEXT}, with the status chosen in one table:
//
//	400 invalid_request       malformed JSON, unknown field, trailing data, missing field
//	413 invalid_request       body over 1 MiB
//	415 invalid_request       Content-Type is not application/json
//	400 invalid_reset_link    reset link unknown, expired or already used
//	401 invalid_credentials   wrong password, unknown email, disabled user (alike)
//	401 invalid_grant         refresh token unknown, expired, reused or revoked
//	401 invalid_token         bearer token missing, invalid, expired, or its session ended
//	401 mfa_required          password right, second factor owed: {"mfa_token","methods"}
//	401 invalid_mfa_token     mfa_token unknown, expired or used
//	401 invalid_code          second-factor code wrong or replayed, recovery code used
//	409 mfa_already_enabled, no_factor; 501 not_supported (a store without factors)
//	404 not_found, 405 method_not_allowed
//	429 rate_limited          with Retry-After in whole seconds
//	500 server_error, 503 temporarily_unavailable (readyz: not_ready)
func (s *Service) Handler() http.Handler { return s.handler }

type route struct {
	endpoint string
	method   string // GET routes also answer HEAD; "" for pages, which check methods themselves
	serve    func(http.ResponseWriter, *http.Request) error
}

type apiHandler struct {
	s      *Service
	routes map[string]route
	// jwksCacheControl lets an HTTP cache in front keep the JWKS a quarter of
	// --key-prepublish at most (60 s at most): a cached copy never hides a
	// prepublished key for long.
	jwksCacheControl string
}

func newAPIHandler(s *Service) *apiHandler {
	maxAge := min(60*time.Second, s.cfg.KeyPrepublish/4)
	h := &apiHandler{s: s, jwksCacheControl: fmt.Sprintf("public, max-age=%d", int(maxAge/time.Second))}
	p := newPages(s)
	h.routes = map[string]route{
		PathLogin:                           {epLoginPage, "", p.login},
		PathLogout:                          {epLogoutPage, "", p.logout},
		PathAccount:                         {epAccount, "", p.account},
		PathPassword:                        {epPasswordPage, "", p.password},
		PathReset:                           {epResetPage, "", p.reset},
		"/v1/password":                      {epPassword, http.MethodPost, h.changePassword},
		"/v1/password/reset":                {epPasswordReset, http.MethodPost, h.resetPassword},
		PathMFAPage:                         {epAccount, "", p.mfaPage},
		PathPasskeys:                        {epAccount, "", p.passkeysPage},
		PathPasskeyLogin:                    {epLoginPage, "", p.passkeyLogin},
		"/v1/login":                         {epLogin, http.MethodPost, h.login},
		"/v1/refresh":                       {epRefresh, http.MethodPost, h.refresh},
		"/v1/logout":                        {epLogout, http.MethodPost, h.logout},
		"/v1/logout-all":                    {epLogoutAll, http.MethodPost, h.logoutAll},
		"/v1/sessions":                      {epSessions, http.MethodGet, h.sessions},
		PathLoginMFA:                        {epLoginMFA, http.MethodPost, h.loginMFA},
		PathStepUp:                          {epLoginMFA, http.MethodPost, h.stepUp},
		PathTOTP:                            {epMFA, "", h.totp},
		PathTOTPConfirm:                     {epMFA, http.MethodPost, h.totpConfirm},
		"/.well-known/jwks.json":            {epJWKS, http.MethodGet, h.jwks},
		"/.well-known/openid-configuration": {epDiscovery, http.MethodGet, h.discovery},
		"/healthz":                          {epHealthz, http.MethodGet, h.healthz},
		"/readyz":                           {epReadyz, http.MethodGet, h.readyz},
	}
	if s.fed != nil {
		for _, fp := range s.fed.order {
			pre := "/oidc/" + fp.cfg.ID
			h.routes[pre+fedStart] = route{epOIDCStart, "", func(w http.ResponseWriter, r *http.Request) error { return fp.start(p, w, r) }}
			h.routes[pre+fedCallback] = route{epOIDCCallback, "", func(w http.ResponseWriter, r *http.Request) error { return fp.callback(p, w, r) }}
			h.routes[pre+fedBackchannel] = route{epOIDCBackchannel, http.MethodPost, fp.backchannel}
			h.routes[pre+fedLoggedOut] = route{epOIDCLoggedOut, "", func(w http.ResponseWriter, r *http.Request) error { return fp.loggedOutPage(p, w, r) }}
		}
	}
	return h
}

// statusWriter remembers the status for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	rt, found := h.routes[r.URL.Path]
	ep := epNotFound
	if found {
		ep = rt.endpoint
	}
	var span trace.Span
	if h.s.tracer != nil {
		var ctx context.Context
		ctx, span = h.s.startSpan(r, ep, found)
		r = r.WithContext(ctx)
	}
	defer func() {
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		if span != nil {
			endSpan(span, code)
		}
		h.s.m.requests.WithLabelValues(ep, strconv.Itoa(code)).Inc()
		h.s.m.duration[ep].Observe(time.Since(start).Seconds())
	}()
	hdr := sw.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	switch {
	case !found:
		writeError(sw, http.StatusNotFound, "not_found", "no such endpoint")
		return
	case rt.method != "" && r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead):
		allow := rt.method
		if rt.method == http.MethodGet {
			allow = "GET, HEAD"
		}
		hdr.Set("Allow", allow)
		writeError(sw, http.StatusMethodNotAllowed, "method_not_allowed", "use "+rt.method)
		return
	}
	if h.s.audit != nil {
		via := "api"
		if ep == epLoginPage || ep == epLogoutPage || ep == epAccount || ep == epPasswordPage || ep == epResetPage ||
			ep == epOIDCStart || ep == epOIDCCallback || ep == epOIDCLoggedOut {
			via = "browser"
		}
		r = r.WithContext(audit.WithClient(r.Context(), audit.Client{IP: h.s.clientIP(r), UserAgent: r.UserAgent(), Via: via}))
	}
	if err := rt.serve(sw, r); err != nil {
		h.fail(sw, r, err)
	}
}

// requestError is a client mistake with a status and a safe description.
type requestError struct {
	status int
	desc   string
}

func (e *requestError) Error() string { return "issue: invalid request: " + e.desc }
func (e *requestError) Unwrap() error { return ErrInvalidRequest }

func badRequest(desc string) error { return &requestError{http.StatusBadRequest, desc} }

// fail answers an error: the status table of Handler's documentation.
func (h *apiHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var rq *requestError
	var rl *RateLimitError
	if h.failMFA(w, err) {
		return
	}
	switch {
	case errors.As(err, &rq):
		writeError(w, rq.status, "invalid_request", rq.desc)
	case errors.Is(err, ErrInvalidRequest):
		writeError(w, http.StatusBadRequest, "invalid_request", clientText(err, ErrInvalidRequest))
	case errors.Is(err, ErrWeakPassword):
		writeError(w, http.StatusBadRequest, "invalid_request", "new_password "+clientText(err, ErrWeakPassword))
	case errors.Is(err, ErrInvalidResetLink):
		writeError(w, http.StatusBadRequest, "invalid_reset_link", "the reset link is invalid, expired or already used")
	case errors.As(err, &rl):
		retryAfter(w, rl)
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many attempts; retry later")
	case errors.Is(err, ErrInvalidCredentials):
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "invalid email or password")
	case errors.Is(err, ErrInvalidGrant):
		writeError(w, http.StatusUnauthorized, "invalid_grant", "the refresh token is invalid, expired or revoked")
	case errors.Is(err, errNoBearer):
		w.Header().Set("WWW-Authenticate", `Bearer realm="vexen"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required")
	case errors.Is(err, ErrInvalidToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="vexen", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired, or its session ended")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "request cancelled")
	default:
		h.s.log.Error("issuer request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
	}
}

// retryAfter sets the Retry-After header of a throttled answer: whole seconds,
// rounded up, at least 1. It returns the seconds.
func retryAfter(w http.ResponseWriter, rl *RateLimitError) int64 {
	secs := max(int64(math.Ceil(rl.RetryAfter.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return secs
}

// clientText is the part of err's message after the sentinel's, e.g. "email and
// password are required" from "issue: invalid request: email and password are required".
func clientText(err, sentinel error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok {
		return rest
	}
	return strings.TrimPrefix(msg, "issue: ")
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, errorBody{code, desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readBody reads at most MaxBodyBytes; more is a 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &requestError{http.StatusRequestEntityTooLarge, "request body larger than 1 MiB"}
	}
	if err != nil {
		return nil, badRequest("could not read the request body")
	}
	return b, nil
}

// decodeJSON reads the body strictly: Content-Type application/json, one JSON object,
// no unknown fields, names spelled exactly ("EMAIL" is unknown), no field given twice,
// nothing after it but blanks. An empty body is allowed only when
// optional (then dst is untouched and ok is false).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, optional bool) (ok bool, err error) {
	body, err := readBody(w, r)
	if err != nil {
		return false, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return false, nil
		}
		return false, badRequest("a JSON body is required")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false, &requestError{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false, &requestError{http.StatusUnsupportedMediaType, "JSON must be UTF-8"}
	}
	if bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return false, badRequest("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return false, badRequest("field " + strconv.Quote(typeErr.Field) + " has the wrong type")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return false, badRequest(strings.TrimPrefix(err.Error(), "json: "))
		default:
			return false, badRequest("the body is not valid JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, badRequest("unexpected data after the JSON object")
	}
	// encoding/json matches names ignoring case and keeps the last of a member given
	// twice; the API's names are exact and given once.
	fields := jsonFields(dst)
	err = strictjson.Members(body, func(name, _ []byte) error {
		if !slices.Contains(fields, string(name)) {
			return badRequest("unknown field " + strconv.Quote(string(name)))
		}
		return nil
	})
	var reqErr *requestError
	switch {
	case errors.As(err, &reqErr):
		return false, err
	case errors.Is(err, strictjson.ErrDuplicate):
		return false, badRequest("a field is given twice")
	case err != nil:
		return false, badRequest("the body is not valid JSON")
	}
	return true, nil
}

// jsonFields lists the JSON member names of the struct dst points to.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst).Elem()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

var errNoBearer = errors.New("issue: no bearer token")

// bearer returns the token of "Authorization: Bearer TOKEN", or errNoBearer.
func bearer(r *http.Request) (string, error) {
	v := r.Header.Get("Authorization")
	if v == "" {
		return "", errNoBearer
	}
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errNoBearer
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", ErrInvalidToken
	}
	return tok, nil
}

// clientIP is the peer's address, or, when the peer is a trusted proxy, the rightmost
// address in X-Forwarded-For that is not a trusted proxy (all of them trusted: the
// leftmost). A malformed entry ends the walk at the last good address.
func (s *Service) clientIP(r *http.Request) netip.Addr {
	var peer netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		peer = ap.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		peer = a.Unmap()
	}
	if !peer.IsValid() || !s.isTrusted(peer) {
		return peer
	}
	values := r.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, ok := parseHop(strings.TrimSpace(hops[j]))
			if !ok {
				return client
			}
			client = a
			if !s.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

func parseHop(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func (s *Service) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (h *apiHandler) login(w http.ResponseWriter, r *http.Request) error {
	if h.s.cfg.NoPasswordLogin {
		writeError(w, http.StatusForbidden, "access_denied", "password sign-in is switched off")
		return nil
	}
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if _, err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	pair, err := h.s.Login(r.Context(), LoginRequest{
		Email: body.Email, Password: body.Password, ClientIP: h.s.clientIP(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pair)
	return nil
}

func (h *apiHandler) refresh(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if _, err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.RefreshToken == "" {
		return badRequest("refresh_token is required")
	}
	pair, err := h.s.Refresh(r.Context(), RefreshRequest{RefreshToken: body.RefreshToken, ClientIP: h.s.clientIP(r)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pair)
	return nil
}

// logout takes the refresh token from the body when there is one, else the bearer
// access token (which may be expired; see LogoutAccess).
func (h *apiHandler) logout(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if _, err := decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	if body.RefreshToken != "" {
		if err := h.s.Logout(r.Context(), body.RefreshToken); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	tok, err := bearer(r)
	if errors.Is(err, errNoBearer) {
		return badRequest("a refresh_token or a bearer access token is required")
	}
	if err != nil {
		return err
	}
	if err := h.s.LogoutAccess(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *apiHandler) logoutAll(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearer(r)
	if err != nil {
		return err
	}
	if _, err := h.s.LogoutAll(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// SessionInfo is one entry of GET /v1/sessions.
type SessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"` // the session of the token that asked
}

func (h *apiHandler) sessions(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearer(r)
	if err != nil {
		return err
	}
	c, list, err := h.s.Sessions(r.Context(), tok)
	if err != nil {
		return err
	}
	out := make([]SessionInfo, 0, len(list))
	for _, x := range list {
		last := x.LastUsedAt
		if last.IsZero() {
			last = x.CreatedAt
		}
		out = append(out, SessionInfo{
			ID: x.ID, CreatedAt: x.CreatedAt.UTC(), LastUsedAt: last.UTC(), ExpiresAt: x.ExpiresAt.UTC(),
			UserAgent: x.UserAgent, IP: x.IP, Current: x.ID == c.SessionID,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *apiHandler) jwks(w http.ResponseWriter, r *http.Request) error {
	b := h.s.JWKS()
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", h.jwksCacheControl)
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// Discovery is the document at /.well-known/openid-configuration: the issuer, its
// JWKS, the algorithms it signs with, and the endpoints of this API.
type Discovery struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	AccessTokenSigningAlgValues      []string `json:"access_token_signing_alg_values_supported"`
	LoginEndpoint                    string   `json:"login_endpoint"`
	RefreshEndpoint                  string   `json:"refresh_endpoint"`
	LogoutEndpoint                   string   `json:"logout_endpoint"`
	LogoutAllEndpoint                string   `json:"logout_all_endpoint"`
	SessionsEndpoint                 string   `json:"sessions_endpoint"`
}

// Discovery returns the discovery document.
func (s *Service) Discovery() Discovery {
	base := strings.TrimRight(s.cfg.IssuerURL, "/")
	algs := []string{s.cfg.Alg}
	return Discovery{
		Issuer:                           s.cfg.IssuerURL,
		JWKSURI:                          base + "/.well-known/jwks.json",
		ResponseTypesSupported:           []string{"token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: algs,
		AccessTokenSigningAlgValues:      algs,
		LoginEndpoint:                    base + "/v1/login",
		RefreshEndpoint:                  base + "/v1/refresh",
		LogoutEndpoint:                   base + "/v1/logout",
		LogoutAllEndpoint:                base + "/v1/logout-all",
		SessionsEndpoint:                 base + "/v1/sessions",
	}
}

func (h *apiHandler) discovery(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, h.s.Discovery())
	return nil
}

type statusBody struct {
	Status string `json:"status"`
}

func (h *apiHandler) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, statusBody{"ok"})
	return nil
}

// readyTimeout bounds the readiness probes.
const readyTimeout = 2 * time.Second

func (h *apiHandler) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := h.s.Ready(ctx); err != nil {
		h.s.log.Warn("not ready", "err", err)
		what := "store unreachable"
		if errors.Is(err, errRedisDown) {
			what = "redis unreachable"
		}
		writeError(w, http.StatusServiceUnavailable, "not_ready", what)
		return nil
	}
	writeJSON(w, http.StatusOK, statusBody{"ok"})
	return nil
}
