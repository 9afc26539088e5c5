package extauthz

import (
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/vexen/vexen-auth/pkg/verify"
)

// headers reads request headers from an Envoy CheckRequest in either of its two
// encodings: the lower-cased, comma-merged map (the default), or the raw header list
// Envoy sends instead when the filter sets encode_raw_headers.
type headers struct {
	m   map[string]string
	raw []*corev3.HeaderValue
}

func headersOf(h *authv3.AttributeContext_HttpRequest) headers {
	return headers{m: h.GetHeaders(), raw: h.GetHeaderMap().GetHeaders()}
}

// get returns the value of the header name (lower case), merging repeated raw
// headers with sep as Envoy merges them in the map form. The map's keys are lower
// case (the CheckRequest contract), so it is one lookup.
func (h headers) get(name, sep string) string {
	if len(h.m) > 0 {
		return h.m[name]
	}
	var out string
	n := 0
	for _, hv := range h.raw {
		if !strings.EqualFold(hv.GetKey(), name) {
			continue
		}
		v := hv.GetValue()
		if rv := hv.GetRawValue(); len(rv) > 0 {
			v = string(rv)
		}
		if n == 0 {
			out = v
		} else {
			out = out + sep + v
		}
		n++
	}
	return out
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" value. The
// scheme is matched case-insensitively (RFC 9110 §11.1); spaces around the token are
// dropped. ok is false for any other scheme and for an empty token.
func bearerToken(authorization string) (token string, ok bool) {
	const scheme = "bearer"
	v := strings.TrimLeft(authorization, " \t")
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	if c := v[len(scheme)]; c != ' ' && c != '\t' {
		return "", false
	}
	token = strings.Trim(v[len(scheme)+1:], " \t")
	return token, token != ""
}

// cookieValue returns the value of the first cookie called name in a Cookie header
// value. Pairs are separated by ';' (RFC 6265) or ',' (how Envoy merges repeated
// Cookie headers); a value in double quotes is unquoted, as net/http does. ok is false
// when there is no such cookie or its value is empty.
func cookieValue(header, name string) (value string, ok bool) {
	if name == "" {
		return "", false
	}
	for len(header) > 0 {
		var part string
		if i := strings.IndexAny(header, ";,"); i >= 0 {
			part, header = header[:i], header[i+1:]
		} else {
			part, header = header, ""
		}
		part = strings.Trim(part, " \t")
		k, v, found := strings.Cut(part, "=")
		if !found || strings.TrimRight(k, " \t") != name {
			continue
		}
		v = strings.Trim(v, " \t")
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, v != ""
	}
	return "", false
}

// clientAddr is the downstream client's IP address as Envoy reported it, or the zero
// Addr when Envoy sent none (a pipe, or a malformed address).
func clientAddr(a *authv3.AttributeContext) netip.Addr {
	s := a.GetSource().GetAddress().GetSocketAddress().GetAddress()
	if s == "" {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// navigation reports whether a request looks like a browser's top-level
// navigation, by the HTTP endpoint's rule: GET or HEAD, credentials not from an
// Authorization header (a script sends one; an API client gets its 401), no
// fetch/XHR markers (Sec-Fetch-Mode other than "navigate", X-Requested-With), and
// an Accept header naming text/html.
func navigation(h headers, method string, src verify.TokenSource) bool {
	if method != "GET" && method != "HEAD" || src == verify.SourceHeader {
		return false
	}
	if m := h.get("sec-fetch-mode", ","); m != "" && m != "navigate" {
		return false
	}
	if h.get("x-requested-with", ",") != "" {
		return false
	}
	return strings.Contains(h.get("accept", ","), "text/html")
}
