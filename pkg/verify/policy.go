package verify

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/policy"
)

// activePolicy is a compiled policy with its metric children, resolved when it
// was set: a decision only calls Inc on them.
type activePolicy struct {
	p         *policy.Policy
	labels    []string                         // by rule index; the last is "default"
	decisions [][numReasons]prometheus.Counter // by rule index, then reason
}

// SetPolicy puts p in force for every decision from now on (nil: no policy, any
// valid token passes). Decisions in flight finish with the policy they started
// with. It is how a reload swaps policies: safe for concurrent use.
func (v *Verifier) SetPolicy(p *policy.Policy) {
	if p == nil {
		v.policy.Store(nil)
		return
	}
	ap := &activePolicy{p: p, labels: p.Labels()}
	ap.decisions = make([][numReasons]prometheus.Counter, len(ap.labels))
	for i, l := range ap.labels {
		for r := range numReasons {
			ap.decisions[i][r] = v.m.decisionVec.WithLabelValues(decisionOf(r), r.String(), l)
		}
	}
	v.policy.Store(ap)
}

// Policy returns the policy in force (nil when none).
func (v *Verifier) Policy() *policy.Policy {
	if ap := v.policy.Load(); ap != nil {
		return ap.p
	}
	return nil
}

var decisionAnonymous = Decision{Allow: true, Status: http.StatusOK, Reason: ReasonOK}

// decidePolicy decides under a policy. The order matters: the request is read
// and matched (policy.Policy.MatchRequest: Canonicalize, then Match) before the
// token is looked at, so that a deny rule answers 403 whatever the token (it never
// tells whether a token is valid) and a public rule answers 200 without one; an authenticated rule asks for the
// token first (401) and then for roles (403) and a second factor (401
// insufficient_user_authentication). rule is the deciding rule's index, -1 for a
// request refused before matching.
func (v *Verifier) decidePolicy(ctx context.Context, ap *activePolicy, r *Request, now time.Time, sp *trace.Span) (d Decision, rule int, err error) {
	m, err := ap.p.MatchRequest(r.Method, r.Host, r.Path, r.Client)
	if err != nil {
		if v.log.Enabled(ctx, slog.LevelDebug) {
			v.log.LogAttrs(ctx, slog.LevelDebug, "request refused", slog.String("why", err.Error()),
				slog.String("method", r.Method), slog.String("host", r.Host), slog.String("path", r.Path))
		}
		return deny(ReasonBadRequest), -1, nil
	}
	if r.RequireRoles == "" && !r.RequireMFA {
		// No location tightening (the common case): the rule alone decides, without
		// building a Requirement.
		if m.Action == policy.Authenticated {
			id, reason, err := v.identify(ctx, r, now, sp)
			if reason != ReasonOK {
				return deny(reason), m.Index, err
			}
			return v.outcome(m.Check(id.Roles(), id.MFA()), id), m.Index, nil
		}
	}
	q := m.Require(policy.Tighten{Roles: r.RequireRoles, MFA: r.RequireMFA})
	switch q.Action {
	case policy.Deny:
		return decisionForbidden, m.Index, nil
	case policy.Public:
		if r.Token == "" {
			return decisionAnonymous, m.Index, nil
		}
		// Identity headers only for a token that checks out; a bad, revoked or
		// undecidable one passes as anonymous.
		id, reason, _ := v.identify(ctx, r, now, sp)
		if reason != ReasonOK {
			return decisionAnonymous, m.Index, nil
		}
		return Decision{Allow: true, Status: http.StatusOK, Reason: ReasonOK, Identity: id}, m.Index, nil
	}
	id, reason, err := v.identify(ctx, r, now, sp)
	if reason != ReasonOK {
		return deny(reason), m.Index, err
	}
	return v.outcome(q.Check(true, id.Roles(), id.MFA()), id), m.Index, nil
}

// outcome turns the policy's answer for a valid token into a Decision.
func (v *Verifier) outcome(o policy.Outcome, id *Identity) Decision {
	switch o {
	case policy.Allow:
		return Decision{Allow: true, Status: http.StatusOK, Reason: ReasonOK, Identity: id}
	case policy.MissingMFA:
		return Decision{Status: http.StatusUnauthorized, Reason: ReasonMFARequired}
	}
	return decisionForbidden
}
