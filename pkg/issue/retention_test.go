package issue

import (
	"context"
	"errors"
	"github.com/vexen/vexen-auth/internal/testenv"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexen/vexen-auth/pkg/store"
)

func TestRetentionConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  RetentionConfig
		want string // "" = valid
	}{
		{"defaults", RetentionConfig{}, ""},
		{"window exactly access TTL + margin", RetentionConfig{Window: 75 * time.Minute}, ""},
		{"window too short for the default access TTL", RetentionConfig{Window: 75*time.Minute - time.Second}, "retention-window"},
		{"window too short for a long access TTL", RetentionConfig{Window: 24 * time.Hour, AccessTTL: 24 * time.Hour}, "retention-window"},
		{"negative window", RetentionConfig{Window: -time.Hour}, "retention-window"},
		{"interval too short", RetentionConfig{Interval: time.Millisecond}, "retention-interval"},
		{"negative interval", RetentionConfig{Interval: -time.Hour}, "retention-interval"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "invalid "+tc.want)):
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
		if _, nerr := NewRetention(tc.cfg, RetentionDeps{Store: fakePruner{}.prune(nil)}); (nerr == nil) != (err == nil) {
			t.Errorf("%s: NewRetention error %v, Validate %v", tc.name, nerr, err)
		}
	}
}

// fakePruner answers PruneExpired with a function.
type fakePruner struct {
	fn func(before time.Time) (store.Pruned, error)
}

func (f fakePruner) PruneExpired(_ context.Context, before time.Time) (store.Pruned, error) {
	if f.fn == nil {
		return store.Pruned{}, nil
	}
	return f.fn(before)
}

func (f fakePruner) prune(fn func(time.Time) (store.Pruned, error)) Pruner { return fakePruner{fn: fn} }

// retentionEnv is a Retention over a store with an injected clock, its registry and logs.
type retentionEnv struct {
	r     *Retention
	clock *fakeClock
	reg   *prometheus.Registry
	logs  *testenv.Buffer
}

func newRetentionEnv(t *testing.T, p Pruner, cfg RetentionConfig, clock *fakeClock) *retentionEnv {
	t.Helper()
	e := &retentionEnv{clock: clock, reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	r, err := NewRetention(cfg, RetentionDeps{
		Store: p, Registerer: e.reg, Now: clock.Now,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	return e
}

func (e *retentionEnv) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	return gatherCounter(t, e.reg, name, label, value)
}

func gatherCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRetentionJob drives the job on both real stores with an injected clock: a
// revoked session's rows, its log row included, stay while they may matter (a
// verifier starting then must still see the revocation) and go once they are past
// the window; a live session's rotated token stays for reuse detection; an expired
// session goes.
func TestRetentionJob(t *testing.T) {
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) {
			ctx := context.Background()
			st := rs.open(t)
			e := newEnv(t, st, nil)
			const window = 24 * time.Hour
			job := newRetentionEnv(t, st.(Pruner), RetentionConfig{Window: window}, e.clock)
			log := st.(interface {
				RevocationsAfter(context.Context, int64, int) ([]store.Revocation, error)
			})
			logRows := func() []store.Revocation {
				t.Helper()
				rows, err := log.RevocationsAfter(ctx, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				return rows
			}
			e.addUser("keep@example.com", "keep-passw")

			// Expires untouched: logged in at t0, refresh TTL 720h.
			idle := e.login("keep@example.com", "keep-passw")
			// Live and refreshed: its first refresh token is rotated, must stay.
			live := e.login("keep@example.com", "keep-passw")
			e.clock.Advance(time.Minute)
			liveNext := decodePair(t, e.post("/v1/refresh", refreshBody(live.RefreshToken)))
			// Revoked at t0+2m, right after a refresh: its last access token expires
			// at t0+17m.
			gone := e.login("keep@example.com", "keep-passw")
			e.clock.Advance(time.Minute)
			goneNext := decodePair(t, e.post("/v1/refresh", refreshBody(gone.RefreshToken)))
			if err := e.svc.LogoutAccess(ctx, goneNext.AccessToken); err != nil {
				t.Fatal(err)
			}
			revokedAt := e.clock.Now()
			lastAccessExp := revokedAt.Add(e.svc.Config().AccessTTL)
			goneSID := sidOf(t, e, goneNext.AccessToken)
			if rows := logRows(); len(rows) != 1 || rows[0].SessionID != goneSID {
				t.Fatalf("log = %+v, want the revoked session's row", rows)
			}

			// Until window after its last access token expired, the session and its
			// log row stay: a verifier starting at any moment of that time loads the
			// row. (Its first pair, whose access token expired a minute earlier, goes
			// a minute earlier.)
			var tokens int64
			for _, at := range []time.Time{revokedAt, revokedAt.Add(window), lastAccessExp.Add(window)} {
				e.clock.Advance(at.Sub(e.clock.Now()))
				p, err := job.r.RunOnce(ctx)
				if err != nil || p.Sessions != 0 || p.Revocations != 0 {
					t.Fatalf("run at revocation + %v = %+v, %v; want no session, no log row pruned", at.Sub(revokedAt), p, err)
				}
				tokens += p.Tokens
				if rows := logRows(); len(rows) != 1 {
					t.Fatalf("log row gone at revocation + %v", at.Sub(revokedAt))
				}
				if _, err := st.SessionState(ctx, goneSID); err != nil {
					t.Fatalf("session gone at revocation + %v: %v", at.Sub(revokedAt), err)
				}
			}
			if tokens != 1 {
				t.Errorf("%d pairs pruned before the last access token expired + window, want 1 (the first)", tokens)
			}
			// Past it, the revoked session goes: its last pair, the session, the log row.
			e.clock.Advance(time.Microsecond)
			p, err := job.r.RunOnce(ctx)
			if err != nil || p != (store.Pruned{Tokens: 1, Sessions: 1, Revocations: 1}) {
				t.Fatalf("run past the window = %+v, %v; want 1 pair, 1 session, 1 log row", p, err)
			}
			if rows := logRows(); len(rows) != 0 {
				t.Errorf("log = %+v after the window, want empty", rows)
			}
			if _, err := st.SessionState(ctx, goneSID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("pruned session: %v, want ErrNotFound", err)
			}
			// A pruned token is refused like any unknown one.
			wantError(t, e.post("/v1/refresh", refreshBody(goneNext.RefreshToken)), 401, "invalid_grant")

			// The live session's rotated token is still there: replaying it is caught.
			wantError(t, e.post("/v1/refresh", refreshBody(live.RefreshToken)), 401, "invalid_grant")
			if st, err := st.SessionState(ctx, sidOf(t, e, liveNext.AccessToken)); err != nil || st.RevokedAt.IsZero() {
				t.Errorf("replaying a rotated token after pruning did not revoke the session: %+v, %v", st, err)
			}

			// The idle session expires at t0+720h and goes window later.
			idleSID := sidOf(t, e, idle.AccessToken)
			e.clock.Advance(t0.Add(720*time.Hour + window).Sub(e.clock.Now()))
			// (The session revoked by the replay above goes now, a window after it.)
			if p, err := job.r.RunOnce(ctx); err != nil || p != (store.Pruned{Tokens: 2, Sessions: 1, Revocations: 1}) {
				t.Fatalf("run at the idle session's expiry + window = %+v, %v; want the replayed session's rows", p, err)
			}
			if _, err := st.SessionState(ctx, idleSID); err != nil {
				t.Fatalf("idle session pruned at its expiry + window: %v", err)
			}
			e.clock.Advance(time.Second)
			if p, err := job.r.RunOnce(ctx); err != nil || p != (store.Pruned{Tokens: 1, Sessions: 1}) {
				t.Fatalf("run past the idle session's expiry + window = %+v, %v; want its pair and itself", p, err)
			}
			if _, err := st.SessionState(ctx, idleSID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("expired session after the window: %v, want ErrNotFound", err)
			}

			if got := job.counter(t, "vexen_issuer_retention_runs_total", "result", "ok"); got != 6 {
				t.Errorf("runs_total{ok} = %v, want 6", got)
			}
			for kind, want := range map[string]float64{"refresh_tokens": 5, "sessions": 3, "revocations": 2} {
				if got := job.counter(t, "vexen_issuer_retention_pruned_total", "kind", kind); got != want {
					t.Errorf("pruned_total{%s} = %v, want %v", kind, got, want)
				}
			}
			if n := strings.Count(job.logs.String(), `"msg":"retention: pruned"`); n != 6 {
				t.Errorf("%d Info lines for 6 runs:\n%s", n, job.logs)
			}
		})
	}
}

func sidOf(t *testing.T, e *env, accessToken string) string {
	t.Helper()
	c, err := e.svc.VerifyAccessToken(accessToken, true)
	if err != nil {
		t.Fatal(err)
	}
	return c.SessionID
}

// TestRetentionResults: skipped and failed runs are counted and logged apart, a
// failed run's partial counts are kept, and the cutoff is now minus the window.
func TestRetentionResults(t *testing.T) {
	clock := newFakeClock()
	var gotBefore time.Time
	answers := []struct {
		p   store.Pruned
		err error
	}{
		{store.Pruned{Skipped: true}, nil},
		{store.Pruned{Tokens: 7}, errors.New("connection reset")},
		{store.Pruned{Tokens: 3, Sessions: 2, Revocations: 1}, nil},
	}
	i := 0
	e := newRetentionEnv(t, fakePruner{}.prune(func(before time.Time) (store.Pruned, error) {
		gotBefore = before
		a := answers[i]
		i++
		return a.p, a.err
	}), RetentionConfig{Window: 2 * time.Hour}, clock)

	if _, err := e.r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !gotBefore.Equal(t0.Add(-2 * time.Hour)) {
		t.Errorf("cutoff = %v, want now - window = %v", gotBefore, t0.Add(-2*time.Hour))
	}
	if _, err := e.r.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("failed run: %v", err)
	}
	if _, err := e.r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"vexen_issuer_retention_runs_total", "result", "skipped", 1},
		{"vexen_issuer_retention_runs_total", "result", "error", 1},
		{"vexen_issuer_retention_runs_total", "result", "ok", 1},
		{"vexen_issuer_retention_pruned_total", "kind", "refresh_tokens", 10},
		{"vexen_issuer_retention_pruned_total", "kind", "sessions", 2},
		{"vexen_issuer_retention_pruned_total", "kind", "revocations", 1},
	} {
		if got := e.counter(t, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
	logs := e.logs.String()
	for _, want := range []string{
		`"level":"INFO","msg":"retention: skipped, another issuer is pruning"`,
		`"level":"WARN","msg":"retention: prune failed; will retry next run"`,
		`"level":"INFO","msg":"retention: pruned","refresh_tokens":3,"sessions":2,"revocations":1`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "\n"); n != 3 {
		t.Errorf("%d log lines for 3 runs:\n%s", n, logs)
	}
}

// TestRetentionRun: Run prunes at once, then every interval, and returns when its
// context ends.
func TestRetentionRun(t *testing.T) {
	var (
		mu    sync.Mutex
		calls int
	)
	e := newRetentionEnv(t, fakePruner{}.prune(func(time.Time) (store.Pruned, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return store.Pruned{}, nil
	}), RetentionConfig{Interval: MinRetentionInterval}, newFakeClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs after 10s with a 1s interval", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
