package rediscache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// call is one FeedHandler call, in the order it was made.
type call struct {
	kind  byte // 'S'ubscribed, 'E'vent, 'F'resh, 'D'own
	ev    rediscache.Event
	fresh time.Time
	err   error
}

// recorder is a FeedHandler that logs its calls and checks they come from one
// goroutine at a time.
type recorder struct {
	mu     sync.Mutex
	calls  []call
	inCall bool
	t      *testing.T
	// onSubscribed, when set, runs inside Subscribed (the catch-up hook).
	onSubscribed func(ctx context.Context)
}

func (r *recorder) add(c call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) enter() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inCall {
		r.t.Error("FeedHandler called concurrently")
	}
	r.inCall = true
}

func (r *recorder) leave() {
	r.mu.Lock()
	r.inCall = false
	r.mu.Unlock()
}

func (r *recorder) Subscribed(ctx context.Context) {
	r.enter()
	defer r.leave()
	if r.onSubscribed != nil {
		r.onSubscribed(ctx)
	}
	r.add(call{kind: 'S'})
}
func (r *recorder) Event(ev rediscache.Event) {
	r.enter()
	defer r.leave()
	r.add(call{kind: 'E', ev: ev})
}

func (r *recorder) Fresh(at time.Time) {
	r.enter()
	defer r.leave()
	r.add(call{kind: 'F', fresh: at})
}

func (r *recorder) Down(err error) {
	r.enter()
	defer r.leave()
	r.add(call{kind: 'D', err: err})
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) count(kind byte) int {
	n := 0
	for _, c := range r.snapshot() {
		if c.kind == kind {
			n++
		}
	}
	return n
}

func (r *recorder) seqs() []int64 {
	var s []int64
	for _, c := range r.snapshot() {
		if c.kind == 'E' {
			s = append(s, c.ev.Seq)
		}
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOrder enforces the handler contract over a whole run: Subscribed comes first,
// and after a Down neither an Event nor a Fresh arrives before the next Subscribed;
// sentAt values reported to Fresh strictly increase.
func checkOrder(t *testing.T, calls []call) {
	t.Helper()
	up := false
	var lastFresh time.Time
	for i, c := range calls {
		switch c.kind {
		case 'S':
			up = true
		case 'D':
			up = false
		case 'E', 'F':
			if !up {
				t.Errorf("call %d (%c) while not subscribed: %s", i, c.kind, kinds(calls))
			}
			if c.kind == 'F' {
				if !c.fresh.After(lastFresh) {
					t.Errorf("call %d: Fresh(%v) not after previous Fresh(%v)", i, c.fresh, lastFresh)
				}
				lastFresh = c.fresh
			}
		}
	}
}

func kinds(calls []call) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteByte(c.kind)
	}
	return b.String()
}

// startFeed runs RunFeed in a goroutine; stop cancels it and fails the test unless it
// returns nil promptly.
func startFeed(t *testing.T, c *rediscache.Cache, h rediscache.FeedHandler, every time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunFeed(ctx, h, every) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("RunFeed returned %v, want nil", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("RunFeed did not return within 3s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func throwaway(t *testing.T, prefix string, opts ...func(*rediscache.Options)) (*testenv.Redis, *rediscache.Cache, *prometheus.Registry, *testenv.Buffer) {
	t.Helper()
	srv := testenv.StartRedis(t)
	rdb, err := rediscache.Open(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	logs := &testenv.Buffer{}
	o := rediscache.Options{
		Prefix:     prefix,
		Registerer: reg,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range opts {
		f(&o)
	}
	c := rediscache.New(rdb, o)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return srv, c, reg, logs
}

func revocation(seq int64) store.Revocation {
	return store.Revocation{Seq: seq, SessionID: fmt.Sprintf("s%d", seq), UserID: "u1", Reason: store.ReasonLogout, At: time.Unix(1700000000, seq)}
}

// numSubscribers counts the server's connections in subscribed mode.
func numSubscribers(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	list, err := rdb.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " sub=1") {
			n++
		}
	}
	return n
}

func TestRunFeedDeliversReconnectsAndStops(t *testing.T) {
	srv, c, reg, _ := throwaway(t, "feed:")
	ctx := context.Background()
	baseline := runtime.NumGoroutine()

	var catchUps atomic.Int32
	rec := &recorder{t: t, onSubscribed: func(context.Context) { catchUps.Add(1) }}
	stop := startFeed(t, c, rec, 20*time.Millisecond)

	waitFor(t, "Subscribed", 5*time.Second, func() bool { return rec.count('S') == 1 })
	for seq := int64(1); seq <= 3; seq++ {
		if err := c.Publish(ctx, revocation(seq)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 events", 5*time.Second, func() bool { return len(rec.seqs()) == 3 })
	waitFor(t, "Fresh", 5*time.Second, func() bool { return rec.count('F') >= 3 })
	for i, c := range rec.snapshot() {
		if c.kind == 'E' {
			if want := revocation(c.ev.Seq); c.ev != (rediscache.Event{Seq: want.Seq, SessionID: want.SessionID, UserID: "u1", Reason: "logout", At: want.At.UnixNano()}) {
				t.Errorf("call %d: event %+v", i, c.ev)
			}
		}
	}

	// A Fresh(sentAt) after an event's publication covers it: the publish of seq 4
	// returns before the PING whose answer is awaited here is sent.
	if err := c.Publish(ctx, revocation(4)); err != nil {
		t.Fatal(err)
	}
	published := time.Now()
	waitFor(t, "Fresh after publish", 5*time.Second, func() bool {
		for _, c := range rec.snapshot() {
			if c.kind == 'F' && c.fresh.After(published) {
				return true
			}
		}
		return false
	})
	if got := rec.seqs(); len(got) != 4 || got[3] != 4 {
		t.Fatalf("Fresh(sentAt > publish) reported before event 4 was delivered: %v", got)
	}

	srv.Stop(t)
	waitFor(t, "Down", 5*time.Second, func() bool { return rec.count('D') == 1 })
	freshAtDown := rec.count('F')
	time.Sleep(300 * time.Millisecond) // several ping intervals and reconnect attempts
	if n := rec.count('F'); n != freshAtDown {
		t.Errorf("Fresh called %d times while down", n-freshAtDown)
	}
	if n := rec.count('D'); n != 1 {
		t.Errorf("Down called %d times for one outage", n)
	}

	srv.Start(t)
	waitFor(t, "Subscribed again", 10*time.Second, func() bool { return rec.count('S') == 2 })
	if n := catchUps.Load(); n != 2 {
		t.Errorf("catch-up hook ran %d times, want 2", n)
	}
	if err := c.Publish(ctx, revocation(5)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "event after reconnect", 5*time.Second, func() bool { s := rec.seqs(); return len(s) == 5 && s[4] == 5 })
	waitFor(t, "Fresh after reconnect", 5*time.Second, func() bool { return rec.count('F') > freshAtDown })

	if n := counter(t, reg, "vexen_redis_feed_events_total", nil); n != 5 {
		t.Errorf("vexen_redis_feed_events_total = %v, want 5", n)
	}
	if n := counter(t, reg, "vexen_redis_feed_reconnects_total", nil); n < 1 {
		t.Errorf("vexen_redis_feed_reconnects_total = %v, want >= 1", n)
	}
	if n := counter(t, reg, "vexen_redis_errors_total", map[string]string{"op": "feed"}); n < 1 {
		t.Errorf("vexen_redis_errors_total{op=feed} = %v, want >= 1", n)
	}
	if n := numSubscribers(t, srv.Client); n != 1 {
		t.Errorf("%d subscriber connections while running, want 1", n)
	}

	stop()
	checkOrder(t, rec.snapshot())
	if n := rec.count('D'); n != 1 {
		t.Errorf("Down called %d times; cancel must not call it", n)
	}
	waitFor(t, "subscriber connection closed", 5*time.Second, func() bool { return numSubscribers(t, srv.Client) == 0 })
	settle(t, baseline)
}

// settle waits for the goroutine count to fall back to baseline.
func settle(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunFeedMalformed(t *testing.T) {
	_, c, reg, logs := throwaway(t, "")
	ctx := context.Background()
	rec := &recorder{t: t}
	startFeed(t, c, rec, 50*time.Millisecond)
	waitFor(t, "Subscribed", 5*time.Second, func() bool { return rec.count('S') == 1 })

	const secret = "SECRET-PAYLOAD-4f2a"
	for _, payload := range []string{
		secret,
		`{"seq":0,"sid":"` + secret + `"}`,
		`{"seq":3}`,
		`{"seq":"3","sid":"x"}`,
		"",
	} {
		if err := c.Client().Publish(ctx, c.Channel(), payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Publish(ctx, revocation(7)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "event 7", 5*time.Second, func() bool { return len(rec.seqs()) > 0 })
	if got := rec.seqs(); len(got) != 1 || got[0] != 7 {
		t.Errorf("delivered %v, want only [7]", got)
	}
	if n := counter(t, reg, "vexen_redis_feed_malformed_total", nil); n != 5 {
		t.Errorf("vexen_redis_feed_malformed_total = %v, want 5", n)
	}
	if rec.count('D') != 0 {
		t.Error("a malformed message took the feed down")
	}
	out := logs.String()
	if strings.Count(out, "dropped a malformed message") != 5 || !strings.Contains(out, "level=WARN") {
		t.Errorf("want 5 Warn lines for malformed messages, log:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("log contains a message payload:\n%s", out)
	}
}

// TestRunFeedStartsDown: with Redis unreachable from the start, Down comes first
// (once), and cancel ends RunFeed during its backoff.
func TestRunFeedStartsDown(t *testing.T) {
	srv, c, _, _ := throwaway(t, "")
	srv.Stop(t)
	rec := &recorder{t: t}
	stop := startFeed(t, c, rec, 20*time.Millisecond)
	waitFor(t, "Down", 5*time.Second, func() bool { return rec.count('D') == 1 })
	time.Sleep(500 * time.Millisecond)
	calls := rec.snapshot()
	if kinds(calls) != "D" {
		t.Errorf("calls while Redis never answered: %s, want D", kinds(calls))
	}
	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v to end RunFeed", d)
	}
}

// TestRunFeedUnansweredPing: a server that stops answering (CLIENT PAUSE) without
// closing the connection is detected by the PING timeout; the feed comes back when
// the server does.
func TestRunFeedUnansweredPing(t *testing.T) {
	srv, c, _, _ := throwaway(t, "")
	rec := &recorder{t: t}
	startFeed(t, c, rec, 50*time.Millisecond)
	waitFor(t, "Subscribed", 5*time.Second, func() bool { return rec.count('S') == 1 })
	waitFor(t, "Fresh", 5*time.Second, func() bool { return rec.count('F') > 0 })

	if err := srv.Client.Do(context.Background(), "client", "pause", "2500", "all").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	waitFor(t, "Down", 5*time.Second, func() bool { return rec.count('D') == 1 })
	var downErr error
	for _, cl := range rec.snapshot() {
		if cl.kind == 'D' {
			downErr = cl.err
		}
	}
	if !errors.Is(downErr, rediscache.ErrFeedTimeout) {
		t.Errorf("Down(%v), want ErrFeedTimeout", downErr)
	}
	if d := time.Since(paused); d > 2*time.Second {
		t.Errorf("stall detected after %v, want about 1s", d)
	}
	waitFor(t, "Subscribed after the pause", 10*time.Second, func() bool { return rec.count('S') == 2 })
	if err := c.Publish(context.Background(), revocation(9)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "event after the pause", 5*time.Second, func() bool { return len(rec.seqs()) == 1 })
	checkOrder(t, rec.snapshot())
}

// TestRunFeedCancelIsPrompt: cancel ends a RunFeed blocked in a receive at once, not
// at its next PING.
func TestRunFeedCancelIsPrompt(t *testing.T) {
	srv, c, _, _ := throwaway(t, "")
	baseline := runtime.NumGoroutine()
	rec := &recorder{t: t}
	stop := startFeed(t, c, rec, 30*time.Second)
	waitFor(t, "Fresh", 5*time.Second, func() bool { return rec.count('F') == 1 })
	start := time.Now()
	stop()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("cancel took %v to end RunFeed", d)
	}
	waitFor(t, "subscriber connection closed", 5*time.Second, func() bool { return numSubscribers(t, srv.Client) == 0 })
	settle(t, baseline)
}

// TestRunFeedFreshUsesInjectedClock: sentAt comes from Options.Now, the clock the
// verifier compares it with.
func TestRunFeedFreshUsesInjectedClock(t *testing.T) {
	const offset = 24 * time.Hour
	_, c, _, _ := throwaway(t, "", func(o *rediscache.Options) {
		o.Now = func() time.Time { return time.Now().Add(offset) }
	})
	rec := &recorder{t: t}
	before := time.Now().Add(offset)
	startFeed(t, c, rec, 20*time.Millisecond)
	waitFor(t, "Fresh", 5*time.Second, func() bool { return rec.count('F') >= 2 })
	after := time.Now().Add(offset)
	for _, cl := range rec.snapshot() {
		if cl.kind == 'F' && (cl.fresh.Before(before) || cl.fresh.After(after)) {
			t.Errorf("Fresh(%v) not from the injected clock (want within [%v, %v])", cl.fresh, before, after)
		}
	}
}
