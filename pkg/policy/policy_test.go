package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sample = `# the contract's example, and more
default: authenticated
rules:
  - name: probes
    hosts: [app.example.com, "*.example.org"]
    paths: [/healthz, "/public/**", "/api/*/status"]
    methods: [GET, HEAD]
    action: public
  - name: internal
    paths: ["/internal/**"]
    networks: [10.0.0.0/8, "2001:db8::/32"]
    action: authenticated
  - name: internal-others
    paths: ["/internal/**"]
    action: deny
  - name: admin
    hosts: [admin.example.com]
    action: authenticated
    roles: [admin, ops]
  - name: money
    paths: ["/billing/**"]
    action: authenticated
    roles: [finance]
    mfa: true
  - name: ipv6
    hosts: ["[2001:db8::1]"]
    action: deny
`

func TestMatch(t *testing.T) {
	p := mustParse(t, sample)
	if len(p.Warnings()) != 0 {
		t.Fatalf("warnings: %v", p.Warnings())
	}
	for _, tc := range []struct {
		method, host, path, client string
		want                       string
	}{
		{"GET", "app.example.com", "/healthz", "", "probes"},
		{"HEAD", "APP.example.com:443", "/healthz", "", "probes"},
		{"POST", "app.example.com", "/healthz", "", "default"},
		{"GET", "app.example.com", "/healthz/", "", "default"},
		{"GET", "app.example.com", "/public", "", "probes"},
		{"GET", "app.example.com", "/public/", "", "probes"},
		{"GET", "app.example.com", "/public/a/b/c.css", "", "probes"},
		{"GET", "app.example.com", "/publicity", "", "default"},
		{"GET", "app.example.com", "/api/v1/status", "", "probes"},
		{"GET", "app.example.com", "/api/v1/status/x", "", "default"},
		{"GET", "app.example.com", "/api//status", "", "default"},
		{"GET", "a.example.org", "/healthz", "", "probes"},
		{"GET", "a.b.example.org", "/healthz", "", "probes"},
		{"GET", "example.org", "/healthz", "", "default"}, // *.x is subdomains only
		{"GET", "badexample.org", "/healthz", "", "default"},
		{"GET", "other.example.com", "/healthz", "", "default"},
		{"GET", "app.example.com", "/internal/x", "10.1.2.3", "internal"},
		{"GET", "app.example.com", "/internal/x", "2001:db8::5", "internal"},
		{"GET", "app.example.com", "/internal/x", "192.0.2.1", "internal-others"},
		{"GET", "app.example.com", "/internal", "", "internal-others"},
		{"GET", "admin.example.com", "/", "", "admin"},
		{"GET", "admin.example.com.", "/anything", "", "admin"},
		{"DELETE", "Admin.Example.Com:8443", "/x", "", "admin"},
		{"GET", "x.admin.example.com", "/", "", "default"},
		{"GET", "app.example.com", "/billing/invoices", "", "money"},
		{"GET", "admin.example.com", "/billing/invoices", "", "admin"}, // first match wins
		{"GET", "[2001:db8:0::1]:443", "/", "", "ipv6"},
	} {
		tg, err := Canonicalize(tc.method, tc.host, tc.path)
		if err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		var client netip.Addr
		if tc.client != "" {
			client = netip.MustParseAddr(tc.client)
		}
		if got := p.Match(&tg, client).Name; got != tc.want {
			t.Errorf("%s %s %s from %q: rule %s, want %s", tc.method, tc.host, tc.path, tc.client, got, tc.want)
		}
	}
}

func TestRequirement(t *testing.T) {
	p := mustParse(t, sample)
	rule := func(name string) *Rule {
		for i := range p.Rules() {
			if p.Rules()[i].Name == name {
				return &p.Rules()[i]
			}
		}
		return p.Default()
	}
	for _, tc := range []struct {
		rule    string
		tighten Tighten
		authn   bool
		roles   []string
		mfa     bool
		want    Outcome
	}{
		{"probes", Tighten{}, false, nil, false, Allow},
		{"probes", Tighten{}, true, nil, false, Allow},
		{"probes", Tighten{Roles: "ops"}, false, nil, false, Unauthenticated}, // a location tightens public
		{"probes", Tighten{Roles: "ops"}, true, []string{"dev"}, false, MissingRole},
		{"probes", Tighten{MFA: true}, true, nil, false, MissingMFA},
		{"internal-others", Tighten{}, true, []string{"admin"}, true, Denied},
		{"internal-others", Tighten{Roles: "admin"}, true, []string{"admin"}, true, Denied}, // never loosened
		{"admin", Tighten{}, false, nil, false, Unauthenticated},
		{"admin", Tighten{}, true, []string{"dev"}, false, MissingRole},
		{"admin", Tighten{}, true, []string{"dev", "ops"}, false, Allow},
		{"admin", Tighten{Roles: "root, superuser"}, true, []string{"ops"}, false, MissingRole},
		{"admin", Tighten{Roles: "root, ops"}, true, []string{"ops"}, false, Allow},
		{"money", Tighten{}, true, []string{"finance"}, false, MissingMFA},
		{"money", Tighten{}, true, []string{"finance"}, true, Allow},
		{"money", Tighten{}, true, []string{"dev"}, true, MissingRole},
		{"default", Tighten{}, true, nil, false, Allow},
		{"default", Tighten{}, false, nil, false, Unauthenticated},
		{"default", Tighten{MFA: true}, true, nil, false, MissingMFA},
	} {
		if got := rule(tc.rule).Require(tc.tighten).Check(tc.authn, tc.roles, tc.mfa); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string // substrings, in order, of the error
	}{
		{"unknown top key", "default: deny\nrulez: []\n", []string{`test.yaml:2: unknown key "rulez"`}},
		{"unknown rule key", "rules:\n  - action: deny\n    path: [/x]\n", []string{`test.yaml:3: unknown key "path" in rule`}},
		{"bad action", "rules:\n  - action: allow\n", []string{`test.yaml:2: action "allow"`}},
		{"no action", "rules:\n  - paths: [/x]\n", []string{"test.yaml:2: rule has no action"}},
		{"public default", "default: public\n", []string{`test.yaml:1: default "public"`}},
		{"bad pattern", "rules:\n  - action: deny\n    paths: [\"/a/**/b\", \"/a*\", x, /a/../b, \"/a;b\"]\n",
			[]string{"test.yaml:3:", "** may only be the last", "whole segments", "does not start with /", `write "/b"`, "';'"}},
		{"bad host", "rules:\n  - action: deny\n    hosts: [\"a.com:80\", A.com, \"*.*.com\", \"a..com\", \"*.10.0.0.1\"]\n",
			[]string{"test.yaml:3:", `"a.com:80"`, "lower case", `"*.*.com"`, `"a..com"`, "needs a name"}},
		{"bad method", "rules:\n  - action: deny\n    methods: [get]\n", []string{`test.yaml:3: method "get"`}},
		{"bad network", "rules:\n  - action: deny\n    networks: [10.0.0.0/33]\n", []string{`test.yaml:3: network "10.0.0.0/33"`}},
		{"roles on public", "rules:\n  - action: public\n    roles: [a]\n", []string{"test.yaml:3: roles only apply"}},
		{"mfa on deny", "rules:\n  - action: deny\n    mfa: true\n", []string{"test.yaml:3: mfa only applies"}},
		{"bad mfa", "rules:\n  - action: authenticated\n    mfa: yes\n", []string{`test.yaml:3: mfa "yes"`}},
		{"bad role", "rules:\n  - action: authenticated\n    roles: [\"a b\"]\n", []string{`test.yaml:3: role "a b"`}},
		{"empty list", "rules:\n  - action: deny\n    hosts: []\n", []string{"test.yaml:3: hosts is empty"}},
		{"duplicate name", "rules:\n  - name: a\n    action: deny\n  - name: a\n    action: deny\n", []string{`test.yaml:4: rule name "a" already used by the rule at line 2`}},
		{"reserved name", "rules:\n  - name: default\n    action: deny\n", []string{`test.yaml:2: rule name "default"`}},
		{"duplicate key", "rules:\n  - action: deny\n    action: public\n", []string{"test.yaml:3: action: already set at line 2"}},
		{"syntax", "rules:\n  - action: deny\n    paths: [a\n", []string{"test.yaml:", "did not find expected"}},
		{"not a mapping", "- a\n- b\n", []string{"test.yaml:1: want a mapping"}},
		{"rule not a mapping", "rules:\n  - deny\n", []string{"test.yaml:2: a rule must be a mapping"}},
		{"empty", "", []string{"test.yaml: empty file"}},
		{"two documents", "default: deny\n---\ndefault: deny\n", []string{"test.yaml:2: a second YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("test.yaml", []byte(tc.yml))
			if err == nil || p != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want an ErrInvalid", p, err)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestShadowWarnings(t *testing.T) {
	p := mustParse(t, `rules:
  - name: all-api
    paths: ["/api/**"]
    action: authenticated
  - name: api-status
    paths: ["/api/*/status"]
    methods: [GET]
    action: public
  - name: wild
    hosts: ["*.example.com"]
    networks: [10.0.0.0/8]
    action: deny
  - name: narrower
    hosts: [a.example.com, "*.b.example.com"]
    networks: [10.1.0.0/16]
    methods: [POST]
    action: deny
  - name: reachable
    hosts: [example.com]
    action: deny
  - name: reachable-too
    paths: ["/other/**"]
    networks: [10.0.0.0/8]
    action: deny
`)
	w := p.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "line 5: rule api-status is never reached: rule all-api (line 2)") ||
		!strings.Contains(w[1], "rule narrower is never reached: rule wild") {
		t.Fatalf("warnings %q", w)
	}
}

func TestFromRules(t *testing.T) {
	p, err := FromRules([]string{
		"* / *",
		"* /admin admin",
		"* /admin/public *",
		"app.example.com /admin superadmin",
		"*.example.com /reports finance,ops",
		"reports.example.com /reports *",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, path string
		roles      []string
		allow      bool
	}{
		{"x.org", "/", nil, true},
		{"x.org", "/admin", nil, false},
		{"x.org", "/admin", []string{"admin"}, true},
		{"x.org", "/admin/users", []string{"dev", "admin"}, true},
		{"x.org", "/administrator", nil, true},
		{"x.org", "/admin/public/x", nil, true},
		{"app.example.com", "/admin", []string{"admin"}, false},
		{"APP.example.com:8443", "/admin", []string{"superadmin"}, true},
		{"a.example.com", "/reports/q1", []string{"ops"}, true},
		{"a.example.com", "/reports/q1", []string{"dev"}, false},
		{"example.com", "/reports", []string{"dev"}, true},
		{"reports.example.com", "/reports", nil, true},
		{"app.example.com.", "/admin", []string{"admin"}, false},
		{"app.example.com.:443", "/admin", []string{"admin"}, false},
	} {
		tg, err := Canonicalize("GET", tc.host, tc.path)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Match(&tg, netip.Addr{}).Require(Tighten{}).Check(true, tc.roles, false) == Allow
		if got != tc.allow {
			t.Errorf("%s %s %v: allow %v, want %v", tc.host, tc.path, tc.roles, got, tc.allow)
		}
	}
	for _, bad := range [][]string{
		{"* admin admin"}, {"* /admin"}, {"* /admin admin extra"}, {"* /admin admin,,ops"},
		{"*.* /admin admin"}, {"exa_mple.com /x a"}, {"* /a/../admin admin"}, {"* /a%2Fb admin"},
		{"app.example.com:8080 /x a"}, {"app.example.com. /x a"}, {"* /a x", "* /a/ y"},
	} {
		if _, err := FromRules(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("FromRules(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("rules:\n  - action: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Fatalf("Load: %v; want %s:2: …", err, path)
	}
	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// bigPolicy is 100 rules over 20 hosts, wildcards and paths, as an operator with
// many applications might write them.
func bigPolicy(tb testing.TB) *Policy {
	var b strings.Builder
	b.WriteString("default: deny\nrules:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - name: r%d\n", i)
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "    hosts: [app%d.example.com]\n    paths: [\"/api/v%d/**\"]\n    action: authenticated\n    roles: [r%d]\n", i%20, i, i)
		case 1:
			fmt.Fprintf(&b, "    hosts: [\"*.t%d.example.net\"]\n    methods: [GET, HEAD]\n    paths: [\"/static/*/x%d\"]\n    action: public\n", i, i)
		case 2:
			fmt.Fprintf(&b, "    hosts: [app%d.example.com]\n    paths: [/healthz%d]\n    action: public\n", i%20, i)
		case 3:
			fmt.Fprintf(&b, "    paths: [\"/internal%d/**\"]\n    networks: [10.%d.0.0/16]\n    action: authenticated\n", i, i)
		case 4:
			fmt.Fprintf(&b, "    hosts: [app%d.example.com]\n    paths: [\"/admin%d/**\"]\n    action: deny\n", i%20, i)
		}
	}
	b.WriteString("  - name: last\n    hosts: [app7.example.com]\n    action: authenticated\n")
	p, err := Parse("big.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	if len(p.Rules()) != 101 {
		tb.Fatalf("%d rules", len(p.Rules()))
	}
	return p
}

func TestMatchAllocates0(t *testing.T) {
	p := bigPolicy(t)
	client := netip.MustParseAddr("192.0.2.7")
	allocs := testing.AllocsPerRun(1000, func() {
		tg, err := Canonicalize("GET", "App7.example.com:443", "/api/v1/items/42?x=1")
		if err != nil {
			t.Fatal(err)
		}
		if r := p.Match(&tg, client); r.Name != "last" {
			t.Fatalf("rule %s", r.Name)
		}
		tg, _ = Canonicalize("GET", "a.t96.example.net", "/static/v1/x96")
		if r := p.Match(&tg, client); r.Name != "r96" {
			t.Fatalf("rule %s", r.Name)
		}
		for _, host := range []string{"App7.example.com", "App7.example.com:443"} {
			if r, err := p.MatchRequest("GET", host, "/api/v1/items/42?x=1", client); err != nil || r.Name != "last" {
				t.Fatalf("rule %v, %v", r, err)
			}
		}
		if p.Rules()[0].Require(Tighten{Roles: "a,b"}).Check(true, []string{"r0", "b"}, false) != Allow {
			t.Fatal("check")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// BenchmarkMatch100: canonicalise and match one request against 100 rules
// (MatchRequest, as the verifier does).
func BenchmarkMatch100(b *testing.B) {
	p := bigPolicy(b)
	client := netip.MustParseAddr("192.0.2.7")
	for _, bc := range []struct{ name, host, path, want string }{
		{"exact host, last rule", "app7.example.com", "/api/v1/items/42?x=1", "last"},
		{"wildcard host", "a.t96.example.net", "/static/v1/x96", "r96"},
		{"no host rule, default", "other.example.org", "/x/y/z", "default"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := p.MatchRequest("GET", bc.host, bc.path, client)
				if err != nil {
					b.Fatal(err)
				}
				if r.Name != bc.want {
					b.Fatalf("rule %s", r.Name)
				}
			}
		})
	}
}

// TestExampleFile: docs/policy.example.yaml (referenced by every proxy README)
// compiles without warnings and means what its comments say.
func TestExampleFile(t *testing.T) {
	p, err := Load(filepath.Join("..", "..", "docs", "policy.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings()) != 0 {
		t.Fatalf("warnings: %v", p.Warnings())
	}
	for _, tc := range []struct {
		method, host, path, client string
		roles                      []string
		mfa                        bool
		token                      bool
		want                       Outcome
	}{
		{"GET", "app.example.com", "/healthz", "", nil, false, false, Allow},
		{"POST", "app.example.com", "/healthz", "", nil, false, false, Unauthenticated},
		{"GET", "www.example.com", "/assets/app.css", "", nil, false, false, Allow},
		{"GET", "app.example.com", "/metrics", "10.20.3.4", nil, false, true, Allow},
		{"GET", "app.example.com", "/metrics", "10.20.3.4", nil, false, false, Unauthenticated},
		{"GET", "app.example.com", "/metrics", "192.0.2.1", []string{"admin"}, true, true, Denied},
		{"GET", "admin.example.com", "/users", "", []string{"dev"}, false, true, MissingRole},
		{"GET", "admin.example.com", "/users", "", []string{"admin"}, false, true, Allow},
		{"POST", "admin.example.com", "/payouts/42", "", []string{"admin"}, false, true, MissingMFA},
		{"POST", "admin.example.com", "/payouts/42", "", []string{"admin"}, true, true, Allow},
		{"GET", "api.example.com", "/v1/items", "", nil, false, true, Allow},
		{"GET", "api.example.com", "/v1/items", "", nil, false, false, Unauthenticated},
		{"DELETE", "api.example.com", "/v1/items/1", "", []string{"reader"}, false, true, MissingRole},
		{"DELETE", "api.example.com", "/v1/items/1", "", []string{"writer"}, false, true, Allow},
		{"GET", "a.old.example.com", "/", "", []string{"admin"}, true, true, Denied},
		{"GET", "app.example.com", "/anything", "", nil, false, true, Allow},
	} {
		tg, err := Canonicalize(tc.method, tc.host, tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var client netip.Addr
		if tc.client != "" {
			client = netip.MustParseAddr(tc.client)
		}
		r := p.Match(&tg, client)
		if got := r.Require(Tighten{}).Check(tc.token, tc.roles, tc.mfa); got != tc.want {
			t.Errorf("%s %s %s from %q (rule %s): %v, want %v", tc.method, tc.host, tc.path, tc.client, r.Name, got, tc.want)
		}
	}
}

// TestRuleCheckIsRequireCheck: Rule.Check, the verifier's shortcut when a location
// adds nothing, answers what Require(Tighten{}).Check answers for a valid token.
func TestRuleCheckIsRequireCheck(t *testing.T) {
	p, err := Parse("test.yaml", []byte(`rules:
  - {name: a, paths: ["/a/**"], action: authenticated}
  - {name: b, paths: ["/b/**"], action: authenticated, roles: [admin, dev]}
  - {name: c, paths: ["/c/**"], action: authenticated, mfa: true}
  - {name: d, paths: ["/d/**"], action: authenticated, roles: [admin], mfa: true}
  - {name: e, paths: ["/e/**"], action: public}
  - {name: f, paths: ["/f/**"], action: deny}
`))
	if err != nil {
		t.Fatal(err)
	}
	rules := append(slices.Clone(p.Rules()), *p.Default())
	rules = append(rules, *bigPolicy(t).Default())
	for _, r := range append(rules, bigPolicy(t).Rules()...) {
		for _, roles := range [][]string{nil, {"dev"}, {"admin"}, {"user", "admin"}, {"r0"}, {"r4", "dev"}} {
			for _, mfa := range []bool{false, true} {
				want := r.Require(Tighten{}).Check(true, roles, mfa)
				if got := r.Check(roles, mfa); got != want {
					t.Errorf("rule %s, roles %v, mfa %v: Check %v, Require.Check %v", r.Name, roles, mfa, got, want)
				}
			}
		}
	}
}
