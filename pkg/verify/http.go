package verify

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

// Browser handling is the caller's explicit choice: a proxy route asks for it
// with ?mode=browser on the verifier's /auth URL, or with this header.
const (
	ModeHeader  = "X-Auth-Mode"
	ModeBrowser = "browser"
)

// readyTimeout bounds /readyz's probes.
const readyTimeout = 2 * time.Second

// Answers are fixed: bodies and header values are built once and assigned into
// the response's header map, so the allowed path does not allocate.
var (
	bodyUnauthorized = []byte("unauthorized\n")
	bodyForbidden    = []byte("forbidden\n")
	bodyBadRequest   = []byte("bad request\n")
	bodyUnavailable  = []byte("unavailable\n")
	bodyNotFound     = []byte("not found\n")
	bodyOK           = []byte("ok\n")

	hdrTextPlain  = []string{"text/plain; charset=utf-8"}
	hdrNoSniff    = []string{"nosniff"}
	hdrNoStore    = []string{"no-store"}
	hdrRetryAfter = []string{"1"}
	hdrChallenge  = []string{`Bearer realm="vexen"`}
	hdrInvalidTok = []string{`Bearer realm="vexen", error="invalid_token"`}
	hdrNeedMFA    = []string{ChallengeMFA}
	hdrAllowGET   = []string{"GET, HEAD"}
)

// Canonical header keys, read and written through the map directly.
const (
	keyAuthorization = "Authorization"
	keyCookie        = "Cookie"
	keyTraceParent   = "Traceparent"
	keyTraceState    = "Tracestate"
	keyFwdMethod     = "X-Forwarded-Method"
	keyFwdProto      = "X-Forwarded-Proto"
	keyFwdHost       = "X-Forwarded-Host"
	keyFwdURI        = "X-Forwarded-Uri"
	keyFwdFor        = "X-Forwarded-For"
	keyRealIP        = "X-Real-Ip"
	keyOrigMethod    = "X-Original-Method"
	keyOrigURI       = "X-Original-Uri"
	keyOrigURL       = "X-Original-Url"
	keyOrigHost      = "X-Original-Host"
	keyAccept        = "Accept"
	keySecFetchMode  = "Sec-Fetch-Mode"
	keyRequestedWith = "X-Requested-With"
	keyAuthUser      = "X-Auth-User"
	keyAuthEmail     = "X-Auth-Email"
	keyAuthRoles     = "X-Auth-Roles"
	keyAuthSession   = "X-Auth-Session"
	keyAuthAMR       = "X-Auth-Amr" // canonical form of X-Auth-AMR
	keyContentType   = "Content-Type"
	keyNoSniff       = "X-Content-Type-Options"
	keyCacheControl  = "Cache-Control"
	keyRetryAfter    = "Retry-After"
	keyWWWAuth       = "Www-Authenticate"
	keyLocation      = "Location"
	keyAllow         = "Allow"
	authPath         = "/auth"
	authPathSlash    = "/auth/"
	modeQueryParam   = "mode"
	returnQueryParam = "rd"
	rolesQueryParam  = "roles"
	mfaQueryParam    = "mfa"
)

// ChallengeMFA is the WWW-Authenticate value of a valid token that lacks the
// second factor a rule or location requires (RFC 9470 step-up).
const ChallengeMFA = `Bearer realm="vexen", error="insufficient_user_authentication"`

// LoginMFAParam is added to the login redirect (as LoginMFAParam=1) when the
// user must sign in again with a second factor.
const LoginMFAParam = "mfa"

// Handler serves the decision endpoint and health checks:
//
//	/auth, /auth/…  any method: 200 with X-Auth-User, X-Auth-Email, X-Auth-Roles,
//	                X-Auth-Session, X-Auth-AMR; 401 with WWW-Authenticate; 403; 503 with Retry-After;
//	                302 to LoginURL for a browser navigation that opted in
//	/healthz        200 while the process serves
//	/readyz         200 when Ready, else 503
//
// /metrics is not served here: the program adds it beside this handler.
func (v *Verifier) Handler() http.Handler { return &handler{v: v} }

type handler struct{ v *Verifier }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == authPath || strings.HasPrefix(p, authPathSlash):
		h.auth(w, r)
	case p == "/healthz":
		h.health(w, r, nil)
	case p == "/readyz":
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := h.v.Ready(ctx)
		cancel()
		if err != nil {
			h.v.log.WarnContext(r.Context(), "not ready", "err", err)
		}
		h.health(w, r, err)
	default:
		writeText(w, http.StatusNotFound, bodyNotFound)
	}
}

func (h *handler) health(w http.ResponseWriter, r *http.Request, err error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()[keyAllow] = hdrAllowGET
		writeText(w, http.StatusMethodNotAllowed, nil)
		return
	}
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, bodyUnavailable)
		return
	}
	writeText(w, http.StatusOK, bodyOK)
}

func writeText(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	hd[keyContentType] = hdrTextPlain
	hd[keyNoSniff] = hdrNoSniff
	hd[keyCacheControl] = hdrNoStore
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// auth is the thin adapter: build the Request from the proxy's question, Decide,
// write the answer.
func (h *handler) auth(w http.ResponseWriter, r *http.Request) {
	v := h.v
	hd := r.Header
	var req Request
	o := v.original(r, &req)
	req.Token, req.Source = extractToken(hd, v.cfg.CookieName)
	req.Browser = v.cfg.LoginURL != "" && browserRequested(r) && navigation(hd, req.Method, req.Source)
	req.RequireRoles, req.RequireMFA = tightening(r)
	// W3C trace context from the proxy, for a decision that is traced (two map
	// lookups; nothing is parsed on the cached path).
	req.TraceParent, req.TraceState = first(hd, keyTraceParent), first(hd, keyTraceState)

	d, err := v.Decide(r.Context(), &req)
	out := w.Header()
	switch {
	case err != nil || d.Status == http.StatusServiceUnavailable:
		out[keyRetryAfter] = hdrRetryAfter
		writeText(w, http.StatusServiceUnavailable, bodyUnavailable)
	case d.Allow:
		// A public rule's anonymous request gets no identity headers.
		if id := d.Identity; id != nil {
			out[keyAuthUser] = id.UserHeader()
			out[keyAuthEmail] = id.EmailHeader()
			out[keyAuthRoles] = id.RolesHeader()
			out[keyAuthSession] = id.SessionHeader()
			if amr := id.AMRHeader(); amr != nil {
				out[keyAuthAMR] = amr
			}
		}
		out[keyCacheControl] = hdrNoStore
		w.WriteHeader(http.StatusOK)
	case d.Status == http.StatusForbidden:
		writeText(w, http.StatusForbidden, bodyForbidden)
	case d.Status == http.StatusBadRequest:
		writeText(w, http.StatusBadRequest, bodyBadRequest)
	default:
		if req.Browser {
			out[keyLocation] = []string{v.loginRedirect(o.scheme, req.Host, req.Path, d.Reason == ReasonMFARequired)}
			writeText(w, http.StatusFound, nil)
			return
		}
		if d.Reason == ReasonMFARequired {
			out[keyWWWAuth] = hdrNeedMFA
		} else if req.Source == SourceNone {
			out[keyWWWAuth] = hdrChallenge
		} else {
			out[keyWWWAuth] = hdrInvalidTok
		}
		writeText(w, http.StatusUnauthorized, bodyUnauthorized)
	}
}

// origin is what the adapter learnt about the original request beyond Request.
type origin struct {
	scheme string // "" when no proxy said
}

// original fills method, host, path and client of the original request. Proxy
// headers (X-Forwarded-*, X-Original-*) count only from a trusted peer; otherwise,
// and for what they leave out, the request to /auth itself answers: its method,
// Host, and the path after /auth/ (Envoy's HTTP ext_authz appends the original path).
func (v *Verifier) original(r *http.Request, req *Request) origin {
	var o origin
	hd := r.Header
	peer := peerAddr(r.RemoteAddr)
	trusted := peer.IsValid() && v.trusted(peer)
	req.Method, req.Host, req.Client = r.Method, r.Host, peer
	if suffix, ok := strings.CutPrefix(r.RequestURI, authPath); ok && strings.HasPrefix(suffix, "/") {
		req.Path = suffix
	}
	if !trusted {
		return o
	}
	if m := first(hd, keyFwdMethod); m != "" {
		req.Method = m
	} else if m := first(hd, keyOrigMethod); m != "" {
		req.Method = m
	}
	if u := first(hd, keyOrigURL); u != "" {
		// nginx: X-Original-URL = $scheme://$http_host$request_uri
		if scheme, rest, ok := strings.Cut(u, "://"); ok {
			o.scheme = scheme
			host, path := rest, "/"
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				host, path = rest[:i], rest[i:]
			}
			req.Host, req.Path = host, path
		}
	}
	if u := first(hd, keyFwdURI); u != "" {
		req.Path = u
	} else if u := first(hd, keyOrigURI); u != "" {
		req.Path = u
	}
	if host := first(hd, keyFwdHost); host != "" {
		req.Host = host
	} else if host := first(hd, keyOrigHost); host != "" {
		req.Host = host
	}
	if p := first(hd, keyFwdProto); p != "" {
		o.scheme = p
	}
	req.Client = v.clientAddr(hd, peer)
	return o
}

func (v *Verifier) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range v.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the rightmost X-Forwarded-For address that is not a trusted proxy
// (X-Real-IP when there is none), else the peer.
func (v *Verifier) clientAddr(hd http.Header, peer netip.Addr) netip.Addr {
	xff := hd[keyFwdFor]
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			item := list
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				item, list = list[j+1:], list[:j]
			} else {
				list = ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(item))
			if err != nil {
				return peer
			}
			if !v.trusted(a) {
				return a.Unmap()
			}
		}
	}
	if ip := first(hd, keyRealIP); ip != "" {
		if a, err := netip.ParseAddr(ip); err == nil {
			return a.Unmap()
		}
	}
	return peer
}

func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func first(hd http.Header, key string) string {
	if v := hd[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// extractToken reads "Authorization: Bearer …" (scheme case-insensitive), else
// the access-token cookie, without allocating.
func extractToken(hd http.Header, cookie string) (string, TokenSource) {
	for _, a := range hd[keyAuthorization] {
		if tok, ok := bearer(a); ok {
			return tok, SourceHeader
		}
	}
	for _, line := range hd[keyCookie] {
		if tok, ok := cookieValue(line, cookie); ok {
			return tok, SourceCookie
		}
	}
	return "", SourceNone
}

func bearer(a string) (string, bool) {
	const scheme = "bearer"
	if len(a) <= len(scheme)+1 || !strings.EqualFold(a[:len(scheme)], scheme) || (a[len(scheme)] != ' ' && a[len(scheme)] != '\t') {
		return "", false
	}
	tok := strings.Trim(a[len(scheme)+1:], " \t\r\n")
	return tok, tok != ""
}

// cookieValue finds name in one Cookie header line ("a=1; b=2").
func cookieValue(line, name string) (string, bool) {
	for line != "" {
		part := line
		if i := strings.IndexByte(line, ';'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			line = ""
		}
		part = strings.Trim(part, " \t")
		k, val, ok := strings.Cut(part, "=")
		if !ok || k != name {
			continue
		}
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if val != "" {
			return val, true
		}
	}
	return "", false
}

// tightening reads a location's ?roles=a,b and ?mfa=1 (also mfa=true) on the
// /auth URL itself (not on an /auth/… Envoy path, whose query is the original
// request's). Only a value with escapes allocates.
func tightening(r *http.Request) (roles string, mfa bool) {
	if r.URL.Path != authPath {
		return "", false
	}
	q := r.URL.RawQuery
	for q != "" {
		part := q
		if i := strings.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			q = ""
		}
		k, val, _ := strings.Cut(part, "=")
		switch k {
		case rolesQueryParam:
			if strings.ContainsAny(val, "%+") {
				if u, err := url.QueryUnescape(val); err == nil {
					val = u
				} else {
					val = "\x00" // matches no role: an unreadable requirement is not met
				}
			}
			if roles != "" {
				// Given twice: which one the proxy meant is a guess; require a role
				// nobody has (fail closed) rather than the union of both.
				val = "\x00"
			}
			roles = val
		case mfaQueryParam:
			mfa = mfa || val == "1" || val == "true"
		}
	}
	return roles, mfa
}

// browserRequested: the proxy route asked for browser handling, with ?mode=browser
// on the /auth URL itself (not on an /auth/… Envoy path, whose query is the
// original request's) or with X-Auth-Mode: browser.
func browserRequested(r *http.Request) bool {
	if strings.EqualFold(first(r.Header, ModeHeader), ModeBrowser) {
		return true
	}
	if r.URL.Path != authPath {
		return false
	}
	q := r.URL.RawQuery
	for q != "" {
		part := q
		if i := strings.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			q = ""
		}
		if k, val, _ := strings.Cut(part, "="); k == modeQueryParam && val == ModeBrowser {
			return true
		}
	}
	return false
}

// navigation: what a browser's top-level navigation looks like: GET or HEAD,
// HTML accepted, no fetch/XHR markers, credentials from the cookie (a script sends
// Authorization; an API client gets its 401).
func navigation(hd http.Header, method string, src TokenSource) bool {
	if method != http.MethodGet && method != http.MethodHead || src == SourceHeader {
		return false
	}
	if m := first(hd, keySecFetchMode); m != "" && m != "navigate" {
		return false
	}
	if first(hd, keyRequestedWith) != "" {
		return false
	}
	for _, a := range hd[keyAccept] {
		if strings.Contains(a, "text/html") {
			return true
		}
	}
	return false
}

// loginRedirect is LoginURL with the original URL as rd, when that URL's host is
// allowed and it is well-formed (hostlist.List.ReturnURL); otherwise without rd.
// With mfa, the login page is asked for a second factor (LoginMFAParam=1).
func (v *Verifier) loginRedirect(scheme, host, uri string, mfa bool) string {
	login := v.cfg.LoginURL
	if mfa {
		login = hostlist.AddReturn(login, LoginMFAParam, "1")
	}
	rd, ok := v.redirectTo.ReturnURL(scheme, host, uri)
	if !ok {
		return login
	}
	return hostlist.AddReturn(login, returnQueryParam, rd)
}
