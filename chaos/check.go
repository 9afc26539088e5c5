package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Class is what the workload knew about a token when it sent it: the truth,
// from the issuer's answers, that the checker holds each answer against.
type Class string

const (
	Live      Class = "live"      // the session's revocations all failed or none was asked; the token is unexpired
	Revoked   Class = "revoked"   // a revocation of the session answered success at RevokedAt
	Uncertain Class = "uncertain" // a call that may have revoked it went unanswered: anything goes
	Forged    Class = "forged"    // bad signature, foreign key, alg none, altered claims
	Expired   Class = "expired"   // a correctly signed token past its exp
	NoToken   Class = "none"      // no credentials at all
)

// Op is one request of the workload and its answer.
type Op struct {
	Seq  int
	Kind string // use, login, refresh, replay, logout, logout-all, disable, login-disabled
	User string // the account's email
	Sid  string // the session, when one is involved
	// Class of the token a use sent (or of the session a call acted on).
	Class     Class
	RevokedAt time.Time // Revoked: when the revoking call returned
	Exp       time.Time // the access token's exp (uses), zero when none
	Via       string    // nginx, verifier-N (direct /auth), issuer (through nginx), cli
	Start     time.Time
	End       time.Time
	Status    int    // HTTP status, or the exit code of a CLI call; 0 when there was no answer
	Err       string // transport error or timeout
	// Identity is the X-Auth-User and X-Auth-Session the application (or the
	// verifier, for direct calls) saw, as "sub/sid"; Want is the token's.
	Identity, Want string
}

func (o Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s via %s user=%s", o.Seq, o.Kind, o.Via, o.User)
	if o.Sid != "" {
		fmt.Fprintf(&b, " sid=%.8s", o.Sid)
	}
	if o.Class != "" {
		fmt.Fprintf(&b, " token=%s", o.Class)
	}
	if !o.RevokedAt.IsZero() {
		fmt.Fprintf(&b, " revoked_at=%s (sent %+.3fs after)", o.RevokedAt.Format("15:04:05.000"), o.Start.Sub(o.RevokedAt).Seconds())
	}
	if !o.Exp.IsZero() {
		fmt.Fprintf(&b, " exp=%s", o.Exp.Format("15:04:05"))
	}
	fmt.Fprintf(&b, " sent=%s took=%v", o.Start.Format("15:04:05.000"), o.End.Sub(o.Start).Round(time.Millisecond))
	if o.Err != "" {
		fmt.Fprintf(&b, " error=%q", o.Err)
	} else {
		fmt.Fprintf(&b, " status=%d", o.Status)
	}
	if o.Identity != "" || o.Want != "" {
		fmt.Fprintf(&b, " identity=%q want=%q", o.Identity, o.Want)
	}
	return b.String()
}

// unavailable reports whether the answer was a refusal to decide: no answer, a
// timeout, or a 5xx.
func (o Op) unavailable() bool { return o.Err != "" || o.Status >= 500 }

// Fault is one fault the schedule injected: in force from Start until End (when
// it was healed: the process restarted, the link restored).
type Fault struct {
	Name       string
	Detail     string // which process, how long, how slow
	Start, End time.Time
}

// Config is what the checker holds the history against.
type Config struct {
	// Bound is how long after a revocation returned a verifier reached via via may
	// still allow the session: 0 for strict, --max-staleness for push.
	Bound func(via string) time.Duration
	// Recovery is the stated bound: full service is back this long after a fault
	// ends. Refusals of live sessions (and issuer failures) are allowed only
	// between a fault's start and its end plus Recovery.
	Recovery time.Duration
	// Leeway is the verifiers' clock skew allowance on exp (--leeway).
	Leeway time.Duration
	Seed   int64
}

// Violation is a broken invariant: the request, the fault in force, the seed.
type Violation struct {
	Rule  string
	Op    Op
	Fault string // the fault whose window held the request, or "none"
	Seed  int64
}

func (v Violation) String() string {
	return fmt.Sprintf("VIOLATION %s\n    request: %s\n    fault in force: %s\n    seed: %d", v.Rule, v.Op, v.Fault, v.Seed)
}

// FaultStats sums up the requests made in the windows of one kind of fault.
type FaultStats struct {
	Name        string
	Occurrences int
	Requests    int
	Errors      map[string]int // "use 503 via verifier-2", "login timeout", …
	// LongestRefusal is the longest span, within one occurrence, from the first
	// refused live-session request's start to the last one's end.
	LongestRefusal time.Duration
	// Recovery is the longest time, over the occurrences, from the fault's end to
	// the end of the last failed request of its window (0: none failed after it).
	Recovery   time.Duration
	Violations int
}

// Result is the checker's verdict.
type Result struct {
	Violations []Violation
	Faults     []*FaultStats // in order of name; "none" is the time outside every window
	Requests   int
}

// Check holds every answer in ops against the truth they carry and the fault
// windows. The invariants:
//   - no request with a revoked session is allowed when it was sent later than the
//     bound of the verifier that answered after the revoking call returned;
//   - no forged, expired or absent token is ever allowed, and an allowed request
//     carries exactly the identity of its token;
//   - a live session is never refused with 401 or 403 (nor a live refresh token,
//     nor an enabled user's password), and a verifier asked directly refuses one
//     only with 503;
//   - refusals of live sessions and issuer failures happen only to requests that
//     overlap a fault's window (its start to its end plus the recovery bound);
//   - a replayed refresh token is never accepted, a disabled user never signs in.
func Check(ops []Op, faults []Fault, cfg Config) Result {
	sort.Slice(faults, func(i, j int) bool { return faults[i].Start.Before(faults[j].Start) })
	res := Result{Requests: len(ops)}
	stats := map[string]*FaultStats{}
	get := func(name string) *FaultStats {
		s := stats[name]
		if s == nil {
			s = &FaultStats{Name: name, Errors: map[string]int{}}
			stats[name] = s
		}
		return s
	}
	get("none")
	for _, f := range faults {
		get(f.Name).Occurrences++
	}
	type occ struct{ firstRefusal, lastRefusal, lastFail time.Time }
	occs := make([]occ, len(faults))

	// window returns the index of the fault whose window the request overlapped
	// (the latest one started), or -1: a request in flight when a fault began may
	// fail by it.
	window := func(o Op) int {
		in := -1
		for i, f := range faults {
			if f.Start.After(o.End) {
				break
			}
			if o.Start.Before(f.End.Add(cfg.Recovery)) {
				in = i
			}
		}
		return in
	}
	for _, o := range ops {
		w := window(o)
		name := "none"
		if w >= 0 {
			name = faults[w].Name
		}
		st := get(name)
		st.Requests++
		violate := func(format string, args ...any) {
			st.Violations++
			res.Violations = append(res.Violations, Violation{Rule: fmt.Sprintf(format, args...), Op: o, Fault: describe(faults, w, o), Seed: cfg.Seed})
		}
		allowed := o.Err == "" && o.Status >= 200 && o.Status < 300
		if !allowed && (o.Err != "" || o.Status >= 400) {
			kind := o.Kind
			if o.Kind == "use" {
				kind = "use " + string(o.Class)
			}
			if o.Err != "" {
				st.Errors[kind+" no answer via "+o.Via]++
			} else {
				st.Errors[fmt.Sprintf("%s %d via %s", kind, o.Status, o.Via)]++
			}
		}
		switch o.Kind {
		case "use":
			switch {
			case allowed && (o.Class == Forged || o.Class == NoToken):
				violate("a %s token was allowed", o.Class)
			case allowed && !o.Exp.IsZero() && o.Start.After(o.Exp.Add(cfg.Leeway)):
				violate("an expired token was allowed")
			case allowed && o.Class == Revoked && o.Start.Sub(o.RevokedAt) > cfg.Bound(o.Via):
				violate("a session revoked %.3fs before the request was allowed (bound %v)", o.Start.Sub(o.RevokedAt).Seconds(), cfg.Bound(o.Via))
			case allowed && o.Identity != o.Want:
				violate("allowed with the wrong identity")
			case o.Class == Live && o.End.Before(o.Exp) && (o.Status == 401 || o.Status == 403):
				violate("a live session was refused with %d", o.Status)
			case o.Class == Live && o.End.Before(o.Exp) && strings.HasPrefix(o.Via, "verifier") && o.Err == "" && o.Status != 503 && !allowed:
				violate("a verifier refused a live session with %d, not 503", o.Status)
			}
			if o.Class == Live && o.End.Before(o.Exp) && o.unavailable() {
				if w < 0 {
					violate("a live session was refused outside every fault window")
				} else {
					oc := &occs[w]
					if oc.firstRefusal.IsZero() {
						oc.firstRefusal = o.Start
					}
					oc.lastRefusal = o.End
				}
			}
		case "login", "refresh", "logout", "logout-all", "disable":
			if o.unavailable() {
				if w < 0 {
					violate("the issuer failed outside every fault window")
				}
			} else if o.Class == Live && (o.Status == 401 || o.Status == 403 || (o.Kind == "disable" && o.Status != 0)) {
				violate("a live session's %s was refused", o.Kind)
			} else if (o.Kind == "logout" || o.Kind == "logout-all") && o.Status != 204 {
				violate("%s answered %d, not 204", o.Kind, o.Status)
			}
		case "replay":
			if allowed {
				violate("a replayed refresh token was accepted")
			}
		case "login-disabled":
			if allowed {
				violate("a disabled user signed in")
			}
		}
		if w >= 0 && o.unavailable() && (o.Class == Live || o.Kind != "use") {
			if o.End.After(occs[w].lastFail) {
				occs[w].lastFail = o.End
			}
		}
	}
	for i, f := range faults {
		st := get(f.Name)
		if d := occs[i].lastRefusal.Sub(occs[i].firstRefusal); !occs[i].firstRefusal.IsZero() && d > st.LongestRefusal {
			st.LongestRefusal = d
		}
		if d := occs[i].lastFail.Sub(f.End); d > st.Recovery {
			st.Recovery = d
		}
	}
	for _, s := range stats {
		res.Faults = append(res.Faults, s)
	}
	sort.Slice(res.Faults, func(i, j int) bool { return res.Faults[i].Name < res.Faults[j].Name })
	return res
}

func describe(faults []Fault, w int, o Op) string {
	if w < 0 {
		// The nearest fault, for the reader.
		near, dist := -1, time.Duration(1<<62)
		for i, f := range faults {
			d := f.Start.Sub(o.End)
			if d < 0 {
				d = o.Start.Sub(f.End)
			}
			if d < dist {
				near, dist = i, d
			}
		}
		if near < 0 {
			return "none"
		}
		return "none; nearest: " + describe(faults, near, o)
	}
	f := faults[w]
	s := fmt.Sprintf("%s (%s) from %s to %s", f.Name, f.Detail, f.Start.Format("15:04:05.000"), f.End.Format("15:04:05.000"))
	return s
}
