package policy

import "strings"

// Tighten is what a proxy location adds to the rules (nginx, Traefik and Caddy:
// /auth?roles=a,b&mfa=1; Envoy: the route's context extensions vexen_roles and
// vexen_mfa). It never loosens: a location's roles are required on top of the
// rule's, and a public rule with a tightening location becomes authenticated.
type Tighten struct {
	Roles string // comma-separated; any of them; "" = no requirement
	MFA   bool
}

// Requirement is what a request must show under a rule and a location.
type Requirement struct {
	Action        Action
	Roles         []string // the rule's: any of them (none = no requirement)
	LocationRoles string   // the location's, comma-separated: any of them
	MFA           bool
}

// Require combines the rule with a location's tightening.
func (r *Rule) Require(t Tighten) Requirement {
	q := Requirement{Action: r.Action, Roles: r.Roles, LocationRoles: t.Roles, MFA: r.MFA || t.MFA}
	if q.Action == Public && (t.Roles != "" || t.MFA) {
		q.Action = Authenticated
	}
	if q.Action != Authenticated {
		q.Roles, q.LocationRoles, q.MFA = nil, "", false
	}
	return q
}

// Check decides for a valid token under the rule alone, with no location
// tightening: it answers what Require(Tighten{}).Check(true, roles, mfa) answers,
// without building the Requirement. It allocates nothing.
func (r *Rule) Check(roles []string, mfa bool) Outcome {
	switch r.Action {
	case Deny:
		return Denied
	case Public:
		return Allow
	}
	if len(r.Roles) > 0 && !anyOf(r.Roles, roles) {
		return MissingRole
	}
	if r.MFA && !mfa {
		return MissingMFA
	}
	return Allow
}

// Outcome is a decision of the policy for an authenticated (or not) subject.
type Outcome uint8

const (
	Allow           Outcome = iota // 200
	Denied                         // 403: a deny rule
	Unauthenticated                // 401: a valid token is required
	MissingRole                    // 403: the token lacks every required role
	MissingMFA                     // 401 insufficient_user_authentication: amr lacks mfa
)

var outcomeNames = [...]string{
	Allow: "allow (200)", Denied: "deny (403)", Unauthenticated: "unauthenticated (401)",
	MissingRole: "forbidden: role missing (403)", MissingMFA: "second factor required (401 insufficient_user_authentication)",
}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Check decides for a subject: authenticated says whether a valid token was
// shown, roles are its roles and mfa whether its amr contains "mfa". It allocates
// nothing.
func (q Requirement) Check(authenticated bool, roles []string, mfa bool) Outcome {
	switch q.Action {
	case Deny:
		return Denied
	case Public:
		return Allow
	}
	if !authenticated {
		return Unauthenticated
	}
	if len(q.Roles) > 0 && !anyOf(q.Roles, roles) {
		return MissingRole
	}
	if q.LocationRoles != "" && !anyOfList(q.LocationRoles, roles) {
		return MissingRole
	}
	if q.MFA && !mfa {
		return MissingMFA
	}
	return Allow
}

func anyOf(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

// anyOfList: one of the comma-separated roles in list is in have.
func anyOfList(list string, have []string) bool {
	for list != "" {
		w := list
		if i := strings.IndexByte(list, ','); i >= 0 {
			w, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

// ParamsRefused reports whether t must be refused for its ';' parameters: when the
// policy matches paths, a ';' would let "/admin;x" dodge "/admin/**" on servers
// that drop parameters (Tomcat, Jetty, Spring).
func (p *Policy) ParamsRefused(t *Target) error {
	if t.Params && p.hasPaths {
		return errParams
	}
	return nil
}
