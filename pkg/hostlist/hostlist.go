package hostlist

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ErrBadEntry is wrapped by Parse's error, which names the entry.
var ErrBadEntry = errors.New("hostlist: bad entry")

// MaxReturnURL bounds a return URL. A longer one is refused rather than cut: the
// login page then falls back to its default.
const MaxReturnURL = 2048

// List is a compiled allowlist. The zero List allows nothing. It is read-only
// after Parse and safe for concurrent use.
type List struct {
	names   []string     // exact names, lower-case
	ips     []netip.Addr // IP literals
	parents []string     // wildcards as ".parent", lower-case
}

// Parse compiles allowlist entries: host names, IPv4 and IPv6 literals (the latter
// with or without brackets) and "*.parent" wildcards. Surrounding blanks are
// trimmed and case is folded. Anything else — an empty entry, "*", an inner
// wildcard, a scheme, a path, a port, a trailing dot, a wildcard over an IP
// address, an IPv6 zone — is an error wrapping ErrBadEntry that quotes the entry.
func Parse(entries []string) (List, error) {
	var l List
	for _, raw := range entries {
		e := strings.ToLower(strings.TrimSpace(raw))
		if parent, ok := strings.CutPrefix(e, "*."); ok {
			if !validName(parent) || endsInNumber(parent) {
				return List{}, bad(raw, "a wildcard is \"*.\" followed by a host name")
			}
			l.parents = append(l.parents, "."+parent)
			continue
		}
		if _, port, ok := SplitAuthority(e); ok && port != "" {
			return List{}, bad(raw, "an entry has no port: every port of an allowed host is allowed")
		}
		host := e
		if inner, ok := strings.CutPrefix(e, "["); ok {
			inner, ok = strings.CutSuffix(inner, "]")
			if a, err := netip.ParseAddr(inner); !ok || err != nil || !a.Is6() {
				return List{}, bad(raw, "brackets hold an IPv6 address and nothing else")
			}
			host = inner
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				return List{}, bad(raw, "an IPv6 zone is not part of a URL")
			}
			l.ips = append(l.ips, a)
			continue
		}
		if !validName(host) {
			return List{}, bad(raw, "not a host name, IP address or *.parent wildcard")
		}
		if endsInNumber(host) {
			return List{}, bad(raw, "a name ending in a number is an IPv4 address to a browser; write it as a.b.c.d")
		}
		l.names = append(l.names, host)
	}
	return l, nil
}

func bad(entry, why string) error {
	return fmt.Errorf("%w %q: %s", ErrBadEntry, entry, why)
}

// Entries returns the compiled entries in canonical form: exact names, then IP
// literals (IPv6 without brackets), then wildcards as "*.parent".
func (l List) Entries() []string {
	out := make([]string, 0, len(l.names)+len(l.ips)+len(l.parents))
	out = append(out, l.names...)
	for _, a := range l.ips {
		out = append(out, a.String())
	}
	for _, p := range l.parents {
		out = append(out, "*"+p)
	}
	return out
}

// Allows reports whether host is on the list. host is "name", "name:port",
// "[v6]", "[v6]:port" or a bare IPv6 literal (as url.URL.Hostname returns it);
// anything that is not plainly one of these is refused.
func (l List) Allows(host string) bool {
	if host != "" && host[0] != '[' && strings.Count(host, ":") > 1 {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6() && a.Zone() == "" && l.hasIP(a)
	}
	name, _, ok := SplitAuthority(host)
	return ok && l.allowsName(name)
}

// allowsName matches a host that SplitAuthority returned.
func (l List) allowsName(name string) bool {
	if a, err := netip.ParseAddr(name); err == nil {
		return l.hasIP(a)
	}
	for _, e := range l.names {
		if equalFoldASCII(name, e) {
			return true
		}
	}
	for _, s := range l.parents {
		if len(name) > len(s) && equalFoldASCII(name[len(name)-len(s):], s) {
			return true
		}
	}
	return false
}

func (l List) hasIP(a netip.Addr) bool {
	for _, e := range l.ips {
		if e == a {
			return true
		}
	}
	return false
}

// equalFoldASCII compares s with lower-case t, folding only ASCII letters (so the
// Kelvin sign is not a "k", as strings.EqualFold would have it).
func equalFoldASCII(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}

// SplitAuthority splits an authority (a Host header, an HTTP/2 :authority, the
// part of a URL between "//" and the path) into host and port. It accepts exactly
// "name", "name:port", "[v6]" and "[v6]:port"; host comes back without brackets
// and port is "" when absent. ok is false for anything else: user info, an empty,
// zero, signed or out-of-range port, an IPv6 zone, a bracketed IPv4 address, a bare
// IPv6 address, and a name that is not dot-separated labels of ASCII letters,
// digits and inner hyphens (a trailing dot included) or that ends in a number but
// is not a dotted-quad IPv4 address.
func SplitAuthority(a string) (host, port string, ok bool) {
	if rest, isV6 := strings.CutPrefix(a, "["); isV6 {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest = rest[:end], rest[end+1:]
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", "", false
		}
		if rest != "" {
			if port, ok = strings.CutPrefix(rest, ":"); !ok || !validPort(port) {
				return "", "", false
			}
		}
		return host, port, true
	}
	host = a
	if i := strings.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
		if !validPort(port) {
			return "", "", false
		}
	}
	if !validName(host) {
		return "", "", false
	}
	if endsInNumber(host) {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is4() {
			return "", "", false
		}
	}
	return host, port, true
}

// validName: 1 to 253 bytes of dot-separated labels, each 1 to 63 ASCII letters,
// digits and hyphens, not starting or ending with a hyphen.
func validName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '.' {
			switch c := h[i]; {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
				continue
			default:
				return false
			}
		}
		label := h[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// endsInNumber is the URL Standard's test for a host that is an IPv4 address to a
// browser: its last label is decimal digits, or "0x" followed by hex digits.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	digits, hex := last, false
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		digits, hex = last[2:], true
	} else if last == "" {
		return false
	}
	// A loop, not strings.Trim: the access policy reads every request's host with it.
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !(c >= '0' && c <= '9' || hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n > 0 && n <= 65535
}

// ReturnURL rebuilds the URL of a request that a proxy reported as scheme (""
// means https), authority and path (the origin-form request target, query
// included; "" means "/"), for a login page to send the browser back to. It refuses
// anything that is not plainly http(s)://allowed-host[:port]/path: another scheme,
// an authority SplitAuthority refuses or whose host is not allowed, a target that
// is not a path ("*", an absolute URL) or that a browser reads as another host
// ("//host", "/\host"), bytes a browser strips or reinterprets (controls, space,
// DEL, backslash, non-ASCII), and a result longer than MaxReturnURL.
func (l List) ReturnURL(scheme, authority, path string) (string, bool) {
	switch scheme = strings.ToLower(scheme); scheme {
	case "":
		scheme = "https"
	case "http", "https":
	default:
		return "", false
	}
	host, _, ok := SplitAuthority(authority)
	if !ok || !l.allowsName(host) {
		return "", false
	}
	if path == "" {
		path = "/"
	}
	if path[0] != '/' || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		return "", false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	ret := scheme + "://" + authority + path
	if len(ret) > MaxReturnURL {
		return "", false
	}
	// net/url must read the same scheme and authority, or it is not the host checked.
	if u, err := url.Parse(ret); err != nil || u.Scheme != scheme || u.Host != authority || u.User != nil {
		return "", false
	}
	return ret, true
}

// AddReturn returns loginURL with param=returnURL added to its query (both
// query-escaped), keeping loginURL's own query as it is and any fragment last.
func AddReturn(loginURL, param, returnURL string) string {
	frag := ""
	if i := strings.IndexByte(loginURL, '#'); i >= 0 {
		loginURL, frag = loginURL[:i], loginURL[i:]
	}
	sep := "?"
	if i := strings.IndexByte(loginURL, '?'); i >= 0 {
		sep = "&"
		if last := loginURL[len(loginURL)-1]; last == '?' || last == '&' {
			sep = ""
		}
	}
	return loginURL + sep + url.QueryEscape(param) + "=" + url.QueryEscape(returnURL) + frag
}
