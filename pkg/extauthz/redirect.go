package extauthz

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// maxReturnURL bounds the return URL carried to the login page. A longer one is left
// out (the login page then falls back to its default redirect) rather than cut.
const maxReturnURL = 2048

// hostList matches host names against exact names and "*.parent" wildcards. Names
// compare case-insensitively; a wildcard matches any name below parent, not parent
// itself.
type hostList struct {
	exact    []string
	suffixes []string // ".parent"
}

func parseHostList(entries []string) (hostList, error) {
	var l hostList
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if rest, ok := strings.CutPrefix(e, "*."); ok {
			if !validHostName(rest) {
				return hostList{}, fmt.Errorf("%w: %q", ErrBadRedirectHost, e)
			}
			l.suffixes = append(l.suffixes, "."+rest)
			continue
		}
		if !validHostName(e) {
			return hostList{}, fmt.Errorf("%w: %q", ErrBadRedirectHost, e)
		}
		l.exact = append(l.exact, e)
	}
	return l, nil
}

// validHostName accepts DNS names and IP literals without a port: letters, digits,
// '-', '.', and ':' inside brackets-free IPv6 literals.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func (l hostList) allows(host string) bool {
	host = strings.ToLower(host)
	for _, e := range l.exact {
		if host == e {
			return true
		}
	}
	for _, s := range l.suffixes {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// splitHost returns the host name of a Host / :authority value without its port and
// IPv6 brackets.
func splitHost(authority string) string {
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]")
}

// redirector builds the login redirect of browser mode.
type redirector struct {
	login *url.URL // parsed Options.LoginURL
	param string   // query parameter for the return URL
	hosts hostList
}

func newRedirector(o Options) (*redirector, error) {
	if o.LoginURL == "" {
		return nil, nil
	}
	u, err := url.Parse(o.LoginURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadLoginURL, err)
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%w: %q has no host", ErrBadLoginURL, o.LoginURL)
		}
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(o.LoginURL, "//"):
		// A path on the application's own host, served by the issuer behind the same proxy.
	default:
		return nil, fmt.Errorf("%w: %q is neither an http(s) URL nor an absolute path", ErrBadLoginURL, o.LoginURL)
	}
	if u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%w: %q has a fragment or user info", ErrBadLoginURL, o.LoginURL)
	}
	allowed := o.AllowedRedirectHosts
	if len(allowed) == 0 && u.Hostname() != "" {
		allowed = []string{u.Hostname()}
	}
	hosts, err := parseHostList(allowed)
	if err != nil {
		return nil, err
	}
	param := o.RedirectParam
	if param == "" {
		param = "rd"
	}
	return &redirector{login: u, param: param, hosts: hosts}, nil
}

// location returns the login URL, with the original request as return URL when its
// host is on the allowlist. scheme, authority and path are what Envoy reported.
func (r *redirector) location(scheme, authority, path string) string {
	u := *r.login
	if ret := r.returnURL(scheme, authority, path); ret != "" {
		q := u.Query()
		q.Set(r.param, ret)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// returnURL rebuilds the original URL, refusing anything that is not plainly
// http(s)://allowed-host[:port]/path — the same rule as the HTTP endpoint's.
func (r *redirector) returnURL(scheme, authority, path string) string {
	switch scheme = strings.ToLower(scheme); scheme {
	case "":
		scheme = "https"
	case "http", "https":
	default:
		return ""
	}
	if !validAuthority(authority) || !r.hosts.allows(splitHost(authority)) {
		return ""
	}
	if path == "" {
		path = "/"
	}
	// Origin form only: not "*", not an absolute URL, not "//host" or "/\\host",
	// which browsers take for another host.
	if path[0] != '/' || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		return ""
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return ""
		}
	}
	ret := scheme + "://" + authority + path
	if len(ret) > maxReturnURL {
		return ""
	}
	// The authority must survive parsing unchanged, or it is not the host we checked.
	if u, err := url.Parse(ret); err != nil || u.Host != authority {
		return ""
	}
	return ret
}

// validAuthority accepts host[:port] and [v6][:port], nothing else (no user info,
// no path or query characters).
func validAuthority(a string) bool {
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '.', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return a != ""
}
