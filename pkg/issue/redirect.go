package issue

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxReturnURL bounds rd, as the verifier bounds the URL it sends: a longer one
// falls back to Config.DefaultRedirect rather than being cut.
const maxReturnURL = 2048

// hostList is Config.AllowedRedirectHosts compiled once: exact host names (and IP
// literals, without brackets) and "*.parent" wildcards kept as ".parent" suffixes,
// lower-case, ports ignored. A wildcard matches every name below its parent, not the
// parent itself (as the verifier's list does).
type hostList struct {
	exact    []string
	suffixes []string
}

func compileHosts(entries []string) hostList {
	var l hostList
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if h, _, err := net.SplitHostPort(e); err == nil {
			e = h // "host:port" and "[v6]:port": ports are ignored
		}
		e = strings.TrimSuffix(strings.TrimPrefix(e, "["), "]")
		if rest, ok := strings.CutPrefix(e, "*."); ok {
			if rest != "" {
				l.suffixes = append(l.suffixes, "."+rest)
			}
			continue
		}
		if e != "" {
			l.exact = append(l.exact, e)
		}
	}
	return l
}

// allows reports whether host (ASCII, without port or brackets) is on the list.
func (l hostList) allows(host string) bool {
	for _, e := range l.exact {
		if strings.EqualFold(host, e) {
			return true
		}
	}
	for _, s := range l.suffixes {
		if len(host) > len(s) && strings.EqualFold(host[len(host)-len(s):], s) {
			return true
		}
	}
	return false
}

// returnURL checks a return address (rd) and returns it as it may be put in a
// Location header, or false. Accepted are exactly:
//
//   - a path on the issuer: it starts with one "/" (not "//", which a browser reads
//     as another host);
//   - an absolute http or https URL ("scheme://", scheme in any case) whose host is
//     allowed, with an optional port and nothing else in the authority: no user
//     info ("https://good@evil"), no percent-encoding, no IPv6 zone.
//
// Everything is refused that is longer than maxReturnURL or holds a byte a browser
// would strip or reinterpret: controls (tab and newline included, which browsers
// remove from URLs), space, DEL, backslash (read as "/"), and non-ASCII bytes (a
// browser maps them with IDNA, e.g. full-width letters to ASCII, so the host it
// visits is not the one compared). A URL that passes is also parsed by net/url,
// which must agree on its scheme and host.
func (l hostList) returnURL(rd string) (string, bool) {
	if rd == "" || len(rd) > maxReturnURL {
		return "", false
	}
	for i := 0; i < len(rd); i++ {
		if c := rd[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	if rd[0] == '/' {
		if len(rd) > 1 && rd[1] == '/' {
			return "", false
		}
		u, err := url.Parse(rd)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "", false
		}
		return rd, true
	}
	scheme, rest, ok := strings.Cut(rd, "://")
	if !ok {
		return "", false
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	host, ok := splitAuthority(authority)
	if !ok || !l.allows(host) {
		return "", false
	}
	out := scheme + "://" + authority + tail
	u, err := url.Parse(out)
	if err != nil || u.Scheme != scheme || u.Host != authority || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return out, true
}

// splitAuthority returns the host of "host", "host:port", "[v6]" or "[v6]:port",
// or false for anything else (user info, an empty or out-of-range port, characters
// outside letters, digits, "-", "." in a name).
func splitAuthority(a string) (string, bool) {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", false
		}
		host, port = a[1:end], a[end+1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", false
		}
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok || !validPort(p) {
				return "", false
			}
		}
		return host, true
	}
	if i := strings.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
		if !validPort(port) {
			return "", false
		}
	}
	if host == "" || len(host) > 253 || host[0] == '.' || host[0] == '-' {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return "", false
		}
	}
	return host, true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535
}

// formActionSources is the CSP form-action list that lets the sign-in form's
// redirect reach every allowed return host (browsers apply form-action to the
// redirects that follow a form submission): 'self', "host:*" for each exact host,
// "*.parent:*" for each wildcard, and the default redirect's host. It is false when
// an entry cannot be written as a CSP host source (an IPv6 literal); the policy then
// goes without form-action rather than breaking sign-in.
func formActionSources(l hostList, defaultRedirect string) (string, bool) {
	var b strings.Builder
	b.WriteString("'self'")
	add := func(host string) bool {
		for i := 0; i < len(host); i++ {
			switch c := host[i]; {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
			case c == '*' && i == 0:
			default:
				return false
			}
		}
		b.WriteString(" " + host + ":*")
		return true
	}
	for _, h := range l.exact {
		if !add(h) {
			return "", false
		}
	}
	for _, s := range l.suffixes {
		if !add("*" + s) {
			return "", false
		}
	}
	if u, err := url.Parse(defaultRedirect); err == nil && u.Host != "" {
		if !add(strings.ToLower(u.Hostname())) {
			return "", false
		}
	}
	return b.String(), true
}
