package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrInvalid is matched by every error of Parse and FromRules.
var ErrInvalid = errors.New("policy: invalid policy")

// Action is what a rule (or the default) does with a request it matches.
type Action uint8

const (
	// Authenticated: a valid token is required (else 401); then the rule's roles
	// (any of them, else 403) and second factor (else 401
	// insufficient_user_authentication).
	Authenticated Action = iota
	// Public: allowed with or without a token; identity headers only for a valid one.
	Public
	// Deny: 403 for everyone, whatever the token.
	Deny
)

var actionNames = [...]string{Authenticated: "authenticated", Public: "public", Deny: "deny"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

func parseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if s == n {
			return Action(i), true
		}
	}
	return 0, false
}

// Labels of the metrics' rule label besides rule names.
const (
	LabelDefault = "default" // no rule matched: the policy's default decided
	LabelNone    = "none"    // no policy, or the request was refused before matching
)

// Rule is one compiled rule. Rules are immutable once compiled; a Policy hands out
// pointers to them.
type Rule struct {
	// Name is the rule's name, or "#N" (its 1-based position) when it has none; it
	// labels metrics, debug logs and explanations. The default's is "default".
	Name string
	// Index is the rule's position (0-based); the default's is len(Rules()).
	Index int
	// Line is where the rule starts in its file (0 for --rule rules and the default).
	Line int

	Action Action
	Roles  []string // Authenticated only: any of them; none = any valid token
	MFA    bool     // Authenticated only: the token's amr must contain "mfa"

	hosts    []string // as written (lower case): "name" or "*.parent"; nil = any
	paths    []pathPattern
	methods  methodSet
	networks []netip.Prefix
}

// Hosts, Paths, Methods and Networks return the rule's conditions as written (nil:
// any). They are for explanations; matching uses the compiled forms.
func (r *Rule) Hosts() []string { return slices.Clone(r.hosts) }

func (r *Rule) Paths() []string {
	var out []string
	for _, p := range r.paths {
		out = append(out, p.text)
	}
	return out
}

func (r *Rule) Methods() []string { return r.methods.list() }

func (r *Rule) Networks() []string {
	var out []string
	for _, n := range r.networks {
		out = append(out, n.String())
	}
	return out
}

// Policy is a compiled policy: rules in order, the first that matches decides, and
// a default for requests no rule matches. It is immutable and safe for concurrent
// use; a reload builds a new one.
type Policy struct {
	rules    []Rule
	def      Rule
	hasPaths bool
	warnings []string
	index    hostIndex
	sum      [32]byte // SHA-256 of the file Parse read (zero for FromRules)
}

// Rules returns the rules in match order (shared: do not modify).
func (p *Policy) Rules() []Rule { return p.rules }

// Default is the rule that applies when no rule matches (Name "default").
func (p *Policy) Default() *Rule { return &p.def }

// Warnings are the compile warnings: rules no request can reach because an
// earlier rule matches everything they match.
func (p *Policy) Warnings() []string { return p.warnings }

// Labels returns every value the policy can give the metrics' rule label, in rule
// order, then "default".
func (p *Policy) Labels() []string {
	out := make([]string, 0, len(p.rules)+1)
	for i := range p.rules {
		out = append(out, p.rules[i].Name)
	}
	return append(out, LabelDefault)
}

// ruleSpec is a rule as parsed, before compiling.
type ruleSpec struct {
	line     int
	name     string
	hosts    []string
	paths    []string
	methods  []string
	networks []string
	action   string
	roles    []string
	mfa      bool
	has      map[string]int // key → line, for the keys that were present
}

// compile builds the Policy from parsed specs. errs collects "LINE: message"
// problems through errf.
func compile(def Action, specs []ruleSpec, errf func(line int, format string, args ...any)) *Policy {
	p := &Policy{rules: make([]Rule, 0, len(specs))}
	names := map[string]int{}
	for i, s := range specs {
		r := Rule{Index: i, Line: s.line, Name: s.name}
		if r.Name == "" {
			r.Name = fmt.Sprintf("#%d", i+1)
		} else if !validName(r.Name) {
			errf(s.line, "rule name %q: want 1 to 64 letters, digits, '-', '_' or '.', not %q or %q", s.name, LabelDefault, LabelNone)
		} else if prev, dup := names[r.Name]; dup {
			errf(s.line, "rule name %q already used by the rule at line %d", s.name, prev)
		}
		names[r.Name] = s.line
		a, ok := parseAction(s.action)
		switch {
		case s.action == "":
			errf(s.line, "rule has no action (public, authenticated or deny)")
		case !ok:
			errf(s.has["action"], "action %q: want public, authenticated or deny", s.action)
		}
		r.Action = a
		if _, set := s.has["hosts"]; set && len(s.hosts) == 0 {
			errf(s.has["hosts"], "hosts is empty: leave the key out to match any host")
		}
		for _, h := range s.hosts {
			c, err := compileHost(h)
			if err != nil {
				errf(s.has["hosts"], "host %q: %v", h, err)
				continue
			}
			r.hosts = append(r.hosts, c)
		}
		if _, set := s.has["paths"]; set && len(s.paths) == 0 {
			errf(s.has["paths"], "paths is empty: leave the key out to match any path")
		}
		for _, ps := range s.paths {
			pp, err := compilePath(ps)
			if err != nil {
				errf(s.has["paths"], "path %q: %v", ps, err)
				continue
			}
			r.paths = append(r.paths, pp)
			p.hasPaths = true
		}
		if _, set := s.has["methods"]; set && len(s.methods) == 0 {
			errf(s.has["methods"], "methods is empty: leave the key out to match any method")
		}
		for _, m := range s.methods {
			if !validMethod(m) {
				errf(s.has["methods"], "method %q: want an upper-case method name such as GET", m)
				continue
			}
			r.methods.add(m)
		}
		if _, set := s.has["networks"]; set && len(s.networks) == 0 {
			errf(s.has["networks"], "networks is empty: leave the key out to match any client")
		}
		for _, n := range s.networks {
			pr, err := parseNetwork(n)
			if err != nil {
				errf(s.has["networks"], "network %q: want a CIDR (10.0.0.0/8) or an address", n)
				continue
			}
			r.networks = append(r.networks, pr)
		}
		if a != Authenticated {
			if _, set := s.has["roles"]; set {
				errf(s.has["roles"], "roles only apply to action authenticated (this rule is %s)", a)
			}
			if _, set := s.has["mfa"]; set {
				errf(s.has["mfa"], "mfa only applies to action authenticated (this rule is %s)", a)
			}
		}
		if _, set := s.has["roles"]; set && len(s.roles) == 0 {
			errf(s.has["roles"], "roles is empty: leave the key out to allow any valid token")
		}
		for _, role := range s.roles {
			if !ValidRole(role) {
				errf(s.has["roles"], "role %q: no blanks, commas or control characters", role)
				continue
			}
			r.Roles = append(r.Roles, role)
		}
		r.MFA = s.mfa
		p.rules = append(p.rules, r)
	}
	p.def = Rule{Name: LabelDefault, Index: len(p.rules), Action: def}
	for i := range p.rules {
		for j := range i {
			if covers(&p.rules[j], &p.rules[i]) {
				p.warnings = append(p.warnings, fmt.Sprintf("%s: rule %s is never reached: rule %s (%s) matches every request it matches",
					where(p.rules[i].Line), p.rules[i].Name, p.rules[j].Name, where(p.rules[j].Line)))
				break
			}
		}
	}
	p.index = buildIndex(p.rules)
	return p
}

func where(line int) string {
	if line == 0 {
		return "--rule"
	}
	return fmt.Sprintf("line %d", line)
}

// validName: a metric label value that cannot be confused with the built-in ones.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s == LabelDefault || s == LabelNone {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ValidRole reports whether s can be a role: printable ASCII without blanks or
// commas (the X-Auth-Roles header is comma-separated).
func ValidRole(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == ',' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

func parseNetwork(s string) (netip.Prefix, error) {
	if pr, err := netip.ParsePrefix(s); err == nil {
		return pr.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("bad network")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// compileHost checks a rule host: a lower-case name or address without port or
// trailing dot, or "*.parent".
func compileHost(h string) (string, error) {
	name, wild := strings.CutPrefix(h, "*.")
	got, ok := canonicalHost(name)
	if v6, isV6 := strings.CutPrefix(name, "["); isV6 && ok && !wild {
		// An IPv6 literal, in brackets as in a Host header; kept in netip's form.
		if got != strings.TrimSuffix(v6, "]") || !strings.HasSuffix(v6, "]") {
			return "", errors.New("want [address] without port")
		}
		return got, nil
	}
	switch {
	case !ok || got != name || strings.HasSuffix(name, "."):
		return "", errors.New("want a host name or IP address without port or trailing dot, or *.parent")
	case strings.ToLower(name) != name:
		return "", errors.New("write host names in lower case")
	case wild && isIP(name):
		return "", errors.New("*. needs a name, not an address")
	}
	if wild {
		return "*." + name, nil
	}
	return name, nil
}

// pathPattern is one compiled path pattern.
type pathPattern struct {
	text    string
	literal bool     // no wildcard: compare the whole path
	prefix  string   // the literal part before the first wildcard segment
	segs    []string // the segments after the leading "/"; "*" one segment, "**" the rest
}

func compilePath(s string) (pathPattern, error) {
	pp := pathPattern{text: s}
	if !strings.HasPrefix(s, "/") {
		return pp, errors.New("does not start with /")
	}
	got, params, err := canonicalPath(s, "")
	if err != nil {
		return pp, err
	}
	if params {
		return pp, errors.New("';' is refused in request paths, so a pattern cannot contain it")
	}
	if got != s {
		return pp, fmt.Errorf("not in canonical form (write %q)", got)
	}
	pp.segs = strings.Split(s[1:], "/")
	pp.literal = true
	for i, seg := range pp.segs {
		switch {
		case seg == "**":
			if i != len(pp.segs)-1 {
				return pp, errors.New("** may only be the last segment")
			}
			pp.literal = false
		case seg == "*":
			pp.literal = false
		case strings.Contains(seg, "*"):
			return pp, errors.New("* and ** stand for whole segments (/a/*/b, /a/**), not parts of one")
		}
		if pp.literal {
			pp.prefix = "/" + strings.Join(pp.segs[:i+1], "/")
		}
	}
	if pp.prefix == "" {
		pp.prefix = "/"
	}
	return pp, nil
}

// methodSet is a set of methods: a bit per standard method, a list for others.
type methodSet struct {
	bits  uint16
	other []string
}

var stdMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func methodBit(m string) uint16 {
	switch m {
	case "GET":
		return 1 << 0
	case "HEAD":
		return 1 << 1
	case "POST":
		return 1 << 2
	case "PUT":
		return 1 << 3
	case "DELETE":
		return 1 << 4
	case "CONNECT":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "TRACE":
		return 1 << 7
	case "PATCH":
		return 1 << 8
	}
	return 0
}

func (s *methodSet) add(m string) {
	if b := methodBit(m); b != 0 {
		s.bits |= b
	} else if !slices.Contains(s.other, m) {
		s.other = append(s.other, m)
	}
}

func (s *methodSet) any() bool { return s.bits == 0 && s.other == nil }

func (s *methodSet) has(m string) bool {
	if s.any() {
		return true
	}
	if b := methodBit(m); b != 0 {
		return s.bits&b != 0
	}
	for _, o := range s.other {
		if o == m {
			return true
		}
	}
	return false
}

func (s *methodSet) list() []string {
	var out []string
	for i, m := range stdMethods {
		if s.bits&(1<<i) != 0 {
			out = append(out, m)
		}
	}
	return append(out, s.other...)
}

// covers reports whether rule a matches every request rule b matches (so b, after
// a, is never reached). It is conservative: false when unsure.
func covers(a, b *Rule) bool {
	if !a.methods.any() {
		if b.methods.any() || b.methods.bits&^a.methods.bits != 0 {
			return false
		}
		for _, m := range b.methods.other {
			if !slices.Contains(a.methods.other, m) {
				return false
			}
		}
	}
	if a.hosts != nil {
		if b.hosts == nil {
			return false
		}
		for _, bh := range b.hosts {
			if !slices.ContainsFunc(a.hosts, func(ah string) bool { return hostCovers(ah, bh) }) {
				return false
			}
		}
	}
	if a.paths != nil {
		if b.paths == nil {
			return false
		}
		for _, bp := range b.paths {
			if !slices.ContainsFunc(a.paths, func(ap pathPattern) bool { return pathCovers(ap, bp) }) {
				return false
			}
		}
	}
	if a.networks != nil {
		if b.networks == nil {
			return false
		}
		for _, bn := range b.networks {
			if !slices.ContainsFunc(a.networks, func(an netip.Prefix) bool {
				return an.Bits() <= bn.Bits() && an.Contains(bn.Addr())
			}) {
				return false
			}
		}
	}
	return true
}

func hostCovers(a, b string) bool {
	if a == b {
		return true
	}
	parent, wild := strings.CutPrefix(a, "*.")
	if !wild {
		return false
	}
	b = strings.TrimPrefix(b, "*.")
	return strings.HasSuffix(b, "."+parent)
}

// pathCovers: pattern a matches every path pattern b matches.
func pathCovers(a, b pathPattern) bool {
	if a.text == b.text {
		return true
	}
	if b.literal {
		return a.match(b.text)
	}
	// b has wildcards: a must be "PREFIX/**" with PREFIX's segments a literal
	// prefix of b's literal segments.
	n := len(a.segs)
	if a.segs[n-1] != "**" {
		return false
	}
	for i := range n - 1 {
		if i >= len(b.segs) || a.segs[i] == "**" || b.segs[i] == "**" {
			return false
		}
		if a.segs[i] != "*" && a.segs[i] != b.segs[i] {
			return false
		}
		if a.segs[i] == "*" && b.segs[i] == "" {
			return false
		}
	}
	return true
}
