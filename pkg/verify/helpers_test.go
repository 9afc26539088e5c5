package verify

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"

	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/verify/verifytest"
)

// clock is an injected clock the test moves by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fixture is a verifier with a JWKS server, a minter, fake store and (optionally)
// fake Redis, all on an injected clock.
type fixture struct {
	t        testing.TB
	clock    *clock
	key      *verifytest.Key
	jwks     *verifytest.JWKSServer
	mint     *verifytest.Minter
	sessions *verifytest.Sessions
	shared   *verifytest.Shared
	reg      *prometheus.Registry
	audit    audit.Recorder       // Deps.Audit
	tp       trace.TracerProvider // Deps.TracerProvider
	cfg      Config
	v        *Verifier
	verifies atomic.Int64
	stop     func()
}

type fixtureOption func(*fixture)

func withAudit(r audit.Recorder) fixtureOption { return func(f *fixture) { f.audit = r } }
func withTracer(tp trace.TracerProvider) fixtureOption {
	return func(f *fixture) { f.tp = tp }
}

// withFirstSight lets never-seen tokens be decided from the revocation window
// (the default outside tests).
func withFirstSight() fixtureOption {
	return func(f *fixture) { f.cfg.FirstSightSessionCheck = false }
}

func withRedis() fixtureOption { return func(f *fixture) { f.shared = verifytest.NewShared() } }
func withConfig(fn func(*Config)) fixtureOption {
	return func(f *fixture) { fn(&f.cfg) }
}

// newFixture builds and starts a verifier and waits until its keys are loaded and
// its revocation feed is running.
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), sessions: verifytest.NewSessions(), reg: prometheus.NewRegistry()}
	f.key = verifytest.NewKey(t, jwa.ES256)
	f.jwks = verifytest.NewJWKSServer(t, f.key)
	f.mint = &verifytest.Minter{Key: f.key, Now: f.clock.Now}
	f.cfg = DefaultConfig()
	f.cfg.JWKSURL = f.jwks.URL()
	// Most tests here are about the miss path's Redis and store calls, set up with
	// session states the fake log does not hold: first-sight decisions are tested
	// on their own (withFirstSight).
	f.cfg.FirstSightSessionCheck = true
	for _, o := range opts {
		o(f)
	}
	f.start()
	return f
}

func (f *fixture) start() {
	t := f.t
	t.Helper()
	d := Deps{Sessions: f.sessions, Registerer: f.reg, Now: f.clock.Now, Audit: f.audit, TracerProvider: f.tp}
	if f.shared != nil {
		d.Shared = f.shared
	}
	ctx, cancel := context.WithCancel(context.Background())
	v, err := New(ctx, f.cfg, d)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	v.hooks.verify = func() { f.verifies.Add(1) }
	f.v = v
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := v.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	f.stop = func() { cancel(); <-done }
	t.Cleanup(f.stop)
	waitFor(t, "keys loaded and revocation log read", func() bool {
		f.v.rev.mu.Lock()
		ready := f.v.rev.ready
		f.v.rev.mu.Unlock()
		return ready && f.v.keys.current() != nil && f.v.running.Load()
	})
	if f.shared != nil {
		f.shared.WaitSubscribed(t, 1)
	}
}

// sibling starts another verifier on the same store, Redis, keys and clock: one
// started after what the test did so far. Feed operations (Publish, Pong…) go to
// either verifier: tests that use sibling do not send them afterwards.
func (f *fixture) sibling(t testing.TB) *fixture {
	t.Helper()
	g := &fixture{t: t, clock: f.clock, key: f.key, jwks: f.jwks, mint: f.mint,
		sessions: f.sessions, shared: f.shared, reg: prometheus.NewRegistry(), cfg: f.cfg}
	g.start()
	return g
}

// token mints a token for a live session (added to the fake store).
func (f *fixture) token(sid, uid string, roles ...string) string {
	f.t.Helper()
	f.sessions.Add(sid, uid, f.clock.Now().Add(24*time.Hour))
	return f.mint.Mint(f.t, verifytest.Claims{Subject: uid, SessionID: sid, Roles: roles})
}

func (f *fixture) decide(tok string) (Decision, error) {
	f.t.Helper()
	return f.v.Decide(context.Background(), &Request{Method: http.MethodGet, Host: "app.example.com", Path: "/", Token: tok, Source: SourceHeader})
}

func (f *fixture) mustAllow(tok string) *Identity {
	f.t.Helper()
	d, err := f.decide(tok)
	if err != nil || !d.Allow || d.Status != http.StatusOK || d.Identity == nil {
		f.t.Fatalf("decision = %+v, %v; want allow", d, err)
	}
	return d.Identity
}

func (f *fixture) mustDeny(tok string, want Reason) {
	f.t.Helper()
	d, err := f.decide(tok)
	if err != nil || d.Allow || d.Reason != want {
		f.t.Fatalf("decision = %+v (reason %v), %v; want deny %v", d, d.Reason, err, want)
	}
}

// waitFor polls cond (real time) for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// metricValue returns the value of the metric name with the given labels.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, want := range labels {
				if labelOf(m, k) != want {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
