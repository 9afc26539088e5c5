package policy

import (
	"net/netip"
	"strings"
	"unsafe"
)

// hostIndex narrows the rules a request can match by its host: for each host
// named in a rule, and for each "*.parent" wildcard, the rules (in order) that can
// match a host of that kind; any other host can only match the rules without hosts.
type hostIndex struct {
	exact   map[string]*candidates // lower-case host → candidate rules
	wild    map[string]*candidates // lower-case parent → candidates for names below it (that are not in exact)
	anyHost *candidates            // rules without hosts
}

// candidates are the rules one kind of host can match, narrowed again by the
// path's first segment: bySeg[seg] for a segment some rule names literally,
// other for the rest. Rules without paths, or with a pattern that starts with a
// wildcard, are in every list; every list keeps rule order.
type candidates struct {
	bySeg map[string][]int32
	other []int32
}

func newCandidates(rules []Rule, idx []int32) *candidates {
	c := &candidates{bySeg: map[string][]int32{}}
	for _, i := range idx {
		for _, p := range rules[i].paths {
			if seg := p.segs[0]; seg != "*" && seg != "**" {
				c.bySeg[seg] = nil
			}
		}
	}
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
		for seg, list := range c.bySeg {
			in := anySeg
			for _, p := range r.paths {
				in = in || p.segs[0] == seg
			}
			if in {
				c.bySeg[seg] = append(list, i)
			}
		}
	}
	return c
}

// firstSegment is a canonical path's first segment ("" for "/").
func firstSegment(p string) string {
	p = p[1:]
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

func buildIndex(rules []Rule) hostIndex {
	ix := hostIndex{exact: map[string]*candidates{}, wild: map[string]*candidates{}}
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
		ix.exact[h] = newCandidates(rules, matching(h, false))
	}
	// A name below parent matches the wildcards of parent and of its ancestors.
	for _, p := range parents {
		ix.wild[p] = newCandidates(rules, matching(p, true))
	}
	return ix
}

// Match returns the rule that decides t from client: the first rule that matches,
// else the default. t comes from Canonicalize. It allocates nothing.
func (p *Policy) Match(t *Target, client netip.Addr) *Rule {
	// Rule hosts are lower case; most Host values are too and are looked up as
	// they are. Others are lowered into a buffer on the stack.
	h := t.Host
	var buf [256]byte
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			if len(h) > len(buf) {
				return &p.def // Canonicalize refuses hosts this long
			}
			n := copy(buf[:], h)
			for j := i; j < n; j++ {
				if c := buf[j]; c >= 'A' && c <= 'Z' {
					buf[j] = c + 'a' - 'A'
				}
			}
			// Only map lookups read it, and they keep no key: buf does not escape.
			h = unsafe.String(&buf[0], n)
			break
		}
	}
	cands, ok := p.index.exact[h]
	if !ok {
		cands = p.index.anyHost
		if len(p.index.wild) > 0 {
			// The longest parent first.
			for i := 0; i < len(h); i++ {
				if h[i] != '.' {
					continue
				}
				if c, ok := p.index.wild[h[i+1:]]; ok {
					cands = c
					break
				}
			}
		}
	}
	list := cands.other
	if len(cands.bySeg) > 0 {
		if l, ok := cands.bySeg[firstSegment(t.Path)]; ok {
			list = l
		}
	}
	for _, i := range list {
		r := &p.rules[i]
		if r.matches(t, client) {
			return r
		}
	}
	return &p.def
}

// matches checks everything but the host (the index did).
func (r *Rule) matches(t *Target, client netip.Addr) bool {
	if !r.methods.has(t.Method) {
		return false
	}
	if r.paths != nil {
		ok := false
		for i := range r.paths {
			if r.paths[i].match(t.Path) {
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
