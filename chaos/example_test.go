package chaos_test

import (
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/chaos"
)

// A push verifier may allow a revoked session for --max-staleness after the
// logout returned; one allowed later is a violation.
func ExampleCheck() {
	logout := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	ops := []chaos.Op{
		{Kind: "use", User: "ada@example.com", Sid: "s1", Class: chaos.Revoked, RevokedAt: logout, Via: "verifier-1",
			Start: logout.Add(400 * time.Millisecond), End: logout.Add(410 * time.Millisecond), Status: 200, Identity: "u1/s1", Want: "u1/s1"},
		{Kind: "use", User: "ada@example.com", Sid: "s1", Class: chaos.Revoked, RevokedAt: logout, Via: "verifier-1",
			Start: logout.Add(1500 * time.Millisecond), End: logout.Add(1510 * time.Millisecond), Status: 200, Identity: "u1/s1", Want: "u1/s1"},
	}
	res := chaos.Check(ops, nil, chaos.Config{Bound: func(string) time.Duration { return time.Second }, Seed: 42})
	for _, v := range res.Violations {
		fmt.Println(v.Rule, "- seed", v.Seed)
	}
	// Output: a session revoked 1.500s before the request was allowed (bound 1s) - seed 42
}
