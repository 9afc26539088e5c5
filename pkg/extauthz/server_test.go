package extauthz_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// fakeDecider is a verify.Decider whose behaviour each test sets; it records the
// requests it was asked about.
type fakeDecider struct {
	decide func(ctx context.Context, r *verify.Request) (verify.Decision, error)

	mu   sync.Mutex
	seen []verify.Request
}

func (f *fakeDecider) Decide(ctx context.Context, r *verify.Request) (verify.Decision, error) {
	f.mu.Lock()
	f.seen = append(f.seen, *r)
	f.mu.Unlock()
	return f.decide(ctx, r)
}

func (f *fakeDecider) requests() []verify.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// startServer serves s on 127.0.0.1:0 with NewGRPCServer and returns a connected
// client connection.
func startServer(t testing.TB, s *extauthz.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := extauthz.NewGRPCServer()
	s.Register(g)
	done := make(chan error, 1)
	go func() { done <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func check(t testing.TB, cc *grpc.ClientConn, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(cc).Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	// Every answer must be one Envoy accepts: run the proto's own validation rules.
	if err := resp.ValidateAll(); err != nil {
		t.Fatalf("CheckResponse fails Envoy's validation: %v", err)
	}
	return resp
}

// envoyRequest is a CheckRequest shaped as Envoy's HTTP ext_authz filter sends it:
// lower-case header keys including the pseudo-headers, source and destination
// addresses, and the request line split into method, host, path and scheme.
func envoyRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":authority":   "app.example.com",
		":method":      method,
		":path":        path,
		":scheme":      "https",
		"user-agent":   "curl/8.5.0",
		"x-request-id": "5b3bfb4b-1d6b-4f5c-9a53-0d1b0d9b1b6e",
	}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: sockAddr("203.0.113.7", 51234)},
		Destination: &authv3.AttributeContext_Peer{Address: sockAddr("10.0.0.2", 8443)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id:       "1234567890",
			Method:   method,
			Headers:  h,
			Path:     path,
			Host:     "app.example.com",
			Scheme:   "https",
			Protocol: "HTTP/1.1",
			Size:     0,
		}},
	}}
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func aliceIdentity() *verify.Identity {
	return verify.NewIdentity("u-alice", "alice@example.com", "s-1", []string{"admin", "dev"}, []string{"pwd", "otp", "mfa"})
}

func allow(id *verify.Identity) func(context.Context, *verify.Request) (verify.Decision, error) {
	return func(context.Context, *verify.Request) (verify.Decision, error) {
		return verify.Decision{Allow: true, Status: 200, Reason: verify.ReasonOK, Identity: id}, nil
	}
}

func deny(status int, reason verify.Reason) func(context.Context, *verify.Request) (verify.Decision, error) {
	return func(context.Context, *verify.Request) (verify.Decision, error) {
		return verify.Decision{Status: status, Reason: reason}, nil
	}
}

// okHeaders returns the headers an OK response sets (name → value), failing on
// anything but OVERWRITE_IF_EXISTS_OR_ADD or on the deprecated append field.
func okHeaders(t testing.TB, resp *authv3.CheckResponse) map[string]string {
	t.Helper()
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("no ok_response in %v", resp)
	}
	out := map[string]string{}
	for _, h := range ok.GetHeaders() {
		if h.GetAppend() != nil {
			t.Errorf("header %q uses the deprecated append field", h.GetHeader().GetKey())
		}
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %q: append_action %v, want OVERWRITE_IF_EXISTS_OR_ADD", h.GetHeader().GetKey(), h.GetAppendAction())
		}
		if _, dup := out[h.GetHeader().GetKey()]; dup {
			t.Errorf("header %q set twice", h.GetHeader().GetKey())
		}
		out[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	// Envoy removes headers_to_remove after setting headers: a name in both lists
	// would lose the value just set.
	for _, name := range ok.GetHeadersToRemove() {
		if _, both := out[name]; both {
			t.Errorf("header %q is both set and removed; Envoy would drop the value", name)
		}
	}
	return out
}

func deniedHeaders(t testing.TB, resp *authv3.CheckResponse) map[string]string {
	t.Helper()
	d := resp.GetDeniedResponse()
	if d == nil {
		t.Fatalf("no denied_response in %v", resp)
	}
	out := map[string]string{}
	for _, h := range d.GetHeaders() {
		out[strings.ToLower(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
	}
	return out
}

func TestCheckAllow(t *testing.T) {
	forged := map[string]string{
		"authorization":  "Bearer good.token.sig",
		"x-auth-user":    "u-root",
		"x-auth-email":   "root@example.com",
		"x-auth-roles":   "superuser",
		"x-auth-amr":     "pwd,otp,mfa",
		"x-auth-session": "s-forged",
	}
	tests := []struct {
		name       string
		id         *verify.Identity
		headers    map[string]string
		wantSet    map[string]string
		wantRemove []string
	}{
		{
			name:    "full identity",
			id:      aliceIdentity(),
			headers: map[string]string{"authorization": "Bearer good.token.sig"},
			wantSet: map[string]string{
				"x-auth-user": "u-alice", "x-auth-email": "alice@example.com",
				"x-auth-roles": "admin,dev", "x-auth-session": "s-1", "x-auth-amr": "pwd,otp,mfa",
			},
		},
		{
			name:    "forged identity headers are overwritten",
			id:      aliceIdentity(),
			headers: forged,
			wantSet: map[string]string{
				"x-auth-user": "u-alice", "x-auth-email": "alice@example.com",
				"x-auth-roles": "admin,dev", "x-auth-session": "s-1", "x-auth-amr": "pwd,otp,mfa",
			},
		},
		{
			name: "headers the identity has no value for are removed",
			id: &verify.Identity{
				UserID: "u-bob", SessionID: "s-2",
			},
			headers:    forged,
			wantSet:    map[string]string{"x-auth-user": "u-bob", "x-auth-session": "s-2"},
			wantRemove: []string{"x-auth-email", "x-auth-roles", "x-auth-amr"},
		},
		{
			name:    "NewIdentity: roles and amr rendered as header values",
			id:      verify.NewIdentity("u-carol", "carol@example.com", "s-3", []string{"a", "b"}, []string{"pwd"}),
			headers: forged,
			wantSet: map[string]string{
				"x-auth-user": "u-carol", "x-auth-email": "carol@example.com",
				"x-auth-roles": "a,b", "x-auth-session": "s-3", "x-auth-amr": "pwd",
			},
		},
		{
			name: "a value Envoy cannot carry is removed, not forwarded",
			id: &verify.Identity{
				UserID: "u-dan", Email: "dan@example.com\r\nx-auth-roles: admin", SessionID: "s-4",
			},
			headers:    forged,
			wantSet:    map[string]string{"x-auth-user": "u-dan", "x-auth-session": "s-4"},
			wantRemove: []string{"x-auth-email", "x-auth-roles", "x-auth-amr"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDecider{decide: allow(tt.id)}
			cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
			resp := check(t, cc, envoyRequest("GET", "/api/items?page=2", tt.headers))
			if c := codes.Code(resp.GetStatus().GetCode()); c != codes.OK {
				t.Fatalf("status %v, want OK", c)
			}
			got := okHeaders(t, resp)
			if !mapsEqual(got, tt.wantSet) {
				t.Errorf("headers set = %v, want %v", got, tt.wantSet)
			}
			remove := resp.GetOkResponse().GetHeadersToRemove()
			if !slices.Equal(remove, tt.wantRemove) {
				t.Errorf("headers_to_remove = %v, want %v", remove, tt.wantRemove)
			}
			// Every identity header is either replaced or removed: none a client sent survives.
			for _, name := range []string{"x-auth-user", "x-auth-email", "x-auth-roles", "x-auth-session", "x-auth-amr"} {
				if _, set := got[name]; !set && !slices.Contains(remove, name) {
					t.Errorf("identity header %q is neither set nor removed", name)
				}
			}
		})
	}
}

func TestCheckBuildsRequest(t *testing.T) {
	tests := []struct {
		name        string
		req         *authv3.CheckRequest
		wantToken   string
		wantSource  verify.TokenSource
		wantClient  netip.Addr
		wantMethod  string
		wantPath    string
		wantBrowser bool
	}{
		{
			name:       "bearer header",
			req:        envoyRequest("POST", "/api/items?x=1", map[string]string{"authorization": "Bearer abc.def.ghi"}),
			wantToken:  "abc.def.ghi",
			wantSource: verify.SourceHeader,
			wantMethod: "POST",
			wantPath:   "/api/items?x=1",
		},
		{
			name:       "bearer scheme is case-insensitive",
			req:        envoyRequest("GET", "/", map[string]string{"authorization": "bEaReR   abc.def.ghi  "}),
			wantToken:  "abc.def.ghi",
			wantSource: verify.SourceHeader,
		},
		{
			name:       "cookie when no authorization header",
			req:        envoyRequest("GET", "/", map[string]string{"cookie": "theme=dark; vexen_access=abc.def.ghi; other=1"}),
			wantToken:  "abc.def.ghi",
			wantSource: verify.SourceCookie,
		},
		{
			name:       "cookie when the authorization header is not bearer",
			req:        envoyRequest("GET", "/", map[string]string{"authorization": "Basic dXNlcjpwYXNz", "cookie": "vexen_access=abc.def.ghi"}),
			wantToken:  "abc.def.ghi",
			wantSource: verify.SourceCookie,
		},
		{
			name:       "header wins over cookie",
			req:        envoyRequest("GET", "/", map[string]string{"authorization": "Bearer from.header.x", "cookie": "vexen_access=from.cookie.x"}),
			wantToken:  "from.header.x",
			wantSource: verify.SourceHeader,
		},
		{
			name:       "no token",
			req:        envoyRequest("GET", "/", map[string]string{"cookie": "vexen_accessx=nope; session=1"}),
			wantSource: verify.SourceNone,
		},
		{
			name:       "empty bearer is no token",
			req:        envoyRequest("GET", "/", map[string]string{"authorization": "Bearer   "}),
			wantSource: verify.SourceNone,
		},
		{
			name: "raw headers (encode_raw_headers: true), cookies in two headers",
			req: func() *authv3.CheckRequest {
				r := envoyRequest("GET", "/", nil)
				http := r.Attributes.Request.Http
				http.Headers = nil
				http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
					{Key: ":authority", RawValue: []byte("app.example.com")},
					{Key: "cookie", RawValue: []byte("a=1")},
					{Key: "cookie", RawValue: []byte("vexen_access=raw.tok.en")},
				}}
				return r
			}(),
			wantToken:  "raw.tok.en",
			wantSource: verify.SourceCookie,
		},
		{
			name: "IPv4-mapped client address",
			req: func() *authv3.CheckRequest {
				r := envoyRequest("GET", "/", nil)
				r.Attributes.Source.Address = sockAddr("::ffff:198.51.100.9", 4000)
				return r
			}(),
			wantSource: verify.SourceNone,
			wantClient: netip.MustParseAddr("198.51.100.9"),
		},
		{
			name:        "browser route, GET with cookie",
			req:         navigate("GET", "/", map[string]string{"cookie": "vexen_access=abc.def.ghi"}),
			wantToken:   "abc.def.ghi",
			wantSource:  verify.SourceCookie,
			wantBrowser: true,
		},
		{
			name:       "browser route, bearer header is an API call",
			req:        navigate("GET", "/", map[string]string{"authorization": "Bearer abc.def.ghi"}),
			wantToken:  "abc.def.ghi",
			wantSource: verify.SourceHeader,
		},
		{
			name:       "browser route, POST is not a navigation",
			req:        navigate("POST", "/", nil),
			wantSource: verify.SourceNone,
			wantMethod: "POST",
		},
		{
			name:       "api route",
			req:        withMode(envoyRequest("GET", "/", nil), extauthz.ModeAPI),
			wantSource: verify.SourceNone,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDecider{decide: deny(401, verify.ReasonNoToken)}
			cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard(), LoginURL: "https://auth.example.com/login"}))
			check(t, cc, tt.req)
			seen := f.requests()
			if len(seen) != 1 {
				t.Fatalf("decider called %d times, want 1", len(seen))
			}
			r := seen[0]
			if r.Token != tt.wantToken || r.Source != tt.wantSource {
				t.Errorf("token %q source %v, want %q %v", r.Token, r.Source, tt.wantToken, tt.wantSource)
			}
			wantClient := tt.wantClient
			if !wantClient.IsValid() {
				wantClient = netip.MustParseAddr("203.0.113.7")
			}
			if r.Client != wantClient {
				t.Errorf("client %v, want %v", r.Client, wantClient)
			}
			wantMethod, wantPath := tt.wantMethod, tt.wantPath
			if wantMethod == "" {
				wantMethod = "GET"
			}
			if wantPath == "" {
				wantPath = "/"
			}
			if r.Method != wantMethod || r.Path != wantPath || r.Host != "app.example.com" {
				t.Errorf("request %s %s%s, want %s app.example.com%s", r.Method, r.Host, r.Path, wantMethod, wantPath)
			}
			if r.Browser != tt.wantBrowser {
				t.Errorf("Browser = %v, want %v", r.Browser, tt.wantBrowser)
			}
		})
	}
}

// navigate is a browser's top-level navigation on a route in browser mode: the
// headers Chrome and Firefox send, plus extra.
func navigate(method, path string, extra map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"sec-fetch-mode":  "navigate",
		"sec-fetch-dest":  "document",
		"accept-language": "en",
	}
	for k, v := range extra {
		h[k] = v
	}
	return withMode(envoyRequest(method, path, h), extauthz.ModeBrowser)
}

func withMode(r *authv3.CheckRequest, mode string) *authv3.CheckRequest {
	r.Attributes.ContextExtensions = map[string]string{extauthz.ModeKey: mode}
	return r
}

func TestCheckDeny(t *testing.T) {
	const (
		noTokenBody   = "unauthorized\n"
		invalidBody   = "unauthorized\n"
		forbiddenBody = "forbidden\n"
		unavailBody   = "unavailable\n"
	)
	bearer := map[string]string{"authorization": "Bearer some.jwt.value"}
	tests := []struct {
		name       string
		headers    map[string]string
		decide     func(context.Context, *verify.Request) (verify.Decision, error)
		wantCode   codes.Code
		wantStatus int32
		wantBody   string
		wantWWW    string // "" means: no WWW-Authenticate header
		wantRetry  string // Retry-After; "" means none
	}{
		{
			name:       "no token: 401 without an error parameter",
			decide:     deny(401, verify.ReasonNoToken),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   noTokenBody,
			wantWWW:    `Bearer realm="vexen"`,
		},
		{
			name:       "no token sent: no error parameter whatever the reason",
			decide:     deny(401, verify.ReasonMalformed),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   noTokenBody,
			wantWWW:    `Bearer realm="vexen"`,
		},
		{
			name:       "bad signature: 401 invalid_token",
			headers:    bearer,
			decide:     deny(401, verify.ReasonSignature),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   invalidBody,
			wantWWW:    `Bearer realm="vexen", error="invalid_token"`,
		},
		{
			name:       "malformed: 401 invalid_token",
			headers:    map[string]string{"cookie": "vexen_access=garbage"},
			decide:     deny(401, verify.ReasonMalformed),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   invalidBody,
			wantWWW:    `Bearer realm="vexen", error="invalid_token"`,
		},
		{
			name:       "expired: 401 invalid_token",
			headers:    bearer,
			decide:     deny(401, verify.ReasonExpired),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   invalidBody,
			wantWWW:    `Bearer realm="vexen", error="invalid_token"`,
		},
		{
			name:       "revoked: 401 invalid_token",
			headers:    bearer,
			decide:     deny(401, verify.ReasonRevoked),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   invalidBody,
			wantWWW:    `Bearer realm="vexen", error="invalid_token"`,
		},
		{
			name:       "access rule denies: 403",
			headers:    bearer,
			decide:     deny(403, verify.ReasonForbidden),
			wantCode:   codes.PermissionDenied,
			wantStatus: 403,
			wantBody:   forbiddenBody,
		},
		{
			name:    "decider error: 503 UNAVAILABLE",
			headers: bearer,
			decide: func(context.Context, *verify.Request) (verify.Decision, error) {
				return verify.Decision{Reason: verify.ReasonUnavailable}, errors.New("redis: connection refused")
			},
			wantCode:   codes.Unavailable,
			wantStatus: 503,
			wantBody:   unavailBody,
			wantRetry:  "1",
		},
		{
			name:    "decider error with an allow decision still refuses",
			headers: bearer,
			decide: func(context.Context, *verify.Request) (verify.Decision, error) {
				return verify.Decision{Allow: true, Status: 200, Identity: aliceIdentity()}, errors.New("half-done")
			},
			wantCode:   codes.Unavailable,
			wantStatus: 503,
			wantBody:   unavailBody,
			wantRetry:  "1",
		},
		{
			name:       "reason unavailable without an error: 503",
			headers:    bearer,
			decide:     deny(0, verify.ReasonUnavailable),
			wantCode:   codes.Unavailable,
			wantStatus: 503,
			wantBody:   unavailBody,
			wantRetry:  "1",
		},
		{
			name:       "ambiguous host or path: 400",
			headers:    bearer,
			decide:     deny(400, verify.ReasonBadRequest),
			wantCode:   codes.InvalidArgument,
			wantStatus: 400,
			wantBody:   "bad request\n",
		},
		{
			name:       "second factor missing: 401 insufficient_user_authentication",
			headers:    bearer,
			decide:     deny(401, verify.ReasonMFARequired),
			wantCode:   codes.Unauthenticated,
			wantStatus: 401,
			wantBody:   invalidBody,
			wantWWW:    verify.ChallengeMFA,
		},
		{
			name:       "status 503 without an error: 503",
			headers:    bearer,
			decide:     deny(503, verify.ReasonClaims),
			wantCode:   codes.Unavailable,
			wantStatus: 503,
			wantBody:   unavailBody,
			wantRetry:  "1",
		},
		{
			name:       "deny with an unexpected status: 403",
			headers:    bearer,
			decide:     deny(500, verify.ReasonClaims),
			wantCode:   codes.PermissionDenied,
			wantStatus: 403,
			wantBody:   forbiddenBody,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDecider{decide: tt.decide}
			cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
			resp := check(t, cc, envoyRequest("GET", "/api/items", tt.headers))
			if c := codes.Code(resp.GetStatus().GetCode()); c != tt.wantCode {
				t.Errorf("grpc status %v, want %v", c, tt.wantCode)
			}
			if resp.GetOkResponse() != nil {
				t.Fatal("a denial carries an ok_response")
			}
			d := resp.GetDeniedResponse()
			if d == nil {
				t.Fatalf("no denied_response (error_response would let failure_mode_allow pass it): %v", resp)
			}
			if got := int32(d.GetStatus().GetCode()); got != tt.wantStatus {
				t.Errorf("HTTP status %d, want %d", got, tt.wantStatus)
			}
			if d.GetBody() != tt.wantBody {
				t.Errorf("body %q, want %q", d.GetBody(), tt.wantBody)
			}
			h := deniedHeaders(t, resp)
			if h["www-authenticate"] != tt.wantWWW {
				t.Errorf("WWW-Authenticate %q, want %q", h["www-authenticate"], tt.wantWWW)
			}
			if h["retry-after"] != tt.wantRetry {
				t.Errorf("Retry-After %q, want %q", h["retry-after"], tt.wantRetry)
			}
			if h["content-type"] != "text/plain; charset=utf-8" || h["cache-control"] != "no-store" || h["x-content-type-options"] != "nosniff" {
				t.Errorf("content-type %q cache-control %q x-content-type-options %q, want the HTTP endpoint's",
					h["content-type"], h["cache-control"], h["x-content-type-options"])
			}
		})
	}
}

func TestCheckWithoutHTTPAttributes(t *testing.T) {
	f := &fakeDecider{decide: allow(aliceIdentity())}
	cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
	for _, req := range []*authv3.CheckRequest{
		{},
		{Attributes: &authv3.AttributeContext{Source: &authv3.AttributeContext_Peer{Address: sockAddr("192.0.2.1", 1)}}},
	} {
		resp := check(t, cc, req)
		if c := codes.Code(resp.GetStatus().GetCode()); c != codes.InvalidArgument {
			t.Errorf("grpc status %v, want InvalidArgument", c)
		}
		if resp.GetDeniedResponse().GetStatus().GetCode() != 403 {
			t.Errorf("HTTP status %v, want 403", resp.GetDeniedResponse().GetStatus().GetCode())
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("decider called %d times for requests without HTTP attributes", n)
	}
}

func TestCheckBrowserMode(t *testing.T) {
	opts := extauthz.Options{
		Logger:               discard(),
		LoginURL:             "https://auth.example.com/login?client=web",
		AllowedRedirectHosts: []string{"app.example.com", "*.apps.example.com"},
	}
	tests := []struct {
		name     string
		opts     *extauthz.Options // nil: opts
		req      *authv3.CheckRequest
		decide   func(context.Context, *verify.Request) (verify.Decision, error)
		wantCode int32  // HTTP status
		wantRD   string // return URL in Location; "-" means no rd parameter

		wantLoginHost string // "" means auth.example.com
	}{
		{
			name:     "navigation without a token: redirect with return URL",
			req:      navigate("GET", "/reports?q=a%20b&x=1", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "https://app.example.com/reports?q=a%20b&x=1",
		},
		{
			name:     "expired cookie: redirect",
			req:      navigate("HEAD", "/", map[string]string{"cookie": "vexen_access=old.tok.en"}),
			decide:   deny(401, verify.ReasonExpired),
			wantCode: 302,
			wantRD:   "https://app.example.com/",
		},
		{
			name: "wildcard host and http scheme with port",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "Grafana.Apps.Example.com:8080"
				r.Attributes.Request.Http.Scheme = "http"
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "http://Grafana.Apps.Example.com:8080/x",
		},
		{
			name: "host not on the allowlist: login without return URL",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "evil.example.net"
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name: "wildcard does not match its parent",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "apps.example.com"
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name: "authority with user info is not a return URL",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "evil.net@app.example.com"
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name: "authority smuggling a path past the allowlist is not a return URL",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "app.example.com:443/@evil.example.net"
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name: "trailing-dot host is another origin: not a return URL",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "app.example.com."
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name:     "target not in origin form is not a return URL",
			req:      navigate("GET", "*", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name:     "scheme-relative path is not a return URL",
			req:      navigate("GET", "//evil.example.net/x", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name:     "backslash path is not a return URL",
			req:      navigate("GET", "/\\evil.example.net/x", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name:     "backslash or space inside the path is not a return URL",
			req:      navigate("GET", "/a\\b c", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name: "scheme other than http(s) is not a return URL",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Scheme = "javascript"
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "-",
		},
		{
			name: "missing scheme defaults to https",
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Scheme = ""
				return r
			}(),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 302,
			wantRD:   "https://app.example.com/x",
		},
		{
			name:     "fetch() from a page (Sec-Fetch-Mode: cors): 401",
			req:      navigate("GET", "/", map[string]string{"sec-fetch-mode": "cors"}),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
		{
			name:     "XMLHttpRequest marker: 401",
			req:      navigate("GET", "/", map[string]string{"x-requested-with": "XMLHttpRequest"}),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
		{
			name:     "not asking for HTML: 401",
			req:      navigate("GET", "/", map[string]string{"accept": "application/json"}),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
		{
			name:          "default allowlist is the login URL's host",
			opts:          &extauthz.Options{Logger: discard(), LoginURL: "https://app.example.com/login"},
			req:           navigate("GET", "/x", nil),
			decide:        deny(401, verify.ReasonNoToken),
			wantCode:      302,
			wantRD:        "https://app.example.com/x",
			wantLoginHost: "app.example.com",
		},
		{
			name: "default allowlist refuses other hosts",
			opts: &extauthz.Options{Logger: discard(), LoginURL: "https://app.example.com/login"},
			req: func() *authv3.CheckRequest {
				r := navigate("GET", "/x", nil)
				r.Attributes.Request.Http.Host = "other.example.com"
				return r
			}(),
			decide:        deny(401, verify.ReasonNoToken),
			wantCode:      302,
			wantRD:        "-",
			wantLoginHost: "app.example.com",
		},
		{
			name:     "API route: 401",
			req:      envoyRequest("GET", "/", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
		{
			name:     "bearer header on a browser route: 401",
			req:      navigate("GET", "/", map[string]string{"authorization": "Bearer bad.tok.en"}),
			decide:   deny(401, verify.ReasonSignature),
			wantCode: 401,
		},
		{
			name:     "POST on a browser route: 401",
			req:      navigate("POST", "/form", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
		{
			name:     "403 on a browser route stays 403",
			req:      navigate("GET", "/", map[string]string{"cookie": "vexen_access=ok.tok.en"}),
			decide:   deny(403, verify.ReasonForbidden),
			wantCode: 403,
		},
		{
			name: "503 on a browser route stays 503",
			req:  navigate("GET", "/", nil),
			decide: func(context.Context, *verify.Request) (verify.Decision, error) {
				return verify.Decision{}, errors.New("store down")
			},
			wantCode: 503,
		},
		{
			name:     "browser route without a configured login URL: 401",
			opts:     &extauthz.Options{Logger: discard()},
			req:      navigate("GET", "/", nil),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
		{
			name:     "unknown mode is API mode",
			req:      withMode(envoyRequest("GET", "/", nil), "Browser"),
			decide:   deny(401, verify.ReasonNoToken),
			wantCode: 401,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			if tt.opts != nil {
				o = *tt.opts
			}
			cc := startServer(t, extauthz.New(&fakeDecider{decide: tt.decide}, o))
			resp := check(t, cc, tt.req)
			d := resp.GetDeniedResponse()
			if got := int32(d.GetStatus().GetCode()); got != tt.wantCode {
				t.Fatalf("HTTP status %d, want %d", got, tt.wantCode)
			}
			h := deniedHeaders(t, resp)
			if tt.wantCode != 302 {
				if loc, ok := h["location"]; ok {
					t.Errorf("unexpected Location %q", loc)
				}
				return
			}
			if c := codes.Code(resp.GetStatus().GetCode()); c != codes.Unauthenticated {
				t.Errorf("grpc status %v, want Unauthenticated", c)
			}
			if _, ok := h["www-authenticate"]; ok {
				t.Error("a redirect carries WWW-Authenticate")
			}
			loc, err := url.Parse(h["location"])
			if err != nil {
				t.Fatalf("Location %q: %v", h["location"], err)
			}
			if tt.wantLoginHost == "" {
				if loc.Scheme != "https" || loc.Host != "auth.example.com" || loc.Path != "/login" || loc.Query().Get("client") != "web" {
					t.Errorf("Location %q does not keep the login URL", loc)
				}
			} else if loc.Host != tt.wantLoginHost || loc.Path != "/login" {
				t.Errorf("Location %q does not keep the login URL", loc)
			}
			rd, has := loc.Query()["rd"]
			switch {
			case tt.wantRD == "-" && has:
				t.Errorf("Location %q carries rd=%q, want none", loc, rd)
			case tt.wantRD != "-" && (len(rd) != 1 || rd[0] != tt.wantRD):
				t.Errorf("rd = %q, want %q", rd, tt.wantRD)
			}
		})
	}
}

func TestCheckPassesEnvoyDeadline(t *testing.T) {
	var deadline time.Time
	f := &fakeDecider{decide: func(ctx context.Context, r *verify.Request) (verify.Decision, error) {
		deadline, _ = ctx.Deadline()
		return verify.Decision{Status: 401, Reason: verify.ReasonNoToken}, nil
	}}
	cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	if _, err := authv3.NewAuthorizationClient(cc).Check(ctx, envoyRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if deadline.IsZero() || deadline.After(want.Add(100*time.Millisecond)) {
		t.Errorf("decider deadline %v, want about %v (Envoy's grpc timeout)", deadline, want)
	}
}

func TestCheckLogsNoToken(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const secret = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	for _, decide := range []func(context.Context, *verify.Request) (verify.Decision, error){
		deny(401, verify.ReasonSignature),
		func(context.Context, *verify.Request) (verify.Decision, error) {
			return verify.Decision{}, errors.New("redis: i/o timeout")
		},
	} {
		cc := startServer(t, extauthz.New(&fakeDecider{decide: decide}, extauthz.Options{Logger: log}))
		check(t, cc, envoyRequest("GET", "/?access_token="+secret, map[string]string{
			"authorization": "Bearer " + secret, "cookie": "vexen_access=" + secret,
		}))
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "cannot decide") || !strings.Contains(out, "denied") {
		t.Fatalf("expected a denial and a failure in the log, got:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("the log contains the token:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestHealth(t *testing.T) {
	s := extauthz.New(&fakeDecider{decide: deny(401, verify.ReasonNoToken)}, extauthz.Options{Logger: discard()})
	cc := startServer(t, s)
	hc := healthgrpc.NewHealthClient(cc)
	status := func(service string) healthgrpc.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := hc.Check(context.Background(), &healthgrpc.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health Check(%q): %v", service, err)
		}
		return resp.GetStatus()
	}
	for _, svc := range []string{"", extauthz.ServiceName} {
		if st := status(svc); st != healthgrpc.HealthCheckResponse_SERVING {
			t.Errorf("%q: %v, want SERVING", svc, st)
		}
	}
	s.SetServing(false)
	for _, svc := range []string{"", extauthz.ServiceName} {
		if st := status(svc); st != healthgrpc.HealthCheckResponse_NOT_SERVING {
			t.Errorf("after SetServing(false), %q: %v, want NOT_SERVING", svc, st)
		}
	}
	s.SetServing(true)
	if st := status(extauthz.ServiceName); st != healthgrpc.HealthCheckResponse_SERVING {
		t.Errorf("after SetServing(true): %v, want SERVING", st)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    extauthz.Options
		want error
	}{
		{"zero", extauthz.Options{}, nil},
		{"https login", extauthz.Options{LoginURL: "https://auth.example.com/login", AllowedRedirectHosts: []string{"a.example.com", "*.example.org"}}, nil},
		{"path login", extauthz.Options{LoginURL: "/login"}, nil},
		{"hosts without login are fine", extauthz.Options{AllowedRedirectHosts: []string{"a.example.com"}}, nil},
		{"relative login", extauthz.Options{LoginURL: "login"}, extauthz.ErrBadLoginURL},
		{"scheme-relative login", extauthz.Options{LoginURL: "//evil.example.net/login"}, extauthz.ErrBadLoginURL},
		{"javascript login", extauthz.Options{LoginURL: "javascript:alert(1)"}, extauthz.ErrBadLoginURL},
		{"login without host", extauthz.Options{LoginURL: "https:///login"}, extauthz.ErrBadLoginURL},
		{"login with user info", extauthz.Options{LoginURL: "https://u:p@auth.example.com/login"}, extauthz.ErrBadLoginURL},
		{"unparsable login", extauthz.Options{LoginURL: "https://auth.example.com/%zz"}, extauthz.ErrBadLoginURL},
		{"host with scheme", extauthz.Options{LoginURL: "/login", AllowedRedirectHosts: []string{"https://a.example.com"}}, extauthz.ErrBadRedirectHost},
		{"empty host", extauthz.Options{LoginURL: "/login", AllowedRedirectHosts: []string{""}}, extauthz.ErrBadRedirectHost},
		{"bare wildcard", extauthz.Options{LoginURL: "/login", AllowedRedirectHosts: []string{"*"}}, extauthz.ErrBadRedirectHost},
		{"inner wildcard", extauthz.Options{LoginURL: "/login", AllowedRedirectHosts: []string{"a.*.example.com"}}, extauthz.ErrBadRedirectHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				return
			}
			defer func() {
				if recover() == nil {
					t.Error("New did not panic on invalid options")
				}
			}()
			extauthz.New(&fakeDecider{}, tt.o)
		})
	}
}

func TestNewNilDeciderPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(nil) did not panic")
		}
	}()
	extauthz.New(nil, extauthz.Options{})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCheckAnonymousAllow: a public rule's request without a valid token is
// allowed with every identity header removed (a client's forged copies too).
func TestCheckAnonymousAllow(t *testing.T) {
	f := &fakeDecider{decide: func(context.Context, *verify.Request) (verify.Decision, error) {
		return verify.Decision{Allow: true, Status: 200, Rule: "health"}, nil
	}}
	cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
	resp := check(t, cc, envoyRequest("GET", "/healthz", map[string]string{"x-auth-user": "forged"}))
	ok := resp.GetOkResponse()
	if ok == nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("not allowed: %v", resp)
	}
	if len(ok.GetHeaders()) != 0 {
		t.Errorf("headers set: %v", ok.GetHeaders())
	}
	removed := strings.Join(ok.GetHeadersToRemove(), ",")
	if removed != "x-auth-user,x-auth-email,x-auth-roles,x-auth-session,x-auth-amr" {
		t.Errorf("headers_to_remove %q", removed)
	}
}

// TestCheckTightening: the route's context extensions vexen_roles and vexen_mfa
// reach the decision.
func TestCheckTightening(t *testing.T) {
	for _, tc := range []struct {
		ext   map[string]string
		roles string
		mfa   bool
	}{
		{nil, "", false},
		{map[string]string{extauthz.RolesKey: "admin,ops"}, "admin,ops", false},
		{map[string]string{extauthz.MFAKey: "1"}, "", true},
		{map[string]string{extauthz.MFAKey: "true", extauthz.RolesKey: "x"}, "x", true},
		{map[string]string{extauthz.MFAKey: "0"}, "", false},
	} {
		f := &fakeDecider{decide: deny(401, verify.ReasonNoToken)}
		cc := startServer(t, extauthz.New(f, extauthz.Options{Logger: discard()}))
		req := envoyRequest("GET", "/", nil)
		req.Attributes.ContextExtensions = tc.ext
		check(t, cc, req)
		if len(f.seen) != 1 || f.seen[0].RequireRoles != tc.roles || f.seen[0].RequireMFA != tc.mfa {
			t.Errorf("%v: seen %+v", tc.ext, f.seen)
		}
	}
}
