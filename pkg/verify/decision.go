package verify

import (
	"context"
	"net/netip"
	"unsafe"
)

// TokenSource says where a request's token came from.
type TokenSource uint8

const (
	SourceNone   TokenSource = iota // no token was sent
	SourceHeader                    // Authorization: Bearer
	SourceCookie                    // the access-token cookie
)

// Request is what an adapter (HTTP handler, gRPC ext_authz server) extracts from a
// proxy's question: the original request's method, host and path, the client
// address, and the token. It is a plain value; building one allocates nothing when
// its strings point into the incoming request.
type Request struct {
	Method string
	Host   string
	Path   string // original path (and query), as the proxy reported it
	Client netip.Addr
	Token  string
	Source TokenSource
	// Browser is set by the adapter when the caller asked for browser handling (a
	// top-level navigation on a route configured for redirects): a deny may then be
	// answered with a redirect to the login page instead of a bare 401.
	Browser bool
	// RequireRoles and RequireMFA tighten the policy for one proxy location
	// (/auth?roles=a,b&mfa=1, Envoy's vexen_roles and vexen_mfa): any of the
	// comma-separated roles, and a second factor, are required on top of what the
	// policy asks. They never loosen it.
	RequireRoles string
	RequireMFA   bool
	// TraceParent and TraceState are the W3C trace context the proxy sent
	// (traceparent, tracestate), read only when the decision is traced: it leaves
	// the cache and a TracerProvider is installed. "" = none.
	TraceParent string
	TraceState  string
}

// Reason is the fixed, bounded set of decision reasons; it labels metrics.
type Reason uint8

const (
	ReasonOK          Reason = iota // allowed
	ReasonNoToken                   // no credentials sent
	ReasonMalformed                 // not a JWT, oversized, bad encoding
	ReasonSignature                 // signature, algorithm or key check failed
	ReasonClaims                    // iss, aud, typ, sub/sid or other claim rule failed
	ReasonExpired                   // exp passed or nbf/iat in the future
	ReasonRevoked                   // session revoked, expired or user disabled
	ReasonForbidden                 // valid token, an access rule denies
	ReasonUnavailable               // could not decide (only with an error)
	ReasonBadRequest                // the method, host or path is ambiguous (400): see policy.Canonicalize
	ReasonMFARequired               // valid token without a second factor where one is required
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonOK:          "ok",
	ReasonNoToken:     "no_token",
	ReasonMalformed:   "malformed",
	ReasonSignature:   "signature",
	ReasonClaims:      "claims",
	ReasonExpired:     "expired",
	ReasonRevoked:     "revoked",
	ReasonForbidden:   "forbidden",
	ReasonUnavailable: "unavailable",
	ReasonBadRequest:  "bad_request",
	ReasonMFARequired: "mfa_required",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Identity is the verified identity of an allowed request. A cached token's
// Identity is shared between decisions and must not be modified, nor the slices
// its methods return: an adapter may put the header values into an http.Header as
// they are, which is how the cached path stays allocation-free. It is small (the
// local cache holds one per token): the roles and amr, with their rendered header
// values, live in a claim shape shared by every identity that has the same ones.
type Identity struct {
	UserID    string
	Email     string
	SessionID string
	shape     *claimShape // nil in a zero Identity: no roles, no amr
}

// NewIdentity builds an Identity (for adapters' tests and other Deciders); the
// verifier builds its own when it checks a token.
func NewIdentity(userID, email, sessionID string, roles, amr []string) *Identity {
	return &Identity{UserID: userID, Email: email, SessionID: sessionID, shape: newClaimShape(roles, amr)}
}

// Roles are the token's roles (never nil but in a zero Identity).
func (id *Identity) Roles() []string {
	if id.shape == nil {
		return nil
	}
	return id.shape.roles
}

// AMR is the token's amr claim (RFC 8176), nil without one.
func (id *Identity) AMR() []string {
	if id.shape == nil {
		return nil
	}
	return id.shape.amr
}

// MFA reports whether AMR contains "mfa".
func (id *Identity) MFA() bool { return id.shape != nil && id.shape.mfa }

// The identity header values, ready for http.Header: X-Auth-User, X-Auth-Email,
// X-Auth-Roles (comma-separated), X-Auth-Session and X-Auth-AMR (comma-separated;
// nil when the token has no amr). The user, email and session values are views of
// the Identity's own fields, so they cost no memory and no allocation; the roles
// and amr values are rendered once per claim shape.

// UserHeader is the X-Auth-User value.
func (id *Identity) UserHeader() []string { return unsafe.Slice(&id.UserID, 1) }

// EmailHeader is the X-Auth-Email value.
func (id *Identity) EmailHeader() []string { return unsafe.Slice(&id.Email, 1) }

// SessionHeader is the X-Auth-Session value.
func (id *Identity) SessionHeader() []string { return unsafe.Slice(&id.SessionID, 1) }

// RolesHeader is the X-Auth-Roles value.
func (id *Identity) RolesHeader() []string {
	if id.shape == nil {
		return hdrEmpty
	}
	return id.shape.rolesHeader
}

// AMRHeader is the X-Auth-AMR value, nil without amr.
func (id *Identity) AMRHeader() []string {
	if id.shape == nil {
		return nil
	}
	return id.shape.amrHeader
}

// hdrEmpty is the X-Auth-Roles value of an identity without roles.
var hdrEmpty = []string{""}

// Decision is the answer to a Request.
type Decision struct {
	Allow  bool
	Status int // 200, 400, 401 or 403 (an error is the 503)
	Reason Reason
	// Identity is set when Allow, but for a public rule's request without a valid
	// token: then it is nil and no identity header may be sent.
	Identity *Identity
	// Rule names the policy rule that decided ("default" when none matched, "none"
	// without a policy or for a request refused before matching).
	Rule string
}

// Decider is the verifier's heart. An error means only "could not decide" (Redis,
// store or key fetch unavailable); adapters turn it into 503. A bad token is a deny
// with a nil error.
type Decider interface {
	Decide(ctx context.Context, r *Request) (Decision, error)
}
