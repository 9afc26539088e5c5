package chaos

import (
	"strings"
	"testing"
	"time"
)

// TestCheck feeds the checker histories that break each invariant, and ones that
// keep them: it must tell them apart.
func TestCheck(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	exp := at(100)
	faults := []Fault{{Name: "redis-pause", Start: at(10), End: at(13)}}
	cfg := Config{
		Bound: func(via string) time.Duration {
			if via == "verifier-3" {
				return 0
			}
			return time.Second
		},
		Recovery: 5 * time.Second, Leeway: time.Second, Seed: 7,
	}
	use := func(class Class, via string, start float64, status int) Op {
		o := Op{Kind: "use", User: "u@x", Sid: "s1", Class: class, Exp: exp, Via: via, Start: at(start), End: at(start + 0.01), Status: status, Want: "sub/s1"}
		if status == 200 {
			o.Identity = "sub/s1"
		}
		if class == Revoked {
			o.RevokedAt = at(1)
		}
		return o
	}
	cases := []struct {
		name string
		op   Op
		want string // "" = no violation
	}{
		{"live allowed", use(Live, "nginx", 2, 200), ""},
		{"revoked allowed within the push bound", use(Revoked, "nginx", 1.5, 200), ""},
		{"revoked allowed after the push bound", use(Revoked, "nginx", 2.5, 200), "revoked"},
		{"revoked allowed by a strict verifier after the call returned", use(Revoked, "verifier-3", 1.001, 200), "revoked"},
		{"revoked refused", use(Revoked, "verifier-3", 1.001, 401), ""},
		{"forged allowed", use(Forged, "nginx", 2, 200), "forged"},
		{"no token allowed", use(NoToken, "verifier-1", 2, 200), "none"},
		{"expired allowed", func() Op { o := use(Live, "nginx", 102, 200); return o }(), "expired"},
		{"expired allowed within the leeway", func() Op { o := use(Live, "nginx", 100.5, 200); return o }(), ""},
		{"live refused with 401", use(Live, "nginx", 2, 401), "live session was refused with 401"},
		{"live refused with 403", use(Live, "verifier-1", 2, 403), "live session was refused with 403"},
		{"live 503 in a fault window", use(Live, "verifier-1", 11, 503), ""},
		{"live 503 in the recovery after it", use(Live, "verifier-1", 17, 503), ""},
		{"live 503 outside every window", use(Live, "verifier-1", 30, 503), "outside every fault window"},
		{"live 503 in flight when the fault began", func() Op { o := use(Live, "nginx", 9.9, 500); o.End = at(10.05); return o }(), ""},
		{"live 503 that ended before the fault began", use(Live, "nginx", 9.9, 500), "outside every fault window"},
		{"live 500 from a verifier", use(Live, "verifier-2", 11, 500), "not 503"},
		{"live 500 from nginx in a window", use(Live, "nginx", 11, 500), ""},
		{"allowed as someone else", func() Op { o := use(Live, "nginx", 2, 200); o.Identity = "other/s9"; return o }(), "wrong identity"},
		{"uncertain allowed", use(Uncertain, "nginx", 50, 200), ""},
		{"replay accepted", Op{Kind: "replay", Via: "issuer", Start: at(2), End: at(2), Status: 200}, "replayed"},
		{"replay refused", Op{Kind: "replay", Via: "issuer", Start: at(2), End: at(2), Status: 401}, ""},
		{"login failing outside a window", Op{Kind: "login", Class: Live, Via: "issuer", Start: at(40), End: at(41), Err: "timeout"}, "issuer failed"},
		{"login refused for a live user", Op{Kind: "login", Class: Live, Via: "issuer", Start: at(40), End: at(41), Status: 401}, "refused"},
		{"logout answering 400", Op{Kind: "logout", Class: Live, Via: "issuer", Start: at(40), End: at(41), Status: 400}, "not 204"},
		{"disabled user signing in", Op{Kind: "login-disabled", Via: "issuer", Start: at(40), End: at(41), Status: 200}, "disabled user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Check([]Op{c.op}, append([]Fault(nil), faults...), cfg)
			switch {
			case c.want == "" && len(res.Violations) > 0:
				t.Fatalf("unexpected violation: %v", res.Violations[0])
			case c.want != "" && len(res.Violations) != 1:
				t.Fatalf("want one violation about %q, got %v", c.want, res.Violations)
			case c.want != "" && !strings.Contains(res.Violations[0].Rule, c.want):
				t.Fatalf("violation %q, want one about %q", res.Violations[0].Rule, c.want)
			case c.want != "" && res.Violations[0].Seed != 7:
				t.Fatalf("violation without the seed: %v", res.Violations[0])
			}
		})
	}
}

// TestCheckFaultStats checks the per-fault numbers of the report: the refusal
// window and the recovery time.
func TestCheckFaultStats(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	exp := at(100)
	ops := []Op{
		{Kind: "use", Class: Live, Exp: exp, Via: "verifier-1", Start: at(11), End: at(11.1), Status: 503},
		{Kind: "use", Class: Live, Exp: exp, Via: "nginx", Start: at(12), End: at(14.5), Err: "timeout"},
		{Kind: "use", Class: Live, Exp: exp, Via: "nginx", Start: at(15), End: at(15.1), Status: 200},
		{Kind: "use", Class: Forged, Via: "nginx", Start: at(40), End: at(40.1), Status: 401},
	}
	res := Check(ops, []Fault{{Name: "postgres-stop", Start: at(10), End: at(13)}}, Config{Bound: func(string) time.Duration { return 0 }, Recovery: 5 * time.Second})
	if len(res.Violations) != 0 {
		t.Fatalf("violations: %v", res.Violations)
	}
	var pg, none *FaultStats
	for _, s := range res.Faults {
		switch s.Name {
		case "postgres-stop":
			pg = s
		case "none":
			none = s
		}
	}
	if pg == nil || pg.Requests != 3 || pg.Occurrences != 1 {
		t.Fatalf("postgres-stop stats %+v", pg)
	}
	if pg.LongestRefusal != 3500*time.Millisecond {
		t.Errorf("longest refusal %v, want 3.5s (11s to 14.5s)", pg.LongestRefusal)
	}
	if pg.Recovery != 1500*time.Millisecond {
		t.Errorf("recovery %v, want 1.5s (end 13s, last failure ended 14.5s)", pg.Recovery)
	}
	if none == nil || none.Requests != 1 || none.Errors["use forged 401 via nginx"] != 1 {
		t.Errorf("steady-state stats %+v", none)
	}
}
