package verify

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"sort"
	"strings"
)

// ErrBadRule is wrapped by the errors of a rule that does not compile.
var ErrBadRule = errors.New("verify: bad access rule")

type hostKind uint8

const (
	hostAny    hostKind = iota // "*"
	hostSuffix                 // "*.parent": any name below parent
	hostExact                  // "name"
)

// rule is one compiled access rule.
type rule struct {
	kind   hostKind
	host   string // lowercase; for hostSuffix ".parent"
	prefix string // path prefix, matched by whole segments
	any    bool   // "*": any valid token
	roles  []string
	text   string
}

// ruleSet is the compiled rules in match order: the first that matches wins.
type ruleSet struct {
	rules []rule
}

// compileRules parses "HOST PATH_PREFIX ROLE[,ROLE…]" lines. HOST is "*", "*.parent"
// or a host name; PATH_PREFIX starts with "/"; ROLE "*" means any valid token.
func compileRules(lines []string) (*ruleSet, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	rs := &ruleSet{}
	seen := map[[2]string]string{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w %q: want \"HOST PATH_PREFIX ROLE[,ROLE]\"", ErrBadRule, line)
		}
		r := rule{text: line}
		h := strings.ToLower(f[0])
		switch {
		case h == "*":
			r.kind = hostAny
		case strings.HasPrefix(h, "*."):
			if !validHostName(h[2:]) {
				return nil, fmt.Errorf("%w %q: bad host %q", ErrBadRule, line, f[0])
			}
			r.kind, r.host = hostSuffix, h[1:]
		default:
			if rh, ok := requestHost(h); !ok || rh != h {
				return nil, fmt.Errorf("%w %q: bad host %q (a name or IP address, without port or trailing dot)", ErrBadRule, line, f[0])
			}
			r.kind, r.host = hostExact, h
		}
		p := f[1]
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%w %q: path prefix %q does not start with /", ErrBadRule, line, p)
		}
		if clean, ok := canonicalPath(p); !ok || clean != strings.TrimSuffix(p, "/") && clean != p {
			return nil, fmt.Errorf("%w %q: path prefix %q is not in canonical form", ErrBadRule, line, p)
		}
		if p != "/" {
			p = strings.TrimSuffix(p, "/")
		}
		r.prefix = p
		if f[2] == "*" {
			r.any = true
		} else {
			for role := range strings.SplitSeq(f[2], ",") {
				if role == "" || role == "*" || !validRole(role) {
					return nil, fmt.Errorf("%w %q: bad role list %q", ErrBadRule, line, f[2])
				}
				r.roles = append(r.roles, role)
			}
		}
		key := [2]string{h, p}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w %q: same host and path as %q", ErrBadRule, line, prev)
		}
		seen[key] = line
		rs.rules = append(rs.rules, r)
	}
	// Longest prefix first; among equal prefixes the most specific host.
	sort.SliceStable(rs.rules, func(i, j int) bool {
		a, b := rs.rules[i], rs.rules[j]
		if len(a.prefix) != len(b.prefix) {
			return len(a.prefix) > len(b.prefix)
		}
		if a.kind != b.kind {
			return a.kind > b.kind
		}
		return len(a.host) > len(b.host)
	})
	return rs, nil
}

func validRole(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == ',' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

// match returns the rule for host and p (an already canonical path), or nil.
// host must come from requestHost.
func (rs *ruleSet) match(host, p string) *rule {
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.matchHost(host) || !hasPathPrefix(p, r.prefix) {
			continue
		}
		return r
	}
	return nil
}

func (r *rule) matchHost(host string) bool {
	switch r.kind {
	case hostAny:
		return true
	case hostExact:
		return strings.EqualFold(host, r.host)
	default:
		return len(host) > len(r.host) && strings.EqualFold(host[len(host)-len(r.host):], r.host)
	}
}

// permits reports whether an identity with roles may pass r.
func (r *rule) permits(roles []string) bool {
	if r.any {
		return true
	}
	for _, want := range r.roles {
		for _, have := range roles {
			if have == want {
				return true
			}
		}
	}
	return false
}

// hasPathPrefix matches whole segments: "/admin" matches "/admin" and "/admin/x",
// not "/administrator".
func hasPathPrefix(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}

// canonicalPath returns the path of a request target (query cut off) in the form the
// rules compare: percent-decoded, dot segments and duplicate slashes removed. The
// common, already canonical case returns a substring of target without allocating.
// ok is false for a target that cannot be decoded; callers deny it.
func canonicalPath(target string) (string, bool) {
	p := target
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		return "/", true
	}
	if p[0] == '/' && !needsCleaning(p) {
		return p, true
	}
	// An absolute URL (X-Original-URL style) is reduced to its path.
	if p[0] != '/' {
		if u, err := url.Parse(p); err == nil && u.Scheme != "" {
			p = u.EscapedPath()
		}
	}
	dec, err := url.PathUnescape(p)
	if err != nil || strings.IndexByte(dec, 0) >= 0 {
		return "", false
	}
	return path.Clean("/" + dec), true
}

func needsCleaning(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\':
			return true
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return true
			}
		case '.':
			// a "." or ".." segment
			if p[i-1] == '/' {
				rest := p[i+1:]
				if rest == "" || rest[0] == '/' || rest[0] == '.' && (len(rest) == 1 || rest[1] == '/') {
					return true
				}
			}
		}
	}
	return false
}

// requestHost reads the host a rule is matched against from a request's Host value:
// without port, brackets or one trailing dot. ok is false for a value that is not a
// host name or IP literal (e.g. "a.example.com:80:80"): the caller refuses such a
// request rather than let it skip the rules written for its host.
func requestHost(h string) (string, bool) {
	h = strings.TrimSuffix(hostOnly(h), ".")
	if !validHostName(h) {
		return "", false
	}
	if strings.IndexByte(h, ':') >= 0 {
		if _, err := netip.ParseAddr(h); err != nil {
			return "", false
		}
	}
	return h, true
}

// hostOnly strips a port and IPv6 brackets from a Host value.
func hostOnly(h string) string {
	if h == "" {
		return h
	}
	if h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		return h[:i]
	}
	return h
}

// validHostName accepts DNS names and IP literals without port or brackets, for
// access rules. Rules keep their own lenient host reading (validHostName, hostOnly):
// a rule that fails to match is skipped, so the allowlist's refusals
// (hostlist.List.Allows) would widen access here, where they narrow redirects.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
