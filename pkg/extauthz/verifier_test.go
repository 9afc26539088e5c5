package extauthz_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/policy"
	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/verify"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// realFixture is the verifier's real decision core (JWKS over HTTP, an in-memory
// session store) behind both of its adapters: the HTTP handler and this package's
// gRPC server.
type realFixture struct {
	t        testing.TB
	v        *verify.Verifier
	mint     *verifytest.Minter
	sessions *verifytest.Sessions
	reg      *prometheus.Registry
	http     http.Handler
	grpc     authv3.AuthorizationClient
}

func newRealFixture(t *testing.T) *realFixture {
	t.Helper()
	return newRealFixtureWith(t, func(cfg *verify.Config) {
		cfg.Rules = []string{"app.example.com /admin admin", "* / *"}
	})
}

// newRealFixtureWith is newRealFixture with its configuration changed by configure
// (rules or policy).
func newRealFixtureWith(t *testing.T, configure func(*verify.Config)) *realFixture {
	t.Helper()
	key := verifytest.NewKey(t, jwa.ES256)
	jwks := verifytest.NewJWKSServer(t, key)
	f := &realFixture{
		t:        t,
		mint:     &verifytest.Minter{Key: key},
		sessions: verifytest.NewSessions(),
		reg:      prometheus.NewRegistry(),
	}
	cfg := verify.DefaultConfig()
	cfg.JWKSURL = jwks.URL()
	cfg.LoginURL = "https://auth.example.com/login"
	cfg.AllowedRedirectHosts = []string{"app.example.com"}
	// Sessions are revoked in the fake's table without a log row: ask the store.
	cfg.FirstSightSessionCheck = true
	configure(&cfg)
	v, err := verify.New(context.Background(), cfg, verify.Deps{Sessions: f.sessions, Registerer: f.reg, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := v.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	// Ready: keys loaded, store reachable; then a live token must be allowed.
	probe := f.token("s-probe", "u-probe")
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := v.Decide(ctx, &verify.Request{Method: "GET", Host: "app.example.com", Path: "/", Token: probe, Source: verify.SourceHeader})
		if err == nil && d.Allow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verifier not ready: %+v, %v", d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}

	f.http = v.Handler()
	f.grpc = authv3.NewAuthorizationClient(startServer(t, extauthz.New(v, extauthz.Options{
		CookieName:           cfg.CookieName,
		Logger:               discard(),
		LoginURL:             cfg.LoginURL,
		AllowedRedirectHosts: cfg.AllowedRedirectHosts,
	})))
	return f
}

func (f *realFixture) token(sid, uid string, roles ...string) string {
	f.sessions.Add(sid, uid, time.Now().Add(24*time.Hour))
	f.t.Helper()
	return f.mint.Mint(f.t, verifytest.Claims{Subject: uid, SessionID: sid, Email: uid + "@example.com", Roles: roles})
}

// answer is what the client (or, on a 200, the upstream) ends up with, whichever
// adapter Envoy used.
type answer struct {
	status  int
	body    string
	headers map[string]string // lower-case names of the headers compared
}

// compared are the headers both adapters must agree on.
var compared = []string{
	"www-authenticate", "content-type", "cache-control", "x-content-type-options", "retry-after", "location",
	"x-auth-user", "x-auth-email", "x-auth-roles", "x-auth-session", "x-auth-amr",
}

// viaHTTP asks the HTTP endpoint the way Envoy's HTTP ext_authz filter does:
// original method, /auth + original path, original Host, the client's headers.
func (f *realFixture) viaHTTP(t *testing.T, method, path string, hdr map[string]string) answer {
	t.Helper()
	r := httptest.NewRequest(method, "/auth"+path, nil)
	r.Host = "app.example.com"
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-Proto", "https")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.http.ServeHTTP(w, r)
	a := answer{status: w.Code, body: w.Body.String(), headers: map[string]string{}}
	for _, k := range compared {
		// An empty value (X-Auth-Roles of a user without roles) counts as absent:
		// Envoy's gRPC API cannot set an empty header (keep_empty_value is not
		// supported in OkHttpResponse), so the gRPC server removes it instead.
		if v := strings.Join(w.Header().Values(k), ","); v != "" {
			a.headers[k] = v
		}
	}
	return a
}

// viaGRPC asks the gRPC server with the CheckRequest Envoy's gRPC ext_authz filter
// sends for the same request.
func (f *realFixture) viaGRPC(t *testing.T, method, path string, hdr map[string]string, mode string) (answer, codes.Code) {
	t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[strings.ToLower(k)] = v
	}
	req := envoyRequest(method, path, h)
	if mode != "" {
		req = withMode(req, mode)
	}
	return f.check(t, req)
}

// check sends req to the gRPC server and reads its answer as the HTTP adapter's
// would be read: status, body, headers (allowed: 200 and the headers to add).
func (f *realFixture) check(t *testing.T, req *authv3.CheckRequest) (answer, codes.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := f.grpc.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{headers: map[string]string{}}
	if ok := resp.GetOkResponse(); ok != nil {
		a.status = 200
		for _, o := range ok.GetHeaders() {
			a.headers[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
	} else {
		d := resp.GetDeniedResponse()
		a.status, a.body = int(d.GetStatus().GetCode()), d.GetBody()
		for _, o := range d.GetHeaders() {
			a.headers[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
	}
	return a, codes.Code(resp.GetStatus().GetCode())
}

// TestSameAnswerAsHTTPEndpoint runs the real verifier behind both adapters and
// requires the same status, body and headers for every kind of decision: the
// Envoy HTTP and gRPC bootstraps must give clients and upstreams the same answers.
func TestSameAnswerAsHTTPEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a verifier with a JWKS server")
	}
	f := newRealFixture(t)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	browser := func(extra map[string]string) map[string]string {
		h := map[string]string{"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}

	revokedTok := f.mint.Mint(t, verifytest.Claims{Subject: "u-rev", SessionID: "s-rev", Email: "u-rev@example.com"})
	f.sessions.Set(store.SessionState{SessionID: "s-rev", UserID: "u-rev", ExpiresAt: time.Now().Add(time.Hour), RevokedAt: time.Now().Add(-time.Minute)})
	otherKey := verifytest.NewKey(t, jwa.ES256)
	forged := (&verifytest.Minter{Key: otherKey}).Mint(t, verifytest.Claims{Subject: "u-x", SessionID: "s-x"})
	// Member names exact, no member twice (issue 9): the same answers through gRPC.
	f.sessions.Add("s-dup", "u-dup", time.Now().Add(time.Hour))
	dupPayload := f.mint.Payload(t, verifytest.Claims{Subject: "u-dup", SessionID: "s-dup", Email: "u-dup@example.com", Roles: []string{"dev"}})
	withClaims := func(extra string) []byte {
		return append(dupPayload[:len(dupPayload)-1:len(dupPayload)-1], ","+extra+"}"...)
	}
	rawHeader := []byte(`{"alg":"ES256","kid":"` + f.mint.Key.KID + `","typ":"at+jwt"}`)
	rolesTwice := verifytest.SignRaw(t, jwa.ES256, f.mint.Key.Raw(), rawHeader, withClaims(`"roles":["admin"]`))
	rolesUpper := verifytest.SignRaw(t, jwa.ES256, f.mint.Key.Raw(), rawHeader, withClaims(`"ROLES":["admin"]`))
	typTwice := verifytest.SignRaw(t, jwa.ES256, f.mint.Key.Raw(),
		[]byte(`{"alg":"ES256","kid":"`+f.mint.Key.KID+`","typ":"JWT","typ":"at+jwt"}`), dupPayload)
	expired := f.mint.Mint(t, verifytest.Claims{Subject: "u-old", SessionID: "s-old", Expiry: time.Now().Add(-time.Hour), IssuedAt: time.Now().Add(-2 * time.Hour)})

	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		mode       string // gRPC context extension; the HTTP side gets X-Auth-Mode
		wantStatus int
		wantCode   codes.Code
	}{
		{"allowed, with roles", "GET", "/admin/users", bearer(f.token("s-a", "u-a", "admin", "dev")), "", 200, codes.OK},
		{"allowed, no roles", "POST", "/api/items?x=1", bearer(f.token("s-b", "u-b")), "", 200, codes.OK},
		{"allowed from the cookie", "GET", "/", map[string]string{"Cookie": "theme=dark; vexen_access=" + f.token("s-c", "u-c", "dev")}, "", 200, codes.OK},
		{"no token", "GET", "/", nil, "", 401, codes.Unauthenticated},
		{"malformed token", "GET", "/", bearer("not-a-jwt"), "", 401, codes.Unauthenticated},
		{"signed by another key", "GET", "/", bearer(forged), "", 401, codes.Unauthenticated},
		{"expired", "GET", "/", bearer(expired), "", 401, codes.Unauthenticated},
		{"revoked session", "GET", "/", bearer(revokedTok), "", 401, codes.Unauthenticated},
		{"rule denies", "GET", "/admin/users", bearer(f.token("s-d", "u-d", "dev")), "", 403, codes.PermissionDenied},
		{"roles given twice", "GET", "/admin/users", bearer(rolesTwice), "", 401, codes.Unauthenticated},
		{"typ given twice", "GET", "/", bearer(typTwice), "", 401, codes.Unauthenticated},
		{"ROLES is not roles", "GET", "/admin/users", bearer(rolesUpper), "", 403, codes.PermissionDenied},
		{"browser navigation, no token", "GET", "/reports?q=1", browser(nil), extauthz.ModeBrowser, 302, codes.Unauthenticated},
		{"browser navigation, revoked cookie", "GET", "/", browser(map[string]string{"Cookie": "vexen_access=" + revokedTok}), extauthz.ModeBrowser, 302, codes.Unauthenticated},
		{"browser route, fetch()", "GET", "/", browser(map[string]string{"Sec-Fetch-Mode": "cors"}), extauthz.ModeBrowser, 401, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hh := map[string]string{}
			for k, v := range tt.hdr {
				hh[k] = v
			}
			if tt.mode == extauthz.ModeBrowser {
				hh[verify.ModeHeader] = verify.ModeBrowser
			}
			viaHTTP := f.viaHTTP(t, tt.method, tt.path, hh)
			viaGRPC, code := f.viaGRPC(t, tt.method, tt.path, tt.hdr, tt.mode)
			if viaHTTP.status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("HTTP %d, gRPC %v; want %d and %v", viaHTTP.status, code, tt.wantStatus, tt.wantCode)
			}
			if viaGRPC.status != viaHTTP.status || viaGRPC.body != viaHTTP.body {
				t.Errorf("gRPC answers %d %q, HTTP %d %q", viaGRPC.status, viaGRPC.body, viaHTTP.status, viaHTTP.body)
			}
			if viaHTTP.status == 200 {
				// Envoy passes the HTTP endpoint's 200 headers upstream only through
				// allowed_upstream_headers; compare the identity headers.
				for _, k := range []string{"cache-control", "content-type", "x-content-type-options"} {
					delete(viaHTTP.headers, k)
				}
			}
			if !mapsEqual(viaGRPC.headers, viaHTTP.headers) {
				t.Errorf("headers differ:\n gRPC %v\n HTTP %v", viaGRPC.headers, viaHTTP.headers)
			}
		})
	}

	// Unavailable: the store is down and the token was never seen, so neither
	// adapter can decide.
	f.sessions.SetErr(verifytest.ErrDown)
	tok := f.token("s-down", "u-down")
	viaHTTP := f.viaHTTP(t, "GET", "/", bearer(tok))
	viaGRPC, code := f.viaGRPC(t, "GET", "/", bearer(tok), "")
	if viaHTTP.status != 503 || viaGRPC.status != 503 || code != codes.Unavailable {
		t.Fatalf("store down: HTTP %d, gRPC %d %v; want 503, 503 UNAVAILABLE", viaHTTP.status, viaGRPC.status, code)
	}
	if viaGRPC.body != viaHTTP.body || !mapsEqual(viaGRPC.headers, viaHTTP.headers) {
		t.Errorf("store down: gRPC %q %v, HTTP %q %v", viaGRPC.body, viaGRPC.headers, viaHTTP.body, viaHTTP.headers)
	}
}

// TestSameMetrics: a decision made through the gRPC server is counted by the
// decision core, in the same series as one made through the HTTP endpoint.
func TestSameMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a verifier with a JWKS server")
	}
	f := newRealFixture(t)
	count := func() float64 {
		sum, found := 0.0, false
		mfs, err := f.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "vexen_verifier_decisions_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var decision, reason string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "decision":
						decision = l.GetValue()
					case "reason":
						reason = l.GetValue()
					}
				}
				if decision == "deny" && reason == "no_token" {
					sum += m.GetCounter().GetValue() // over every rule label
					found = true
				}
			}
		}
		if !found {
			t.Fatal("no vexen_verifier_decisions_total{decision=deny,reason=no_token}")
		}
		return sum
	}
	before := count()
	f.viaHTTP(t, "GET", "/", nil)
	f.viaGRPC(t, "GET", "/", nil, "")
	f.viaGRPC(t, "GET", "/", nil, "")
	if got := count() - before; got != 3 {
		t.Errorf("no_token denials counted %v, want 3 (one HTTP, two gRPC)", got)
	}
}

// policyRequest is one row of the parity table: the original request, the client,
// the location's tightening and the expected answer.
type policyRequest struct {
	name         string
	method, host string
	path, client string
	hdr          map[string]string
	roles        string // location: /auth?roles= on HTTP, vexen_roles on gRPC
	mfa          bool
	browser      bool
	wantStatus   int
	wantRule     string
}

// viaHTTPPolicy asks the HTTP endpoint as Traefik or Caddy do: /auth with the
// location's query, X-Forwarded-* naming the original request.
func (f *realFixture) viaHTTPPolicy(t *testing.T, pr policyRequest) answer {
	t.Helper()
	target := "/auth"
	q := url.Values{}
	if pr.roles != "" {
		q.Set("roles", pr.roles)
	}
	if pr.mfa {
		q.Set("mfa", "1")
	}
	if pr.browser {
		q.Set("mode", "browser")
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	r := httptest.NewRequest("GET", target, nil)
	r.Host = "verifier.internal"
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-Method", pr.method)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", pr.host)
	r.Header.Set("X-Forwarded-Uri", pr.path)
	r.Header.Set("X-Forwarded-For", pr.client)
	for k, v := range pr.hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.http.ServeHTTP(w, r)
	a := answer{status: w.Code, body: w.Body.String(), headers: map[string]string{}}
	for _, k := range compared {
		if v := strings.Join(w.Header().Values(k), ","); v != "" {
			a.headers[k] = v
		}
	}
	if a.status == 200 {
		for _, k := range []string{"cache-control", "content-type", "x-content-type-options"} {
			delete(a.headers, k)
		}
	}
	return a
}

// viaGRPCPolicy sends the CheckRequest Envoy's gRPC filter sends for the same request.
func (f *realFixture) viaGRPCPolicy(t *testing.T, pr policyRequest) answer {
	t.Helper()
	h := map[string]string{":authority": pr.host}
	for k, v := range pr.hdr {
		h[strings.ToLower(k)] = v
	}
	req := envoyRequest(pr.method, pr.path, h)
	req.Attributes.Request.Http.Host = pr.host
	req.Attributes.Source.Address = sockAddr(pr.client, 40000)
	ext := map[string]string{}
	if pr.roles != "" {
		ext[extauthz.RolesKey] = pr.roles
	}
	if pr.mfa {
		ext[extauthz.MFAKey] = "1"
	}
	if pr.browser {
		ext[extauthz.ModeKey] = extauthz.ModeBrowser
	}
	req.Attributes.ContextExtensions = ext
	a, _ := f.check(t, req)
	return a
}

// TestPolicyParity runs the policy's whole rule table through the HTTP endpoint
// and the gRPC server: same status, body and headers for every row, and each
// decision counted under the same rule.
func TestPolicyParity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a verifier with a JWKS server")
	}
	p, err := policy.Parse("parity.yaml", []byte(verifytest.Policy))
	if err != nil {
		t.Fatal(err)
	}
	f := newRealFixtureWith(t, func(c *verify.Config) { c.Policy = p })
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	dev := f.token("s-dev", "u-dev", "dev")
	admin := f.token("s-admin", "u-admin", "admin")
	f.sessions.Add("s-mfa", "u-mfa", time.Now().Add(time.Hour))
	mfa := f.mint.Mint(t, verifytest.Claims{Subject: "u-mfa", SessionID: "s-mfa", Extra: map[string]any{"amr": []string{"pwd", "otp", "mfa"}}})
	f.sessions.Add("s-pwd", "u-pwd", time.Now().Add(time.Hour))
	pwd := f.mint.Mint(t, verifytest.Claims{Subject: "u-pwd", SessionID: "s-pwd", Extra: map[string]any{"amr": []string{"pwd"}}})
	revoked := f.mint.Mint(t, verifytest.Claims{Subject: "u-rev", SessionID: "s-rev", Roles: []string{"admin"}})
	f.sessions.Set(store.SessionState{SessionID: "s-rev", UserID: "u-rev", ExpiresAt: time.Now().Add(time.Hour), RevokedAt: time.Now().Add(-time.Minute)})
	nav := map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Cookie": "vexen_access=" + pwd}
	const app, ext = "app.example.com", "203.0.113.9"

	table := []policyRequest{
		{"public, anonymous", "GET", app, "/healthz", ext, nil, "", false, false, 200, "health"},
		{"public, forged identity header", "GET", app, "/healthz", ext, map[string]string{"X-Auth-User": "forged"}, "", false, false, 200, "health"},
		{"public, valid token", "HEAD", app, "/healthz?x=1", ext, bearer(dev), "", false, false, 200, "health"},
		{"public, revoked token", "GET", app, "/healthz", ext, bearer(revoked), "", false, false, 200, "health"},
		{"public, garbage token", "GET", app, "/healthz", ext, bearer("garbage"), "", false, false, 200, "health"},
		{"public method only", "POST", app, "/healthz", ext, nil, "", false, false, 401, "default"},
		{"public, tightened", "GET", app, "/healthz", ext, bearer(dev), "ops", false, false, 403, "health"},
		{"network", "GET", app, "/internal/a", "10.1.2.3", bearer(dev), "", false, false, 200, "internal"},
		{"network, no token", "GET", app, "/internal/a", "10.1.2.3", nil, "", false, false, 401, "internal"},
		{"other network: deny", "GET", app, "/internal/a", ext, bearer(admin), "", false, false, 403, "internal-deny"},
		{"deny, no token", "GET", app, "/internal", ext, nil, "", false, false, 403, "internal-deny"},
		{"deny, revoked", "GET", app, "/internal", ext, bearer(revoked), "", false, false, 403, "internal-deny"},
		{"deny wildcard", "DELETE", "a.b.blocked.example.com", "/", ext, bearer(admin), "", false, false, 403, "blocked"},
		{"role missing", "GET", "admin.example.com", "/", ext, bearer(dev), "", false, false, 403, "admin"},
		{"role present", "GET", "Admin.Example.com:443", "/users", ext, bearer(admin), "", false, false, 200, "admin"},
		{"role, revoked", "GET", "admin.example.com", "/", ext, bearer(revoked), "", false, false, 401, "admin"},
		{"role, no token", "GET", "admin.example.com", "/", ext, nil, "", false, false, 401, "admin"},
		{"location roles on top", "GET", "admin.example.com", "/", ext, bearer(admin), "root", false, false, 403, "admin"},
		{"mfa missing", "GET", app, "/billing/1", ext, bearer(pwd), "", false, false, 401, "money"},
		{"mfa missing, no amr", "GET", app, "/billing/1", ext, bearer(dev), "", false, false, 401, "money"},
		{"mfa present", "GET", app, "/billing/1", ext, bearer(mfa), "", false, false, 200, "money"},
		{"mfa missing, browser", "GET", app, "/billing/1", ext, nav, "", false, true, 302, "money"},
		{"location mfa", "GET", app, "/x", ext, bearer(pwd), "", true, false, 401, "default"},
		{"default", "PUT", app, "/x", ext, bearer(dev), "", false, false, 200, "default"},
		{"default, no token", "GET", app, "/x", ext, nil, "", false, false, 401, "default"},
		{"two trailing dots", "GET", "admin.example.com..", "/", ext, bearer(dev), "", false, false, 400, "none"},
		{"bad port", "GET", "admin.example.com:80:80", "/", ext, bearer(dev), "", false, false, 400, "none"},
		{"encoded slash", "GET", app, "/internal%2Fa", ext, bearer(admin), "", false, false, 400, "none"},
		{"encoded dot segment", "GET", app, "/x/%2e%2e/internal", ext, bearer(admin), "", false, false, 400, "none"},
		{"backslash", "GET", app, "/x\\..\\internal", ext, bearer(admin), "", false, false, 400, "none"},
		{"double encoding", "GET", app, "/%252e%252e/internal", ext, bearer(admin), "", false, false, 400, "none"},
		{"overlong utf-8", "GET", app, "/%c0%ae%c0%ae/internal", ext, bearer(admin), "", false, false, 400, "none"},
		{"parameter", "GET", app, "/internal;a/b", ext, bearer(admin), "", false, false, 400, "none"},
		{"lower-case method", "get", app, "/healthz", ext, nil, "", false, false, 400, "none"},
		{"dot segments resolved", "GET", app, "/x/../internal/a", ext, nil, "", false, false, 403, "internal-deny"},
		{"unreserved escapes decoded", "GET", app, "/%69nternal/a", ext, nil, "", false, false, 403, "internal-deny"},
		{"duplicate slashes", "GET", app, "//internal//a", ext, nil, "", false, false, 403, "internal-deny"},
	}
	counted := func(rule string) float64 {
		mfs, err := f.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() != "vexen_verifier_decisions_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "rule" && l.GetValue() == rule {
						sum += m.GetCounter().GetValue()
					}
				}
			}
		}
		return sum
	}
	for _, pr := range table {
		t.Run(pr.name, func(t *testing.T) {
			before := counted(pr.wantRule)
			viaHTTP := f.viaHTTPPolicy(t, pr)
			viaGRPC := f.viaGRPCPolicy(t, pr)
			if viaHTTP.status != pr.wantStatus {
				t.Errorf("HTTP %d, want %d (%q)", viaHTTP.status, pr.wantStatus, viaHTTP.body)
			}
			if viaGRPC.status != viaHTTP.status || viaGRPC.body != viaHTTP.body {
				t.Errorf("gRPC answers %d %q, HTTP %d %q", viaGRPC.status, viaGRPC.body, viaHTTP.status, viaHTTP.body)
			}
			if !mapsEqual(viaGRPC.headers, viaHTTP.headers) {
				t.Errorf("headers differ:\n gRPC %v\n HTTP %v", viaGRPC.headers, viaHTTP.headers)
			}
			if pr.wantStatus == 200 && pr.hdr["Authorization"] == "" && viaHTTP.headers["x-auth-user"] != "" {
				t.Errorf("anonymous request got X-Auth-User %q", viaHTTP.headers["x-auth-user"])
			}
			if got := counted(pr.wantRule) - before; got != 2 {
				t.Errorf("rule %s counted %v decisions, want 2", pr.wantRule, got)
			}
		})
	}
}
