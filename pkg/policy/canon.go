package policy

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

// ErrRefused is matched (errors.Is) by every error of Canonicalize: the request's
// method, host or path cannot be read without guessing how the upstream would read
// it, so it is refused (400) rather than matched loosely.
var ErrRefused = errors.New("policy: ambiguous request refused")

// RefusedError is one reason Canonicalize refuses a request. The values are fixed
// (no allocation on the request path); Why is the line shown in logs and by
// `verifier policy explain`.
type RefusedError struct{ Why string }

func (e *RefusedError) Error() string        { return "policy: refused: " + e.Why }
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// The refusals, in the order of the table in docs/policy.md.
var (
	errMethod        = &RefusedError{"method is not an upper-case token"}
	errHost          = &RefusedError{"host is not a DNS name or IP address (with an optional port and one trailing dot)"}
	errNotPath       = &RefusedError{"target is not an absolute path"}
	errOtherHost     = &RefusedError{"absolute-form target names another host than Host"}
	errFragment      = &RefusedError{"target carries a fragment (#)"}
	errByte          = &RefusedError{"path has a control character, space or non-ASCII byte"}
	errBackslash     = &RefusedError{"path has a backslash (raw or %5C)"}
	errBadEscape     = &RefusedError{"path has a malformed percent escape"}
	errEncodedSlash  = &RefusedError{"path has an encoded slash (%2F)"}
	errEncodedNUL    = &RefusedError{"path has an encoded control character (%00-%1F, %7F)"}
	errDoubleEncoded = &RefusedError{"path is double-encoded (%25 followed by two hex digits)"}
	errEncodedDot    = &RefusedError{"path has an encoded dot segment (%2E)"}
	errBadUTF8       = &RefusedError{"path has percent-encoded bytes that are not UTF-8 (overlong or truncated sequences)"}
	errParams        = &RefusedError{"path has a ';' parameter and the policy matches paths"}
)

// Target is a request as the rules see it.
type Target struct {
	Method string
	Host   string // without port, brackets and trailing dot; case as sent (rules ignore case)
	Path   string // canonical: see Canonicalize
	Params bool   // the path has a ';' (matrix parameter, or Tomcat's ;jsessionid)
}

// Canonicalize is the one reading of a request's method, Host value and request
// target (path and query, as the proxy reported it) that every adapter uses.
//
// The path the rules see: the query removed; percent-encoded unreserved characters
// (RFC 3986 §2.3: letters, digits, "-", ".", "_", "~") decoded and every other
// escape written with upper-case hex; "." and ".." segments removed (RFC 3986
// §5.2.4; ".." never climbs above "/"); duplicate slashes collapsed; a trailing slash
// kept. An absolute-form target (http://host/path) is reduced to its path when its
// authority names the same host as Host.
//
// Refused (an error matching ErrRefused): a method that is not an upper-case token;
// a host that hostlist.SplitAuthority refuses (one trailing dot is removed first);
// a target that is not an absolute path or carries a fragment; in the path, control
// characters, space, raw non-ASCII bytes, a backslash (raw or %5C), a malformed
// escape, an encoded slash (%2F), an encoded control character (%00 … %1F, %7F), a
// double-encoded escape (%25XX), a dot segment spelled with %2E, and
// percent-encoded bytes that are not valid UTF-8 (overlong forms such as %C0%AE).
// Whether a ';' is refused depends on the policy (Target.Params, Policy.Check).
//
// The common case, an already canonical path, returns substrings of its arguments
// and allocates nothing.
func Canonicalize(method, host, target string) (Target, error) {
	var t Target
	if !validMethod(method) {
		return t, errMethod
	}
	t.Method = method
	h, ok := canonicalHost(host)
	if !ok {
		return t, errHost
	}
	t.Host = h
	p, params, err := canonicalPath(target, h)
	if err != nil {
		return t, err
	}
	t.Path, t.Params = p, params
	return t, nil
}

// validMethod: an RFC 9110 token without lower-case letters (methods are
// case-sensitive, and some servers upper-case them: "get" must not dodge a GET rule).
func validMethod(m string) bool {
	if m == "GET" || methodBit(m) != 0 {
		return true // a standard method, GET first: the common case
	}
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// canonicalHost reads a Host value (or :authority) with hostlist.SplitAuthority,
// after removing one trailing dot from the name (app.example.com. is
// app.example.com; app.example.com.. is nothing).
func canonicalHost(a string) (string, bool) {
	if plainHost(a) {
		return a, true
	}
	return canonicalHostSlow(a)
}

// plainHost is the fast path of canonicalHost: a DNS name as most requests spell
// it, without port, trailing dot or address (1 to 253 bytes of dot-separated
// labels of 1 to 63 letters, digits and hyphens, not starting or ending with a
// hyphen, the last not starting with a digit), which canonicalHostSlow returns
// unchanged. FuzzFastPathMatchesCanonical checks that it never says yes where
// canonicalHostSlow would answer anything else.
func plainHost(a string) bool {
	if a == "" || len(a) > 253 {
		return false
	}
	start := 0
	for i := 0; i < len(a); i++ {
		if hostAlnum[a[i]] {
			continue
		}
		switch c := a[i]; {
		case c == '-':
			if i == start || i+1 == len(a) || a[i+1] == '.' {
				return false
			}
		case c == '.':
			if i == start || i-start > 63 {
				return false
			}
			start = i + 1
		default:
			return false
		}
	}
	// The last label: not empty (no trailing dot), not too long, not a number
	// (an IPv4 address or something that reads like one).
	return start < len(a) && len(a)-start <= 63 && (a[start] < '0' || a[start] > '9')
}

// hostAlnum: the ASCII letters and digits.
var hostAlnum = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	return t
}()

// pathPlain: the bytes scanPath's switch has no case for (printable ASCII but
// for '\', ';', '%', '/', '.', '?' and '#'), skipped without a look.
var pathPlain = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c > ' ' && c < 0x7f && strings.IndexByte("\\;%/.?#", byte(c)) < 0
	}
	return t
}()

// canonicalHostSlow is canonicalHost for any spelling.
func canonicalHostSlow(a string) (string, bool) {
	h, _, ok := hostlist.SplitAuthority(a)
	if ok {
		if strings.IndexByte(h, ':') >= 0 {
			// IPv6 has many spellings of one address: rules see netip's.
			ip, err := netip.ParseAddr(h)
			if err != nil {
				return "", false
			}
			if s := ip.String(); s != h {
				return s, true
			}
		}
		return h, true
	}
	if a == "" || a[0] == '[' {
		return "", false
	}
	name, port, hasPort := strings.Cut(a, ":")
	n, ok := strings.CutSuffix(name, ".")
	if !ok || strings.HasSuffix(n, ".") {
		return "", false
	}
	if hasPort {
		n2, _, ok := hostlist.SplitAuthority(n + ":" + port)
		return n2, ok && n2 != "" && !isIP(n2)
	}
	h, _, ok = hostlist.SplitAuthority(n)
	return h, ok && !isIP(h)
}

// isIP: an IPv4 address spelled with a trailing dot is not an address.
func isIP(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	return last != "" && last[0] >= '0' && last[0] <= '9'
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// canonicalPath implements the path part of Canonicalize. host is the canonical
// Host, compared with an absolute-form target's authority.
func canonicalPath(target, host string) (string, bool, error) {
	p, clean, params, err := scanPath(target, host)
	if err != nil || clean {
		// The fast path: a path that is canonical as it stands is its own canonical
		// form (FuzzFastPathMatchesCanonical checks it against rewritePath).
		return p, params, err
	}
	out, err := rewritePath(p)
	return out, params, err
}

// scanPath reads the path of target in one pass: it returns the path without
// query or absolute-form prefix, whether it is canonical as it stands (else
// rewritePath makes it so), whether it has a ';', and the refusals.
func scanPath(target, host string) (p string, clean, params bool, err error) {
	p = target
	if p == "" || p[0] != '/' {
		// Origin form ("/…") is the common case, where the scan below finds the
		// query and a fragment; the rest is read here.
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if strings.IndexByte(p, '#') >= 0 {
			return "", false, false, errFragment
		}
		if p == "" {
			return "/", true, false, nil
		}
	}
	if p[0] != '/' {
		rest, ok := cutScheme(p)
		if !ok {
			return "", false, false, errNotPath
		}
		auth := rest
		p = "/"
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			auth, p = rest[:i], rest[i:]
		}
		h, ok := canonicalHost(auth)
		if !ok || !strings.EqualFold(h, host) {
			return "", false, false, errOtherHost
		}
	}
	// One scan decides whether the path is canonical as it stands; most bytes are
	// plain (pathPlain) and need no look at all.
	clean = true
scan:
	for i := 0; i < len(p); i++ {
		c := p[i]
		if pathPlain[c] {
			continue
		}
		// A switch on the byte's value (a jump table, not a chain of comparisons),
		// the path's separators first. pathPlain leaves only these and the control
		// and non-ASCII bytes (the default).
		switch c {
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				clean = false
			}
		case '.':
			if p[i-1] == '/' {
				rest := p[i+1:]
				// The segment ends at the end, a '/' or the query's '?'.
				if rest == "" || rest[0] == '/' || rest[0] == '?' ||
					rest[0] == '.' && (len(rest) == 1 || rest[1] == '/' || rest[1] == '?') {
					clean = false
				}
			}
		case '?':
			p = p[:i] // the query: not part of the path
			break scan
		case '#':
			return "", false, false, errFragment
		case '\\':
			return "", false, false, errBackslash
		case ';':
			params = true
		case '%':
			if i+2 >= len(p) {
				return "", false, false, errBadEscape
			}
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if !ok1 || !ok2 {
				return "", false, false, errBadEscape
			}
			switch v := hi<<4 | lo; {
			case v == '/':
				return "", false, false, errEncodedSlash
			case v == '\\':
				return "", false, false, errBackslash
			case v < 0x20 || v == 0x7f:
				return "", false, false, errEncodedNUL
			case v == '%':
				if i+4 < len(p) {
					if _, ok := unhex(p[i+3]); ok {
						if _, ok := unhex(p[i+4]); ok {
							return "", false, false, errDoubleEncoded
						}
					}
				}
			case v >= 0x80:
				n, ok := utf8Run(p[i:])
				if !ok {
					return "", false, false, errBadUTF8
				}
				for j := i; j < i+n; j += 3 {
					if p[j+1] > 'F' || p[j+2] > 'F' {
						clean = false // lower-case hex
					}
				}
				i += n - 1
				continue
			case unreserved(v):
				clean = false
			}
			if p[i+1] > 'F' || p[i+2] > 'F' {
				clean = false
			}
			i += 2
		default: // c <= ' ' || c >= 0x7f
			return "", false, false, errByte
		}
	}
	return p, clean, params, nil
}

// cutScheme strips "http://" or "https://" (any case).
func cutScheme(s string) (string, bool) {
	for _, sch := range [...]string{"http://", "https://"} {
		if len(s) >= len(sch) && strings.EqualFold(s[:len(sch)], sch) {
			return s[len(sch):], true
		}
	}
	return "", false
}

// utf8Run reads the run of %XX escapes at the start of s whose bytes are >= 0x80,
// rune by rune, and reports its length in characters of s and whether the bytes are
// valid UTF-8 (utf8.Valid refuses overlong forms, surrogates and stray
// continuation bytes).
func utf8Run(s string) (int, bool) {
	i := 0
	for {
		v, ok := escape(s[i:])
		if !ok || v < 0x80 {
			return i, true
		}
		var size int
		switch {
		case v >= 0xF8:
			return 0, false
		case v >= 0xF0:
			size = 4
		case v >= 0xE0:
			size = 3
		case v >= 0xC0:
			size = 2
		default:
			return 0, false // a continuation byte without its leading byte
		}
		var r [4]byte
		for n := range size {
			b, ok := escape(s[i:])
			if !ok {
				return 0, false
			}
			r[n] = b
			i += 3
		}
		if !utf8.Valid(r[:size]) {
			return 0, false
		}
	}
}

// escape decodes a %XX at the start of s.
func escape(s string) (byte, bool) {
	if len(s) < 3 || s[0] != '%' {
		return 0, false
	}
	hi, ok1 := unhex(s[1])
	lo, ok2 := unhex(s[2])
	return hi<<4 | lo, ok1 && ok2
}

// rewritePath builds the canonical form of an absolute path that the scan found
// valid but not canonical.
func rewritePath(p string) (string, error) {
	segs := make([]string, 0, 8)
	trailing := strings.HasSuffix(p, "/")
	raw := p[1:]
	for {
		seg, rest, more := strings.Cut(raw, "/")
		dec, encodedDot := decodeSegment(seg)
		switch dec {
		case "":
		case ".", "..":
			if encodedDot {
				return "", errEncodedDot
			}
			if dec == ".." && len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			if !more {
				trailing = true
			}
		default:
			segs = append(segs, dec)
		}
		if !more {
			break
		}
		raw = rest
	}
	var b strings.Builder
	b.Grow(len(p))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if len(segs) == 0 || trailing {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// decodeSegment decodes the unreserved escapes of a segment and upper-cases the
// others. encodedDot reports a %2E.
func decodeSegment(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	dot := false
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		hi, _ := unhex(s[i+1])
		lo, _ := unhex(s[i+2])
		v := hi<<4 | lo
		if unreserved(v) {
			b.WriteByte(v)
			dot = dot || v == '.'
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[v>>4])
			b.WriteByte(upperHex[v&15])
		}
		i += 2
	}
	return b.String(), dot
}
