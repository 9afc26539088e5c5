package extauthz

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/vexen/vexen-auth/pkg/verify"
)

// Identity headers set on allowed requests. The HTTP endpoint sends the same names.
const (
	HeaderUser    = "x-auth-user"
	HeaderEmail   = "x-auth-email"
	HeaderRoles   = "x-auth-roles"
	HeaderSession = "x-auth-session"
	HeaderAMR     = "x-auth-amr" // RFC 8176 methods, comma-separated
)

// identityHeaders lists every identity header, in the order they are set.
var identityHeaders = [...]string{HeaderUser, HeaderEmail, HeaderRoles, HeaderSession, HeaderAMR}

// The WWW-Authenticate challenges of a 401, as the HTTP endpoint sends them (RFC 6750
// §3: no error code when the request carried no token).
const (
	challengeNoToken = `Bearer realm="vexen"`
	challengeInvalid = `Bearer realm="vexen", error="invalid_token"`
)

// Response bodies of denials: the same short text the HTTP endpoint writes. They
// are deliberately generic: the reason of a denial goes to logs and metrics, not to
// the client.
const (
	bodyUnauthorized = "unauthorized\n"
	bodyForbidden    = "forbidden\n"
	bodyUnavailable  = "unavailable\n"
	bodyBadRequest   = "bad request\n"
)

// maxHeaderValue is Envoy's limit on a header value in a HeaderValueOption.
const maxHeaderValue = 16384

func overwrite(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func rpcStatus(c codes.Code, msg string) *rpcstatus.Status {
	return &rpcstatus.Status{Code: int32(c), Message: msg}
}

// okResponse allows the request and rewrites its identity headers.
//
// Envoy applies an OkHttpResponse's headers first and its headers_to_remove after
// them (source/extensions/filters/http/ext_authz/ext_authz.cc, onComplete), so a
// name in both lists would delete the value just set. Each identity header is
// therefore in exactly one list: set with OVERWRITE_IF_EXISTS_OR_ADD when the
// identity has a value for it (a client-sent copy is replaced), removed otherwise (a
// client-sent copy is dropped). Removal does not depend on the header appearing in
// the CheckRequest: a filter with allowed_headers does not show it to us.
//
// A nil id (a public rule's request without a valid token) removes them all.
func okResponse(id *verify.Identity) (resp *authv3.CheckResponse, dropped []string) {
	var values [len(identityHeaders)]string
	if id != nil {
		values = [len(identityHeaders)]string{
			id.UserID,
			id.Email,
			headerValue(id.RolesHeader()),
			id.SessionID,
			headerValue(id.AMRHeader()),
		}
	}
	ok := &authv3.OkHttpResponse{Headers: make([]*corev3.HeaderValueOption, 0, len(identityHeaders))}
	for i, name := range identityHeaders {
		v := values[i]
		switch {
		case v == "":
			ok.HeadersToRemove = append(ok.HeadersToRemove, name)
		case len(v) > maxHeaderValue || strings.ContainsAny(v, "\x00\r\n"):
			// Envoy refuses such a value; forward none rather than a mangled one.
			ok.HeadersToRemove = append(ok.HeadersToRemove, name)
			dropped = append(dropped, name)
		default:
			ok.Headers = append(ok.Headers, overwrite(name, v))
		}
	}
	return &authv3.CheckResponse{
		Status:       rpcStatus(codes.OK, ""),
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}, dropped
}

// headerValue is a rendered identity header value (what the HTTP endpoint sends),
// "" for none.
func headerValue(rendered []string) string {
	switch len(rendered) {
	case 0:
		return ""
	case 1:
		return rendered[0]
	default:
		return strings.Join(rendered, ",")
	}
}

func denied(c codes.Code, reason string, status typev3.StatusCode, body string, hdrs ...*corev3.HeaderValueOption) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: rpcStatus(c, reason),
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: status},
			Headers: hdrs,
			Body:    body,
		}},
	}
}

// textDenied is a denial with the headers every answer of the HTTP endpoint other
// than 200 carries.
func textDenied(c codes.Code, reason string, status typev3.StatusCode, body string, extra ...*corev3.HeaderValueOption) *authv3.CheckResponse {
	hdrs := append([]*corev3.HeaderValueOption{
		overwrite("content-type", "text/plain; charset=utf-8"),
		overwrite("x-content-type-options", "nosniff"),
		overwrite("cache-control", "no-store"),
	}, extra...)
	return denied(c, reason, status, body, hdrs...)
}

// unauthenticated is the 401: no token (no error parameter), or a bad, expired or
// revoked one (error="invalid_token").
func unauthenticated(reason string, noToken bool) *authv3.CheckResponse {
	challenge := challengeInvalid
	if noToken {
		challenge = challengeNoToken
	}
	return textDenied(codes.Unauthenticated, reason, typev3.StatusCode_Unauthorized, bodyUnauthorized,
		overwrite("www-authenticate", challenge))
}

// needMFA is the 401 of a valid token without the second factor a rule requires.
func needMFA(reason string) *authv3.CheckResponse {
	return textDenied(codes.Unauthenticated, reason, typev3.StatusCode_Unauthorized, bodyUnauthorized,
		overwrite("www-authenticate", verify.ChallengeMFA))
}

// badRequest is the 400 of a request whose host or path the policy cannot read
// without guessing.
func badRequest(reason string) *authv3.CheckResponse {
	return textDenied(codes.InvalidArgument, reason, typev3.StatusCode_BadRequest, bodyBadRequest)
}

// forbidden is the 403 of a valid token that an access rule denies.
func forbidden(c codes.Code, reason string) *authv3.CheckResponse {
	return textDenied(c, reason, typev3.StatusCode_Forbidden, bodyForbidden)
}

// unavailable is the answer when the verifier cannot decide. It is a denied
// response, not an error_response: Envoy turns an error_response into a pass when
// failure_mode_allow is on, and "cannot decide" must never let a request through.
func unavailable() *authv3.CheckResponse {
	return textDenied(codes.Unavailable, "unavailable", typev3.StatusCode_ServiceUnavailable, bodyUnavailable,
		overwrite("retry-after", "1"))
}

// loginRedirect sends a browser to the login page (browser mode, 401 only).
func loginRedirect(reason, location string) *authv3.CheckResponse {
	return textDenied(codes.Unauthenticated, reason, typev3.StatusCode_Found, "",
		overwrite("location", location))
}
