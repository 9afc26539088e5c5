package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	mrand "math/rand"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	duration = flag.Duration("chaos.duration", 20*time.Second, "how long the workload runs while faults are injected (make chaos: minutes)")
	seedFlag = flag.Int64("chaos.seed", 0, "seed of the fault schedule and the workload; 0 = from the clock (printed)")
	users    = flag.Int("chaos.users", 10, "simulated users at once")
	report   = flag.String("chaos.report", "", "write the Markdown report (docs/reliability.md) here")
	recovery = flag.Duration("chaos.recovery", 10*time.Second, "stated bound: full service is back this long after a fault ends")
)

const maxStale = time.Second

// fault is one kind of fault: inject holds it for about hold, then heals it.
type fault struct {
	name   string
	inject func(t *testing.T, c *cluster, rng *mrand.Rand, hold time.Duration) (detail string)
}

var faults = []fault{
	{"redis-restart-empty", func(t *testing.T, c *cluster, _ *mrand.Rand, hold time.Duration) string {
		c.redis.Stop(t)
		time.Sleep(hold)
		c.redis.Start(t)
		return "SIGKILL, restarted empty after " + hold.String()
	}},
	{"redis-flushall", func(t *testing.T, c *cluster, _ *mrand.Rand, _ time.Duration) string {
		if err := c.redis.Client.FlushAll(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHALL: %v", err)
		}
		return "FLUSHALL"
	}},
	{"redis-pause", func(t *testing.T, c *cluster, _ *mrand.Rand, hold time.Duration) string {
		if hold < 3*maxStale {
			hold = 3 * maxStale // longer than --max-staleness
		}
		if err := c.redis.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(hold)
		if err := c.redis.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		return "SIGSTOP for " + hold.String()
	}},
	{"redis-slow", func(t *testing.T, c *cluster, rng *mrand.Rand, hold time.Duration) string {
		d := time.Duration(50+rng.Intn(250)) * time.Millisecond
		c.redisProxy.SetDelay(d)
		time.Sleep(hold)
		c.redisProxy.SetDelay(0)
		return fmt.Sprintf("+%v per packet for %v", d, hold)
	}},
	{"redis-cut", func(t *testing.T, c *cluster, _ *mrand.Rand, hold time.Duration) string {
		c.redisProxy.Cut()
		time.Sleep(hold)
		c.redisProxy.Restore()
		return "connections cut and refused for " + hold.String()
	}},
	{"postgres-slow", func(t *testing.T, c *cluster, rng *mrand.Rand, hold time.Duration) string {
		d := time.Duration(50+rng.Intn(200)) * time.Millisecond
		c.pgProxy.SetDelay(d)
		time.Sleep(hold)
		c.pgProxy.SetDelay(0)
		return fmt.Sprintf("+%v per packet for %v", d, hold)
	}},
	{"postgres-cut", func(t *testing.T, c *cluster, _ *mrand.Rand, hold time.Duration) string {
		c.pgProxy.Cut()
		time.Sleep(hold)
		c.pgProxy.Restore()
		return "connections cut and refused for " + hold.String()
	}},
	{"postgres-stop", func(t *testing.T, c *cluster, _ *mrand.Rand, hold time.Duration) string {
		c.pg.Stop(t)
		time.Sleep(hold)
		c.pg.Start(t)
		return "pg_ctl stop -m immediate, started after " + hold.String()
	}},
	{"verifier-kill", func(t *testing.T, c *cluster, rng *mrand.Rand, hold time.Duration) string {
		i := rng.Intn(len(c.verifiers))
		c.verifiers[i].kill()
		time.Sleep(hold)
		c.restart(t, c.verifiers[i], "http://"+c.verifierAddrs[i]+"/readyz")
		return fmt.Sprintf("%s (%s) SIGKILL, restarted after %v", c.verifiers[i].name, c.verifierModes[i], hold)
	}},
	{"issuer-kill", func(t *testing.T, c *cluster, rng *mrand.Rand, hold time.Duration) string {
		i := rng.Intn(len(c.issuers))
		c.issuers[i].kill()
		time.Sleep(hold)
		c.restart(t, c.issuers[i], "http://"+c.issuerAddrs[i]+"/readyz")
		return fmt.Sprintf("%s SIGKILL, restarted after %v", c.issuers[i].name, hold)
	}},
	{"key-rotation", func(t *testing.T, c *cluster, _ *mrand.Rand, _ time.Duration) string {
		if out, err := c.cli("keys", "rotate"); err != nil {
			t.Fatalf("issuer keys rotate: %v\n%s", err, out)
		}
		return "issuer keys rotate"
	}},
	{"policy-reload", func(t *testing.T, c *cluster, _ *mrand.Rand, _ time.Duration) string {
		b, _ := os.ReadFile(c.policyFile)
		next := policyB
		if string(b) == policyB {
			next = policyA
		}
		tmp := c.policyFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(next), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, c.policyFile); err != nil {
			t.Fatal(err)
		}
		for _, v := range c.verifiers {
			_ = v.signal(syscall.SIGHUP)
		}
		return "policy file replaced, SIGHUP"
	}},
}

// TestChaos runs the workload against the cluster while the schedule injects
// faults, then checks the history. go test runs the short form (20 s);
// `make chaos` runs it for minutes and writes docs/reliability.md.
func TestChaos(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_007
	}
	t.Logf("chaos: seed %d (replay: -chaos.seed=%d), %v, %d users", seed, seed, *duration, *users)
	t0 := time.Now()
	c := startCluster(t, maxStale)
	t.Logf("chaos: cluster up in %v", time.Since(t0).Round(time.Millisecond))
	w := newWorkload(c, seed)
	// The users exist before the clock starts.
	accounts := make([]*account, *users)
	var aw sync.WaitGroup
	for i := range accounts {
		aw.Add(1)
		go func(i int) {
			defer aw.Done()
			a, err := w.newAccount()
			if err != nil {
				t.Errorf("chaos: %v", err)
			}
			accounts[i] = a
		}(i)
	}
	aw.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("chaos: %d users added in %v", *users, time.Since(t0).Round(time.Millisecond))
	rng := mrand.New(mrand.NewSource(seed))

	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < *users; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w.run(ctx, i, accounts[i])
		}(i)
	}

	// The schedule: every kind of fault in turn, in an order drawn from the seed,
	// each held for a drawn time, with a drawn quiet gap after it.
	short := *duration < 2*time.Minute
	holdMin, holdSpan, gapMin, gapSpan := 2*time.Second, 6*time.Second, 4*time.Second, 8*time.Second
	if short {
		holdMin, holdSpan, gapMin, gapSpan = 500*time.Millisecond, time.Second, 1500*time.Millisecond, time.Second
	}
	var injected []Fault
	time.Sleep(gapMin)
	end := started.Add(*duration)
	for time.Now().Before(end) {
		for _, i := range rng.Perm(len(faults)) {
			if time.Now().Add(holdMin).After(end) {
				break
			}
			f := faults[i]
			hold := holdMin + time.Duration(rng.Int63n(int64(holdSpan)))
			start := time.Now()
			detail := f.inject(t, c, rng, hold)
			injected = append(injected, Fault{Name: f.name, Detail: detail, Start: start, End: time.Now()})
			t.Logf("chaos: %6.1fs %s: %s", start.Sub(started).Seconds(), f.name, detail)
			time.Sleep(gapMin + time.Duration(rng.Int63n(int64(gapSpan))))
		}
	}
	cancel()
	wg.Wait()
	ran := time.Since(started)

	// The end: every fault healed a recovery bound ago at most. Every session
	// whose revocation answered success is revoked in the store, every verifier
	// refuses its unexpired tokens and allows every live session's.
	if n := len(injected); n > 0 {
		if wait := time.Until(injected[n-1].End.Add(*recovery / 2)); wait > 0 {
			time.Sleep(wait)
		}
	}
	t1 := time.Now()
	storeViolations := finalChecks(t, c, w)
	t.Logf("chaos: final checks in %v", time.Since(t1).Round(time.Millisecond))

	res := Check(w.rec.history(), injected, Config{
		Bound: func(via string) time.Duration {
			for i, m := range c.verifierModes {
				if via == fmt.Sprintf("verifier-%d", i+1) && m == "strict" {
					return 0
				}
			}
			return maxStale
		},
		Recovery: *recovery, Leeway: time.Second, Seed: seed,
	})
	res.Violations = append(res.Violations, storeViolations...)
	c.crashMu.Lock()
	for _, cr := range c.crashes {
		res.Violations = append(res.Violations, Violation{Rule: "a process crashed: " + cr, Fault: "see time", Seed: seed})
	}
	c.crashMu.Unlock()

	for _, s := range res.Faults {
		t.Logf("chaos: %-20s x%-2d requests %6d  longest refusal %-8v recovery %-8v violations %d", s.Name, s.Occurrences, s.Requests, s.LongestRefusal.Round(time.Millisecond), s.Recovery.Round(time.Millisecond), s.Violations)
	}
	if *report != "" {
		var modes []string
		for i, m := range c.verifierModes {
			modes = append(modes, fmt.Sprintf("verifier-%d %s", i+1, m))
		}
		// The hand-written tail (from keptMarker on: the defects found) survives a new run.
		var kept string
		if old, err := os.ReadFile(*report); err == nil {
			if i := strings.Index(string(old), keptMarker); i >= 0 {
				kept = string(old[i:])
			}
		}
		f, err := os.Create(*report)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteReport(f, Run{Seed: seed, Duration: ran.Round(time.Second), Users: *users, Verifiers: modes, MaxStale: maxStale,
			Recovery: *recovery, Faults: injected, Started: started}, res); err != nil {
			t.Fatal(err)
		}
		if kept != "" {
			if _, err := io.WriteString(f, "\n"+kept); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("chaos: report written to %s", *report)
	}
	for i, v := range res.Violations {
		if i == 30 {
			t.Errorf("… and %d more violations", len(res.Violations)-30)
			break
		}
		t.Error(v)
	}
	t.Logf("chaos: %d requests, %d faults, %d violations, seed %d", res.Requests, len(injected), len(res.Violations), seed)
}

// finalChecks asks the store and every verifier about every session once the
// faults are over; requests go into the history.
func finalChecks(t *testing.T, c *cluster, w *workload) []Violation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.pg.URL)
	if err != nil {
		t.Fatalf("final check: store: %v", err)
	}
	defer conn.Close(context.Background())
	var out []Violation
	w.mu.Lock()
	all := append([]*session(nil), w.all...)
	w.mu.Unlock()
	a := &account{email: "final-check"}
	for _, s := range all {
		if s.revokedAt.IsZero() {
			continue
		}
		var revokedAt *time.Time
		if err := conn.QueryRow(ctx, "SELECT revoked_at FROM sessions WHERE id = $1", s.sid).Scan(&revokedAt); err != nil || revokedAt == nil {
			out = append(out, Violation{Rule: fmt.Sprintf("a revocation that answered success is not in the store (%v)", err),
				Op: Op{Kind: "store read", Via: "postgres", Sid: s.sid, RevokedAt: s.revokedAt, Start: s.revokedAt, End: s.revokedAt}, Fault: "none (end of run)"})
		}
	}
	n := 0
	for _, s := range all {
		if s.uncertain || time.Until(s.exp) < 3*time.Second || n > 300 {
			continue
		}
		n++
		for i := range c.verifiers {
			w.useVia(fmt.Sprintf("verifier-%d", i+1), a, s, s.access, s.class(time.Now()), s.exp)
		}
		w.useVia("nginx", a, s, s.access, s.class(time.Now()), s.exp)
	}
	t.Logf("chaos: final checks: %d sessions in the store, %d asked of every verifier", len(all), n)
	return out
}

func init() {
	// Keep the fault names unique: the report groups by them.
	seen := map[string]bool{}
	for _, f := range faults {
		if seen[f.name] || strings.TrimSpace(f.name) == "" {
			panic("chaos: duplicate fault " + f.name)
		}
		seen[f.name] = true
	}
}

// keptMarker starts the hand-written tail of docs/reliability.md that a new
// `make chaos` run keeps below the generated report.
const keptMarker = "---\n*Not generated"
