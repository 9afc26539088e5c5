package extauthz

import (
	"context"
	"errors"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/vexen/vexen-auth/pkg/verify"
)

// Sentinel errors, returned by Options.Validate.
var (
	ErrBadLoginURL     = errors.New("extauthz: bad login URL")
	ErrBadRedirectHost = errors.New("extauthz: bad allowed redirect host")
)

// ServiceName is the gRPC service this package implements; the health service
// reports it SERVING once Register has run.
const ServiceName = "envoy.service.auth.v3.Authorization"

// The route-level switch for browser handling. A route asks for it with the
// ext_authz filter's per-route config:
//
//	typed_per_filter_config:
//	  envoy.filters.http.ext_authz:
//	    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
//	    check_settings:
//	      context_extensions:
//	        vexen_mode: browser
//
// Any other value, or none, is API mode: a missing or bad token is always a 401.
const (
	ModeKey     = "vexen_mode"
	ModeBrowser = "browser"
	ModeAPI     = "api"
)

// Per-route tightening of the access policy, in the same context extensions: any
// of the comma-separated roles in RolesKey, and a second factor when MFAKey is
// "1" or "true", are required on top of what the policy asks (never instead).
const (
	RolesKey = "vexen_roles"
	MFAKey   = "vexen_mfa"
)

// DefaultCookieName is the access-token cookie read when Options.CookieName is empty
// (the contract's --cookie-name default).
const DefaultCookieName = "vexen_access"

// Options configure a Server. The zero value is API mode with the default cookie.
type Options struct {
	// CookieName is the access-token cookie, read when the request carries no
	// "Authorization: Bearer" header. Default: DefaultCookieName.
	CookieName string

	// Logger receives decider failures (Warn) and denials (Debug, when enabled).
	// Tokens are never logged. Default: slog.Default().
	Logger *slog.Logger

	// LoginURL turns on browser mode: on a route whose context extension ModeKey is
	// ModeBrowser, a browser navigation whose token is missing or not accepted (a
	// 401) is answered with a 302 to LoginURL instead of the 401. A navigation, as
	// the HTTP endpoint decides it too: GET or HEAD, no Authorization header, Accept
	// naming text/html, Sec-Fetch-Mode absent or "navigate", no X-Requested-With.
	// LoginURL is an http(s) URL, or an absolute path on the application's own host.
	// Default: empty, browser mode off (every route gets 401).
	LoginURL string

	// RedirectParam is the query parameter of LoginURL that carries the return URL
	// (the original request's scheme, host and path). Default: "rd", the issuer's.
	RedirectParam string

	// AllowedRedirectHosts limits return URLs to these hosts: exact names, or
	// "*.parent" for any name below parent (not parent itself); case-insensitive,
	// ports ignored. A request for any other host is redirected to LoginURL without a
	// return URL. Default: LoginURL's host (none when LoginURL is a path).
	AllowedRedirectHosts []string
}

// Validate checks o without side effects.
func (o Options) Validate() error {
	_, err := newRedirector(o)
	return err
}

// Server answers Envoy's ext_authz Check calls with the decisions of a
// verify.Decider. It is safe for concurrent use.
type Server struct {
	decider  verify.Decider
	cookie   string
	log      *slog.Logger
	redirect *redirector // nil: browser mode off
	health   *health.Server
}

// New returns a Server over d. It panics when d is nil or o fails Validate; programs
// validate their options while parsing configuration, before they build anything.
func New(d verify.Decider, o Options) *Server {
	if d == nil {
		panic("extauthz: New with a nil Decider")
	}
	rd, err := newRedirector(o)
	if err != nil {
		panic(err)
	}
	s := &Server{
		decider:  d,
		cookie:   o.CookieName,
		log:      o.Logger,
		redirect: rd,
		health:   health.NewServer(),
	}
	if s.cookie == "" {
		s.cookie = DefaultCookieName
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Register adds the Authorization service and the standard gRPC health service
// (grpc.health.v1.Health, reporting "" and ServiceName) to g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	authv3.RegisterAuthorizationServer(g, authService{s: s})
	healthgrpc.RegisterHealthServer(g, s.health)
	s.health.SetServingStatus(ServiceName, healthgrpc.HealthCheckResponse_SERVING)
}

// SetServing sets what the health service reports for "" and ServiceName. Set it
// to false when draining, before GracefulStop, so that Envoy's gRPC health checks
// move traffic away first.
func (s *Server) SetServing(serving bool) {
	st := healthgrpc.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthgrpc.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ServiceName, st)
}

// authService is the registered implementation; it keeps the generated
// Unimplemented type out of Server's exported fields.
type authService struct {
	authv3.UnimplementedAuthorizationServer
	s *Server
}

func (a authService) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return a.s.Check(ctx, req)
}

// Check implements envoy.service.auth.v3.Authorization/Check. It always answers
// with a CheckResponse and a nil error, so Envoy's failure_mode_allow never comes
// into play for a request the verifier has seen:
//
//	allowed                     OK                 identity headers set, forged copies removed
//	no token                    UNAUTHENTICATED    401, WWW-Authenticate: Bearer realm="vexen"
//	bad/expired/revoked token   UNAUTHENTICATED    401, ... error="invalid_token"
//	  (browser mode, navigation) UNAUTHENTICATED   302 to the login URL
//	  (second factor missing)   UNAUTHENTICATED    401, ... error="insufficient_user_authentication"
//	access rule denies          PERMISSION_DENIED  403
//	ambiguous host or path      INVALID_ARGUMENT   400
//	cannot decide               UNAVAILABLE        503
//	no HTTP attributes          INVALID_ARGUMENT   403 (not an HTTP ext_authz filter)
func (s *Server) Check(ctx context.Context, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	attrs := in.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	if h == nil {
		s.log.WarnContext(ctx, "extauthz: CheckRequest without HTTP attributes (only the HTTP ext_authz filter is supported)")
		return forbidden(codes.InvalidArgument, "no http request attributes"), nil
	}
	hdr := headersOf(h)
	r := verify.Request{
		Method: h.GetMethod(),
		Host:   h.GetHost(),
		Path:   h.GetPath(),
		Client: clientAddr(attrs),
	}
	if tok, ok := bearerToken(hdr.get("authorization", ",")); ok {
		r.Token, r.Source = tok, verify.SourceHeader
	} else if tok, ok := cookieValue(hdr.get("cookie", "; "), s.cookie); ok {
		r.Token, r.Source = tok, verify.SourceCookie
	}
	// Browser handling is the route's explicit choice, and then only for what looks
	// like a top-level navigation.
	ext := attrs.GetContextExtensions()
	r.Browser = s.redirect != nil && ext[ModeKey] == ModeBrowser &&
		navigation(hdr, r.Method, r.Source)
	r.RequireRoles = ext[RolesKey]
	r.RequireMFA = ext[MFAKey] == "1" || ext[MFAKey] == "true"
	r.TraceParent, r.TraceState = traceContext(ctx, hdr)

	d, err := s.decider.Decide(ctx, &r)
	if err != nil || d.Reason == verify.ReasonUnavailable || (!d.Allow && d.Status == 503) {
		if err == nil {
			err = errors.New("decider reported reason unavailable")
		}
		lvl := slog.LevelWarn
		if ctx.Err() != nil {
			lvl = slog.LevelDebug // Envoy gave up first (its timeout, or the client left)
		}
		s.log.Log(ctx, lvl, "extauthz: cannot decide", "err", err,
			"method", r.Method, "host", r.Host, "client", r.Client)
		return unavailable(), nil
	}
	if d.Allow {
		// A nil identity is a public rule's anonymous request: every identity
		// header is removed.
		resp, dropped := okResponse(d.Identity)
		if len(dropped) > 0 {
			s.log.WarnContext(ctx, "extauthz: identity header values Envoy cannot carry were not forwarded",
				"headers", dropped, "user", d.Identity.UserID) // dropped values come from an identity
		}
		return resp, nil
	}

	reason := d.Reason.String()
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, "extauthz: denied", "reason", reason, "status", d.Status,
			"method", r.Method, "host", r.Host, "client", r.Client, "browser", r.Browser)
	}
	switch d.Status {
	case 401:
		mfa := d.Reason == verify.ReasonMFARequired
		if r.Browser {
			return loginRedirect(reason, s.redirect.location(h.GetScheme(), h.GetHost(), h.GetPath(), mfa)), nil
		}
		if mfa {
			return needMFA(reason), nil
		}
		return unauthenticated(reason, r.Source == verify.SourceNone || d.Reason == verify.ReasonNoToken), nil
	case 403:
		return forbidden(codes.PermissionDenied, reason), nil
	case 400:
		return badRequest(reason), nil
	default:
		s.log.ErrorContext(ctx, "extauthz: decider denied with an unexpected status; answering 403",
			"status", d.Status, "reason", reason)
		return forbidden(codes.PermissionDenied, reason), nil
	}
}

// Limits of NewGRPCServer.
const (
	// MaxRequestBytes bounds a CheckRequest. Envoy's default request-header limit is
	// 60 KiB and the sample configs send no body (with_request_body unset).
	MaxRequestBytes = 1 << 20
	// MaxConcurrentStreams bounds in-flight Checks per connection; Envoy opens
	// another connection when it needs more.
	MaxConcurrentStreams = 1024
	// MinPingInterval is the shortest interval between client keepalive pings the
	// server accepts; a client pinging more often is disconnected. Envoy's
	// http2_protocol_options.connection_keepalive.interval must not be shorter.
	MinPingInterval = 5 * time.Second
)

// NewGRPCServer returns a grpc.Server with explicit limits for serving Envoy:
// MaxRequestBytes, MaxConcurrentStreams, a 5s connection handshake timeout, a
// keepalive ping after 30s idle (10s to answer) that drops dead Envoy connections,
// and acceptance of client keepalive pings every MinPingInterval or slower. opts
// are applied after these and override them.
func NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	base := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(5 * time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: MinPingInterval, PermitWithoutStream: true}),
	}
	return grpc.NewServer(append(base, opts...)...)
}

var _ authv3.AuthorizationServer = authService{}

// traceContext is the W3C trace context of a Check: the gRPC call's own metadata
// (Envoy's tracing sets it, with the ext_authz span as parent), else the original
// request's headers. Absent, it allocates nothing.
func traceContext(ctx context.Context, hdr headers) (parent, state string) {
	if v := metadata.ValueFromIncomingContext(ctx, "traceparent"); len(v) > 0 {
		if s := metadata.ValueFromIncomingContext(ctx, "tracestate"); len(s) > 0 {
			state = s[0]
		}
		return v[0], state
	}
	return hdr.get("traceparent", ","), hdr.get("tracestate", ",")
}
