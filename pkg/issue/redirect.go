package issue

import (
	"net/url"
	"strings"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

// returnURL checks a return address (rd) that a browser brought and returns it as
// it may be put in a Location header, or false. Accepted are exactly:
//
//   - a path on the issuer: it starts with one "/" (not "//", which a browser reads
//     as another host);
//   - an absolute http or https URL ("scheme://", scheme in any case) whose host is
//     on hosts, with an optional port and nothing else in the authority
//     (hostlist.SplitAuthority): no user info ("https://good@evil"), no
//     percent-encoding, no IPv6 zone, no trailing dot.
//
// Everything is refused that is longer than hostlist.MaxReturnURL or holds a byte a
// browser would strip or reinterpret: controls (tab and newline included, which
// browsers remove from URLs), space, DEL, backslash (read as "/"), and non-ASCII
// bytes (a browser maps them with IDNA, e.g. full-width letters to ASCII, so the
// host it visits is not the one compared). A URL that passes is also parsed by net/url,
// which must agree on its scheme and host.
func returnURL(hosts hostlist.List, rd string) (string, bool) {
	if rd == "" || len(rd) > hostlist.MaxReturnURL {
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
	host, _, ok := hostlist.SplitAuthority(authority)
	if !ok || !hosts.Allows(host) {
		return "", false
	}
	out := scheme + "://" + authority + tail
	u, err := url.Parse(out)
	if err != nil || u.Scheme != scheme || u.Host != authority || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return out, true
}

// formActionSources is the CSP form-action list that lets the sign-in form's
// redirect reach every allowed return host (browsers apply form-action to the
// redirects that follow a form submission): 'self', "host:*" for each exact host,
// "*.parent:*" for each wildcard, and the default redirect's host. It is false when
// an entry cannot be written as a CSP host source (an IPv6 literal); the policy then
// goes without form-action rather than breaking sign-in.
func formActionSources(hosts hostlist.List, defaultRedirect string) (string, bool) {
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
	for _, h := range hosts.Entries() {
		if !add(h) {
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
