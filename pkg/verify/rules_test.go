package verify

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/policy"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// TestRulesInDecide: --rule rules, through Decide.
func TestRulesInDecide(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.Rules = []string{"* /admin admin"} }))
	tok := f.token("s1", "u1", "dev")
	for _, tc := range []struct {
		path   string
		status int
	}{{"/", 200}, {"/admin", 403}, {"/admin/x", 403}, {"/x/../admin", 403}, {"/%61dmin", 403},
		{"/admin%2fx", 400}, {"/%zz", 400}, {"/admin\\x", 400}, {"/%2e%2e/admin", 400}} {
		d, err := f.v.Decide(t.Context(), &Request{Method: http.MethodGet, Host: "h", Path: tc.path, Token: tok})
		if err != nil || d.Status != tc.status {
			t.Errorf("%s: %+v, %v; want %d", tc.path, d, err, tc.status)
		}
		if d.Status == 403 && (d.Reason != ReasonForbidden || d.Allow) {
			t.Errorf("%s: %+v", tc.path, d)
		}
	}
}

// TestRuleHostSpellings is the regression test of issue 9's "admin.example.com..":
// a host spelled with two trailing dots (or any other invalid spelling) skipped
// the host's rule and fell through to a broader one. It is refused now (400).
func TestRuleHostSpellings(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) {
		c.Rules = []string{"admin.example.com / admin", "* / *"}
	}))
	tok := f.token("s1", "u1", "dev")
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"admin.example.com", 403},
		{"ADMIN.example.com", 403},
		{"admin.example.com.", 403},
		{"admin.example.com:443", 403},
		{"admin.example.com.:443", 403},
		{"admin.example.com..", 400},
		{"admin.example.com..:443", 400},
		{"admin.example.com...", 400},
		{"admin..example.com", 400},
		{"admin.example.com:80:80", 400},
		{"admin.example.com%2e", 400},
		{"other.example.com", 200},
	} {
		d, err := f.v.Decide(t.Context(), &Request{Method: http.MethodGet, Host: tc.host, Path: "/", Token: tok, Source: SourceHeader})
		if err != nil || d.Status != tc.status {
			t.Errorf("host %q: %+v, %v; want %d", tc.host, d, err, tc.status)
		}
	}
}

func parsePolicy(t testing.TB, yml string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicyDecisions: every action of the contract, in the order the verifier
// applies them, with the deciding rule named in the decision and the metrics.
func TestPolicyDecisions(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.Policy = parsePolicy(t, verifytest.Policy) }))
	dev := f.token("s-dev", "u-dev", "dev")
	admin := f.token("s-admin", "u-admin", "admin")
	f.sessions.Add("s-mfa", "u-mfa", f.clock.Now().Add(time.Hour))
	withMFA := f.mint.Mint(t, verifytest.Claims{Subject: "u-mfa", SessionID: "s-mfa", Extra: map[string]any{"amr": []string{"pwd", "otp", "mfa"}}})
	f.sessions.Add("s-pwd", "u-pwd", f.clock.Now().Add(time.Hour))
	pwdOnly := f.mint.Mint(t, verifytest.Claims{Subject: "u-pwd", SessionID: "s-pwd", Extra: map[string]any{"amr": []string{"pwd"}}})
	revoked := f.token("s-rev", "u-rev", "admin")
	f.mustAllow(revoked)
	f.sessions.Revoke("s-rev", "logout", f.clock.Now())
	f.v.tombstone("s-rev", f.clock.Now().UnixNano())

	for _, tc := range []struct {
		name, method, host, path, client, token string
		roles                                   string
		mfa                                     bool
		status                                  int
		reason                                  Reason
		identity                                bool
		rule                                    string
	}{
		{"public, no token", "GET", "app.example.com", "/healthz", "", "", "", false, 200, ReasonOK, false, "health"},
		{"public, valid token: identity", "GET", "app.example.com", "/healthz", "", dev, "", false, 200, ReasonOK, true, "health"},
		{"public, revoked token: no identity", "GET", "app.example.com", "/healthz", "", revoked, "", false, 200, ReasonOK, false, "health"},
		{"public, garbage token", "HEAD", "app.example.com", "/healthz", "", "garbage", "", false, 200, ReasonOK, false, "health"},
		{"public method only", "POST", "app.example.com", "/healthz", "", "", "", false, 401, ReasonNoToken, false, "default"},
		{"public tightened by the location", "GET", "app.example.com", "/healthz", "", "", "ops", false, 401, ReasonNoToken, false, "health"},
		{"public tightened, wrong role", "GET", "app.example.com", "/healthz", "", dev, "ops", false, 403, ReasonForbidden, false, "health"},
		{"network allowed", "GET", "app.example.com", "/internal/x", "10.2.3.4", dev, "", false, 200, ReasonOK, true, "internal"},
		{"network denied, valid token", "GET", "app.example.com", "/internal/x", "192.0.2.1", admin, "", false, 403, ReasonForbidden, false, "internal-deny"},
		{"deny without token: 403, not 401", "GET", "app.example.com", "/internal/x", "", "", "", false, 403, ReasonForbidden, false, "internal-deny"},
		{"deny with a revoked token: 403", "GET", "app.example.com", "/internal/x", "", revoked, "", false, 403, ReasonForbidden, false, "internal-deny"},
		{"deny wildcard host", "GET", "x.blocked.example.com", "/", "", admin, "", false, 403, ReasonForbidden, false, "blocked"},
		{"role: no token", "GET", "admin.example.com", "/", "", "", "", false, 401, ReasonNoToken, false, "admin"},
		{"role: revoked token is 401, not 403", "GET", "admin.example.com", "/", "", revoked, "", false, 401, ReasonRevoked, false, "admin"},
		{"role missing", "GET", "admin.example.com", "/", "", dev, "", false, 403, ReasonForbidden, false, "admin"},
		{"role present", "GET", "admin.example.com", "/", "", admin, "", false, 200, ReasonOK, true, "admin"},
		{"location roles on top of the rule's", "GET", "admin.example.com", "/", "", admin, "root", false, 403, ReasonForbidden, false, "admin"},
		{"mfa: token without amr", "GET", "app.example.com", "/billing/x", "", dev, "", false, 401, ReasonMFARequired, false, "money"},
		{"mfa: amr without mfa", "GET", "app.example.com", "/billing/x", "", pwdOnly, "", false, 401, ReasonMFARequired, false, "money"},
		{"mfa: amr with mfa", "GET", "app.example.com", "/billing/x", "", withMFA, "", false, 200, ReasonOK, true, "money"},
		{"mfa from the location", "GET", "app.example.com", "/x", "", pwdOnly, "", true, 401, ReasonMFARequired, false, "default"},
		{"default", "GET", "app.example.com", "/x", "", dev, "", false, 200, ReasonOK, true, "default"},
		{"bad host", "GET", "app.example.com..", "/healthz", "", "", "", false, 400, ReasonBadRequest, false, "none"},
		{"encoded slash", "GET", "app.example.com", "/internal%2Fx", "", admin, "", false, 400, ReasonBadRequest, false, "none"},
		{"params with path rules", "GET", "app.example.com", "/internal;x/y", "", admin, "", false, 400, ReasonBadRequest, false, "none"},
		{"lower-case method", "get", "app.example.com", "/healthz", "", "", "", false, 400, ReasonBadRequest, false, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Method: tc.method, Host: tc.host, Path: tc.path, Token: tc.token, RequireRoles: tc.roles, RequireMFA: tc.mfa}
			if tc.token != "" {
				r.Source = SourceHeader
			}
			if tc.client != "" {
				r.Client = netip.MustParseAddr(tc.client)
			}
			before := metricValue(t, f.reg, "vexen_verifier_decisions_total", map[string]string{"reason": tc.reason.String(), "rule": tc.rule})
			d, err := f.v.Decide(t.Context(), r)
			if err != nil || d.Status != tc.status || d.Reason != tc.reason || d.Rule != tc.rule ||
				(d.Identity != nil) != tc.identity || d.Allow != (tc.status == 200) {
				t.Fatalf("%+v, %v; want status %d reason %v rule %s identity %v", d, err, tc.status, tc.reason, tc.rule, tc.identity)
			}
			after := metricValue(t, f.reg, "vexen_verifier_decisions_total", map[string]string{"reason": tc.reason.String(), "rule": tc.rule})
			if after != before+1 {
				t.Errorf("counter {reason=%s,rule=%s} went %v → %v", tc.reason, tc.rule, before, after)
			}
		})
	}
}

// TestSetPolicy: a swapped policy decides the next request; nil removes it.
func TestSetPolicy(t *testing.T) {
	f := newFixture(t)
	tok := f.token("s1", "u1", "dev")
	r := &Request{Method: "GET", Host: "app.example.com", Path: "/ops", Token: tok, Source: SourceHeader}
	status := func() int {
		d, err := f.v.Decide(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	if s := status(); s != 200 {
		t.Fatalf("no policy: %d", s)
	}
	f.v.SetPolicy(parsePolicy(t, "rules:\n  - name: ops\n    paths: [/ops]\n    action: deny\n"))
	if s := status(); s != 403 {
		t.Fatalf("deny policy: %d", s)
	}
	if f.v.Policy() == nil || f.v.Policy().Rules()[0].Name != "ops" {
		t.Fatal("Policy()")
	}
	f.v.SetPolicy(nil)
	if s := status(); s != 200 {
		t.Fatalf("policy removed: %d", s)
	}
}

func TestPolicyAndRulesExclusive(t *testing.T) {
	c := DefaultConfig()
	c.Rules = []string{"* /admin admin"}
	c.Policy = parsePolicy(t, "default: deny\n")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Fatalf("Validate: %v", err)
	}
}

// bigPolicy is 100 rules over 20 hosts, wildcards, paths and networks; the request
// of the benchmarks (app.example.com /x) is decided by its last rule.
func bigPolicy(t testing.TB) *policy.Policy {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range 99 {
		fmt.Fprintf(&b, "  - name: r%d\n", i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "    hosts: [app%d.example.com]\n    paths: [\"/api/v%d/**\"]\n    action: authenticated\n    roles: [r%d]\n", i%20, i, i)
		case 1:
			fmt.Fprintf(&b, "    hosts: [\"*.t%d.example.net\"]\n    paths: [\"/static/*/x%d\"]\n    action: public\n", i, i)
		case 2:
			fmt.Fprintf(&b, "    paths: [\"/internal%d/**\"]\n    networks: [10.%d.0.0/16]\n    action: deny\n", i, i)
		case 3:
			fmt.Fprintf(&b, "    hosts: [app%d.example.com, app.example.com]\n    paths: [\"/admin%d/**\"]\n    methods: [POST]\n    action: deny\n", i%20, i)
		}
	}
	b.WriteString("  - name: app\n    hosts: [app.example.com]\n    action: authenticated\n    roles: [dev]\n")
	p := parsePolicy(t, b.String())
	if n := len(p.Rules()); n != 100 {
		t.Fatalf("%d rules", n)
	}
	return p
}

// TestBigPolicyCachedAllocates0: the cached decision with a 100-rule policy.
func TestBigPolicyCachedAllocates0(t *testing.T) {
	f := newFixture(t, withConfig(func(c *Config) { c.Policy = bigPolicy(t) }))
	tok := f.token("s1", "u1", "dev")
	req := &Request{Method: http.MethodGet, Host: "App.example.com:443", Path: "/x/y?z=1", Token: tok, Source: SourceHeader, Client: netip.MustParseAddr("192.0.2.1")}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		d, err := f.v.Decide(ctx, req)
		if err != nil || !d.Allow || d.Rule != "app" {
			t.Fatalf("decision %+v, %v", d, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cached Decide with 100 rules: %v allocations per run, want 0", allocs)
	}
}
