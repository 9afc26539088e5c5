package policy

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// hostIndex narrows the rules a request can match by its host: for each host
// named in a rule, and for each "*.parent" wildcard, the rules (in order) that can
// match a host of that kind; any other host can only match the rules without hosts.
//
// Both are hash tables built at compile time (see table), looked up in any case.
type hostIndex struct {
	exact   table[*candidates] // lower-case host → candidate rules
	wild    table[*candidates] // lower-case parent → candidates for names below it (that are not in exact)
	anyHost *candidates        // rules without hosts
}

// candidates are the rules one kind of host can match, narrowed again by the
// path's first segment: bySeg[seg] for a segment some rule names literally,
// other for the rest. Rules without paths, or with a pattern that starts with a
// wildcard, are in every list; every list keeps rule order.
type candidates struct {
	bySeg     table[[]int32] // exact (paths are case-sensitive)
	segFilter segFilter      // the keys of bySeg, to skip the lookup of most other segments
	other     []int32
}

// segFilter is a 256-bit set of a cheap digest of segments (length, first and last
// byte): a segment whose bit is clear is not a key of bySeg, and is not hashed.
type segFilter [4]uint64

func segBit(s string) uint8 {
	if s == "" {
		return 0
	}
	return uint8(len(s)) ^ s[0]<<2 ^ s[len(s)-1]<<5 ^ s[len(s)-1]>>3
}

func (f *segFilter) add(s string)      { b := segBit(s); f[b>>6] |= 1 << (b & 63) }
func (f *segFilter) has(s string) bool { b := segBit(s); return f[b>>6]&(1<<(b&63)) != 0 }

func newCandidates(rules []Rule, idx []int32) *candidates {
	c := &candidates{}
	bySeg := map[string][]int32{}
	for _, i := range idx {
		for _, p := range rules[i].paths {
			if seg := p.segs[0]; seg != "*" && seg != "**" {
				bySeg[seg] = nil
			}
		}
	}
	// In a fixed order: ranging over the map would make compiling cost a different
	// amount of work each time (scripts/policy-cost.sh subtracts two whole runs).
	segs := slices.Sorted(maps.Keys(bySeg))
	for _, i := range idx {
		r := &rules[i]
		anySeg := r.paths == nil
		for _, p := range r.paths {
			if seg := p.segs[0]; seg == "*" || seg == "**" {
				anySeg = true
			}
		}
		if anySeg {
			c.other = append(c.other, i)
		}
		for _, seg := range segs {
			in := anySeg
			for _, p := range r.paths {
				in = in || p.segs[0] == seg
			}
			if in {
				bySeg[seg] = append(bySeg[seg], i)
			}
		}
	}
	c.bySeg = newTable(bySeg)
	for _, seg := range segs {
		c.segFilter.add(seg)
	}
	return c
}

// firstSegment is a canonical path's first segment ("" for "/"). A byte loop:
// first segments are short, shorter than what strings.IndexByte's call and set-up cost.
func firstSegment(p string) string {
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			return p[1:i]
		}
	}
	return p[1:]
}

func buildIndex(rules []Rule) hostIndex {
	var ix hostIndex
	exact, wild := map[string]*candidates{}, map[string]*candidates{}
	var exacts, parents []string
	var anyHost []int32
	for i := range rules {
		r := &rules[i]
		if r.hosts == nil {
			anyHost = append(anyHost, int32(i))
		}
		for _, h := range r.hosts {
			if parent, ok := strings.CutPrefix(h, "*."); ok {
				parents = append(parents, parent)
			} else {
				exacts = append(exacts, h)
			}
		}
	}
	// A host's candidates: every rule whose hosts match it, in rule order.
	matching := func(host string, below bool) []int32 {
		var out []int32
		for i := range rules {
			r := &rules[i]
			if r.hosts == nil {
				out = append(out, int32(i))
				continue
			}
			for _, h := range r.hosts {
				parent, wild := strings.CutPrefix(h, "*.")
				switch {
				case !wild && !below && h == host,
					wild && strings.HasSuffix("."+host, "."+parent) && (below || host != parent):
					out = append(out, int32(i))
				default:
					continue
				}
				break
			}
		}
		return out
	}
	ix.anyHost = newCandidates(rules, anyHost)
	for _, h := range exacts {
		exact[h] = newCandidates(rules, matching(h, false))
	}
	// A name below parent matches the wildcards of parent and of its ancestors.
	for _, p := range parents {
		wild[p] = newCandidates(rules, matching(p, true))
	}
	ix.exact, ix.wild = newTable(exact), newTable(wild)
	return ix
}

// Match returns the rule that decides t from client: the first rule that matches,
// else the default. t comes from Canonicalize. It allocates nothing.
func (p *Policy) Match(t *Target, client netip.Addr) *Rule {
	return p.matchIn(p.index.candidates(t.Host), t.Method, t.Path, client)
}

// MatchRequest is Canonicalize, ParamsRefused and Match in one: the rule that
// decides the request from client, or the error of Canonicalize or ParamsRefused
// (the same one, for the same reason). It allocates nothing.
//
// A Host value that equals a plain host some rule names (but for the case of its
// letters) is canonical as it stands, and the lookup that finds its rules is its
// only reading; other hosts are read by canonicalHost and then looked up.
// FuzzMatchRequest checks it against the three calls.
func (p *Policy) MatchRequest(method, host, target string, client netip.Addr) (*Rule, error) {
	if !validMethod(method) {
		return nil, errMethod
	}
	cands, found, plain := p.index.exact.lookupHost(host)
	if !found || !plain {
		h, ok := canonicalHost(host)
		if !ok {
			return nil, errHost
		}
		if !found && h == host {
			// Read as it stands, and not in the exact table: for a canonical host,
			// lookupFold finds what lookupHost finds.
			cands = p.index.below(h)
		} else {
			cands = p.index.candidates(h)
		}
		host = h
	}
	path, clean, params, err := scanPath(target, host) // canonicalPath, without a call
	if err != nil {
		return nil, err
	}
	if !clean {
		if path, err = rewritePath(path); err != nil {
			return nil, err
		}
	}
	if params && p.hasPaths {
		return nil, errParams
	}
	return p.matchIn(cands, method, path, client), nil
}

// candidates are the rules a request for the canonical host h can match.
func (ix *hostIndex) candidates(h string) *candidates {
	// Rule hosts are lower case; the tables fold the case of the request's host.
	if c, ok := ix.exact.lookupFold(h); ok {
		return c
	}
	return ix.below(h)
}

// below are the candidates of a canonical host h that is not in the exact table.
func (ix *hostIndex) below(h string) *candidates {
	if ix.wild.slots != nil {
		// The longest parent first.
		for i := 0; i < len(h); i++ {
			if h[i] != '.' {
				continue
			}
			if c, ok := ix.wild.lookupFold(h[i+1:]); ok {
				return c
			}
		}
	}
	return ix.anyHost
}

// matchIn is Match among cands, for a canonical method and path.
func (p *Policy) matchIn(cands *candidates, method, path string, client netip.Addr) *Rule {
	list := cands.other
	if cands.bySeg.slots != nil {
		if seg := firstSegment(path); cands.segFilter.has(seg) {
			if l, ok := cands.bySeg.lookup(seg); ok {
				list = l
			}
		}
	}
	for _, i := range list {
		r := &p.rules[i]
		if r.matches(method, path, client) {
			return r
		}
	}
	return &p.def
}

// matches checks everything but the host (the index did).
func (r *Rule) matches(method, path string, client netip.Addr) bool {
	if !r.methods.any() && !r.methods.has(method) { // any(): most rules, no call
		return false
	}
	if r.paths != nil {
		ok := false
		for i := range r.paths {
			if r.paths[i].match(path) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if r.networks != nil {
		if !client.IsValid() {
			return false
		}
		ok := false
		for _, n := range r.networks {
			if n.Contains(client) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// match reports whether the canonical path p matches the pattern.
func (pp *pathPattern) match(p string) bool {
	if pp.literal {
		return p == pp.text
	}
	if !strings.HasPrefix(p, pp.prefix) {
		return false
	}
	rest := p[1:]
	for i, seg := range pp.segs {
		if seg == "**" {
			return true
		}
		cur, after, more := strings.Cut(rest, "/")
		if seg == "*" {
			if cur == "" {
				return false
			}
		} else if cur != seg {
			return false
		}
		if !more {
			// The path ends: so must the pattern, but for a last "**".
			rem := pp.segs[i+1:]
			return len(rem) == 0 || len(rem) == 1 && rem[0] == "**"
		}
		rest = after
	}
	return false // the path has more segments than the pattern
}
