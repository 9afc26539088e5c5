package extauthz_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/vexen/vexen-auth/pkg/extauthz"
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
	cfg.Rules = []string{"app.example.com /admin admin", "* / *"}
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
	"x-auth-user", "x-auth-email", "x-auth-roles", "x-auth-session",
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
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatal("no vexen_verifier_decisions_total{decision=deny,reason=no_token}")
		return 0
	}
	before := count()
	f.viaHTTP(t, "GET", "/", nil)
	f.viaGRPC(t, "GET", "/", nil, "")
	f.viaGRPC(t, "GET", "/", nil, "")
	if got := count() - before; got != 3 {
		t.Errorf("no_token denials counted %v, want 3 (one HTTP, two gRPC)", got)
	}
}
