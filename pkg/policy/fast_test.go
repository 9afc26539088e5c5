package policy

import (
	"net/netip"
	"strings"
	"testing"
)

// fastPolicy mixes what the index has to get right: exact hosts under wildcard
// parents, nested wildcards, rules without hosts, first segments named by some
// rules and wildcards by others, case-sensitive segments, methods and networks.
const fastPolicy = `default: deny
rules:
  - hosts: [a.b.example.com]
    paths: ["/admin/**"]
    action: deny
  - hosts: ["*.b.example.com"]
    paths: ["/Admin/*", "/x"]
    action: public
  - hosts: ["*.example.com", app.example.org]
    paths: ["/*/static/**"]
    methods: [GET, HEAD]
    action: public
  - paths: ["/internal/**"]
    networks: [10.0.0.0/8, "2001:db8::/32"]
    action: authenticated
  - hosts: ["[2001:db8::1]", 192.0.2.10]
    action: authenticated
    roles: [ops]
  - hosts: [b.example.com]
    action: deny
  - hosts: ["*.example.com"]
    paths: ["/", "/admin"]
    action: authenticated
  - paths: ["/**"]
    methods: [BREW]
    action: public
`

// matchLinear is Match without the index or the fast paths: every rule in order,
// hosts compared after lowering the request's host.
func matchLinear(p *Policy, t *Target, client netip.Addr) *Rule {
	host := strings.ToLower(t.Host)
	for i := range p.rules {
		r := &p.rules[i]
		if r.hosts != nil {
			ok := false
			for _, h := range r.hosts {
				if parent, wild := strings.CutPrefix(h, "*."); wild {
					ok = ok || strings.HasSuffix(host, "."+parent)
				} else {
					ok = ok || host == h
				}
			}
			if !ok {
				continue
			}
		}
		if r.matches(t.Method, t.Path, client) {
			return r
		}
	}
	return &p.def
}

// FuzzFastPathMatchesCanonical: the fast paths give the answers of the slow ones.
// A host plainHost accepts is what canonicalHostSlow returns for it; a path the
// scan finds canonical is what rewritePath makes of it; and Match (hash tables
// folding case, the first-segment index) picks the rule a linear scan of every
// rule picks, for the host in any case.
func FuzzFastPathMatchesCanonical(f *testing.F) {
	for _, tc := range canonTable {
		f.Add(tc.method, tc.host, tc.target, []byte{10, 1, 2, 3})
	}
	for _, h := range []string{"a.b.example.com", "A.B.Example.COM", "x.a.b.example.com", "b.example.com", "example.com",
		"app.example.org", "app7.example.com", "q.t96.example.net", "[2001:db8::1]", "192.0.2.10", "192.0.2.10.", "a-b.c", "a.-b", "1a.2b"} {
		for _, target := range []string{"/", "/admin", "/admin/x", "/Admin/y", "/x", "/v/static/a", "/internal/z", "/api/v0/q", "/healthz2"} {
			f.Add("GET", h, target, []byte(nil))
			f.Add("BREW", h, target, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
		}
	}
	policies := []*Policy{mustParse(f, fastPolicy), bigPolicy(f)}
	f.Fuzz(func(t *testing.T, method, host, target string, client []byte) {
		if plainHost(host) {
			if h, ok := canonicalHostSlow(host); !ok || h != host {
				t.Fatalf("plainHost(%q), but canonicalHostSlow gives %q, %v", host, h, ok)
			}
		}
		if h, ok := canonicalHost(host); ok {
			// The scan stops at the query itself: it reads target as it reads the
			// target without its query, and refuses a '#' before the query.
			p, clean, params, err := scanPath(target, h)
			path, _, _ := strings.Cut(target, "?")
			if strings.Contains(path, "#") {
				if err == nil {
					t.Fatalf("%q: fragment not refused", target)
				}
			} else if p2, clean2, params2, err2 := scanPath(path, h); p != p2 || clean != clean2 || params != params2 || err != err2 {
				t.Fatalf("%q scans as %q %v %v %v, without its query as %q %v %v %v", target, p, clean, params, err, p2, clean2, params2, err2)
			}
			if err == nil && clean {
				if out, err := rewritePath(p); err != nil || out != p {
					t.Fatalf("%q scanned as canonical %q, rewritten %q, %v", target, p, out, err)
				}
			}
		}
		tg, err := Canonicalize(method, host, target)
		if err != nil {
			return
		}
		addr := fuzzAddr(client)
		for _, p := range policies {
			want := matchLinear(p, &tg, addr)
			for _, h := range []string{tg.Host, strings.ToUpper(tg.Host), strings.ToLower(tg.Host)} {
				t2 := tg
				t2.Host = h
				if got := p.Match(&t2, addr); got != want {
					t.Fatalf("%s %q %q from %v: Match gives rule %s, a linear scan %s", method, h, tg.Path, addr, got.Name, want.Name)
				}
			}
		}
	})
}

// TestTable: the hash table finds every key, in any case for lookupFold, and
// nothing else.
func TestTable(t *testing.T) {
	m := map[string]int{}
	for i, k := range []string{"", "a", "ab", "abc", "abcd", "abcdefg", "abcdefgh", "abcdefghi", "app.example.com", "app7.example.com",
		"a.very.long.host.name.below.example.com", "2001:db8::1", "192.0.2.10"} {
		m[k] = i + 1
	}
	tb := newTable(m)
	if tb.len() != len(m) {
		t.Fatalf("%d keys, want %d", tb.len(), len(m))
	}
	for k, v := range m {
		if got, ok := tb.lookup(k); !ok || got != v {
			t.Errorf("lookup(%q) = %d, %v", k, got, ok)
		}
		if got, ok := tb.lookupFold(strings.ToUpper(k)); !ok || got != v {
			t.Errorf("lookupFold(%q) = %d, %v", strings.ToUpper(k), got, ok)
		}
		if _, ok := tb.lookup(k + "x"); ok {
			t.Errorf("lookup(%q) found", k+"x")
		}
		if k != strings.ToUpper(k) {
			if _, ok := tb.lookup(strings.ToUpper(k)); ok {
				t.Errorf("lookup(%q) found", strings.ToUpper(k))
			}
		}
	}
	var empty table[int]
	if _, ok := empty.lookupFold("a"); ok {
		t.Fatal("empty table found a key")
	}
}

// FuzzMatchRequest: MatchRequest (a Host value found in the exact-host table is not
// read again) answers what Canonicalize, ParamsRefused and Match answer, the same
// rule or the same refusal, for the host in any case.
func FuzzMatchRequest(f *testing.F) {
	for _, tc := range canonTable {
		f.Add(tc.method, tc.host, tc.target, []byte{10, 1, 2, 3})
	}
	for _, h := range []string{"a.b.example.com", "A.B.Example.COM", "x.a.b.example.com", "b.example.com", "example.com",
		"app.example.org", "App.Example.Org:443", "app.example.org.", "app\x0eexample.org", "app.example.org\x00", "app7.example.com",
		"app7.example.com.", "APP7.EXAMPLE.COM:80", "q.t96.example.net", "[2001:db8::1]", "2001:db8::1", "192.0.2.10", "192.0.2.10:8080",
		"192.0.2.10.", "a-b.c", "a.-b", "1a.2b", ""} {
		for _, target := range []string{"/", "/admin", "/admin/x", "/Admin/y", "/x", "/v/static/a", "/internal/z", "/api/v0/q",
			"/healthz2", "/admin;x", "http://app.example.org/admin", "/a/../admin", "x", "/a#b"} {
			f.Add("GET", h, target, []byte(nil))
			f.Add("BREW", h, target, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
		}
	}
	f.Add("get", "app.example.org", "/", []byte(nil))
	policies := []*Policy{mustParse(f, fastPolicy), bigPolicy(f), mustParse(f, "rules:\n  - hosts: [app.example.org]\n    action: deny\n")}
	f.Fuzz(func(t *testing.T, method, host, target string, client []byte) {
		addr := fuzzAddr(client)
		for _, p := range policies {
			for _, h := range []string{host, strings.ToUpper(host), strings.ToLower(host)} {
				var want *Rule
				tg, wantErr := Canonicalize(method, h, target)
				if wantErr == nil {
					wantErr = p.ParamsRefused(&tg)
				}
				if wantErr == nil {
					want = p.Match(&tg, addr)
				}
				got, err := p.MatchRequest(method, h, target, addr)
				if got != want || err != wantErr {
					t.Fatalf("%q %q %q from %v: MatchRequest gives %v, %v; Canonicalize and Match %v, %v", method, h, target, addr, got, err, want, wantErr)
				}
			}
		}
	})
}

// TestSameHost: lookupHost's comparison lets only the key's letters differ in case.
func TestSameHost(t *testing.T) {
	for _, tc := range []struct {
		s, key string
		want   bool
	}{
		{"a", "a", true}, {"A", "a", true}, {"1", "1", true}, {"\x11", "1", false}, {"a", "b", false},
		{"App.Example.COM", "app.example.com", true}, {"app\x0eexample.com", "app.example.com", false},
		{"app-example.com", "app.example.com", false}, {"app.example.co", "app.example.com", false},
		{"APP7.EXAMPLE.COM", "app7.example.com", true}, {"APP\x17.EXAMPLE.COM", "app7.example.com", false},
		{"app7.example.coM", "app7.example.com", true}, {"app7.example.co\x0d", "app7.example.com", false},
		{"abcdefgh", "abcdefgh", true}, {"`{@[", "`{@[", true}, {"@[", "`{", false}, {"@[ABCDEFGH", "`{abcdefgh", false},
		{"ZA-09.:-AZ", "za-09.:-az", true}, {"ZA-09.:-A\x1a", "za-09.:-az", false}, {"ZA\r09.:-AZ", "za-09.:-az", false}, {"abcdefgH", "abcdefgh", true}, {"abcdefg\x08", "abcdefgh", false},
		{"a.very.long.host.name.below.EXAMPLE.com", "a.very.long.host.name.below.example.com", true},
		{"a.very.long.host.name\x0ebelow.example.com", "a.very.long.host.name.below.example.com", false},
	} {
		tb := newTable(map[string]int{tc.key: 1})
		sl := &tb.slots[hashFold(tc.key, tb.seed)&tb.mask]
		if got := sameHost(tc.s, sl.key); got != tc.want {
			t.Errorf("sameHost(%q, %q) = %v", tc.s, tc.key, got)
		}
		if _, found, _ := tb.lookupHost(tc.s); found != tc.want {
			t.Errorf("lookupHost(%q) found %v", tc.s, found)
		}
	}
}

// TestSegFilter: every first segment a candidate list is indexed by passes its
// filter (a segment the filter turns away is looked up nowhere).
func TestSegFilter(t *testing.T) {
	for _, p := range []*Policy{mustParse(t, fastPolicy), bigPolicy(t)} {
		all := []*candidates{p.index.anyHost}
		for _, tb := range []*table[*candidates]{&p.index.exact, &p.index.wild} {
			for i := range tb.slots {
				if tb.slots[i].used {
					all = append(all, tb.slots[i].val)
				}
			}
		}
		for _, c := range all {
			for i := range c.bySeg.slots {
				if sl := &c.bySeg.slots[i]; sl.used && !c.segFilter.has(sl.key) {
					t.Errorf("segment %q turned away by its filter", sl.key)
				}
			}
		}
	}
}

// TestSameHostBytes: sameHost, byte loop and eight-byte words, against the
// definition, for every byte of s against every ASCII byte of key, at each place
// of a word.
func TestSameHostBytes(t *testing.T) {
	for k := range 0x80 {
		for c := range 0x100 {
			want := c == k || c == k-0x20 && k >= 'a' && k <= 'z'
			for _, n := range []int{1, 5, 8, 9, 16, 19} {
				for at := range n {
					key, s := []byte(strings.Repeat("a", n)), []byte(strings.Repeat("A", n))
					key[at], s[at] = byte(k), byte(c)
					if got := sameHost(string(s), string(key)); got != want {
						t.Fatalf("sameHost(%q, %q) = %v", s, key, got)
					}
				}
			}
		}
	}
}

// fuzzAddr is the client address a fuzz input's bytes spell: IPv4 for 4 bytes,
// IPv6 for 16, none otherwise.
func fuzzAddr(client []byte) netip.Addr {
	switch len(client) {
	case 4:
		return netip.AddrFrom4([4]byte(client))
	case 16:
		return netip.AddrFrom16([16]byte(client))
	}
	return netip.Addr{}
}
