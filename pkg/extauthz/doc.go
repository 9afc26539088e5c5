// Package extauthz is the verifier's Envoy adapter: a gRPC server implementing
// envoy.service.auth.v3.Authorization/Check (Envoy's ext_authz HTTP filter with a
// grpc_service, transport_api_version V3) over a verify.Decider. It and its
// subpackage envoyconfig (checks for Envoy bootstraps) are the only packages that
// import gRPC and Envoy's types; the decision core does not.
//
// The adapter is thin. From a CheckRequest it builds a verify.Request: the original
// method, :authority and path (with query) from attributes.request.http, the token
// from "Authorization: Bearer …" (scheme case-insensitive) or else from the
// access-token cookie, and the client address from attributes.source. Headers are
// read from the lower-cased map Envoy sends by default and from header_map when the
// filter sets encode_raw_headers. The Decider's answer becomes the CheckResponse
// (see Server.Check for the table); the bodies and WWW-Authenticate challenges of
// denials are those of the verifier's HTTP endpoint, and the decisions are counted
// by the Decider, so both adapters share one set of metrics.
//
// # Identity headers
//
// An allowed request gets X-Auth-User, X-Auth-Email, X-Auth-Roles (comma-separated)
// and X-Auth-Session, set with append_action OVERWRITE_IF_EXISTS_OR_ADD so a value a
// client forged is replaced. An identity header the identity has no value for (a
// user without roles) is listed in headers_to_remove instead, so a forged copy is
// dropped. No name is in both lists: Envoy applies headers_to_remove after the
// headers it sets.
//
// # Failing closed
//
// Check never returns a gRPC error for a request it has read. When the Decider
// cannot decide (Redis, the store or the key set is unavailable) the answer is a
// denied response with status UNAVAILABLE and HTTP 503, not an error_response:
// Envoy lets an error_response through when failure_mode_allow is on, and a
// verifier that cannot decide must not allow. When Envoy cannot reach the server at
// all, its failure_mode_allow: false and status_on_error decide; the sample
// bootstraps in the repository's envoy/ directory set them.
//
// # Tracing
//
// The W3C trace context (traceparent, tracestate) is taken from the gRPC call's
// metadata, where Envoy's tracing puts it with its ext_authz span as parent, else
// from the original request's headers, and handed to the Decider in the Request;
// the verifier reads it only for a decision it traces.
//
// # Browser mode
//
// With Options.LoginURL set, a route that asks for it explicitly (the context
// extension ModeKey = ModeBrowser in the route's ExtAuthzPerRoute check_settings)
// answers a browser navigation without a valid token with a 302 to the login page,
// carrying the original URL as return URL when its host is in
// Options.AllowedRedirectHosts. A navigation is judged as the HTTP endpoint judges
// it: GET or HEAD, no Authorization header, Accept naming text/html, Sec-Fetch-Mode
// absent or "navigate", no X-Requested-With. Everything else on such a route, 403s,
// and every route without the extension keep the 401: API clients never get a
// redirect.
//
// # Same answers as the HTTP endpoint
//
// Statuses, bodies and headers of every answer match the verifier's HTTP endpoint
// (verify.Verifier.Handler); a test runs the real verifier behind both adapters and
// compares them. One difference is inherent: an identity header with an empty value
// (X-Auth-Roles of a user without roles) is removed here, because Envoy's gRPC API
// cannot set an empty header.
//
// # Serving
//
// NewGRPCServer returns a grpc.Server with explicit message-size, stream and
// keepalive limits; Server.Register adds the Authorization service and the standard
// grpc.health.v1 service, which Envoy's grpc_health_check can probe.
package extauthz
