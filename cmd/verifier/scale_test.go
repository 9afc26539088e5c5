package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
)

// TestCluster runs the issuer and two verifiers (push and strict) on a three-master
// Redis Cluster: sign-ins write their keys across slots, decisions read
// access_token:{h} with revoked:{h} (one slot), a logout and a logout-all are refused
// by both verifiers and leave revoked:{h} keys, and the revocation events reach the
// verifiers over sharded pub/sub. Then the master serving the revocation channel is
// killed: the feed subscribes again on its replica, and sign-ins, logouts and events
// go on without a restart; the killed node comes back as a replica.
func TestCluster(t *testing.T) {
	c := testenv.StartCluster(t)
	s := newStack(t, testenv.PostgresURL(t), c.URL, "")
	push, strict := s.verifier(), s.verifier("--revocation", "strict")
	rdb, err := rediscache.Open(c.URL)
	testenv.Must(t, err, "open cluster")
	t.Cleanup(func() { rdb.Close() })
	cache := rediscache.New(rdb, rediscache.Options{})
	ctx := context.Background()

	round := func(step string) {
		t.Helper()
		var alice []pair
		for range 6 {
			alice = append(alice, s.login("alice@example.com", "alice's password"))
		}
		bob := []pair{s.login("bob@example.com", "bob's password"), s.login("bob@example.com", "bob's password")}
		masters := map[string]bool{}
		for _, p := range append(alice, bob...) {
			h := hex.EncodeToString(sha(p.AccessToken))
			wantStatus(t, push, p.AccessToken, 200)
			wantStatus(t, strict, p.AccessToken, 200)
			if n, err := rdb.Exists(ctx, cache.AccessKey(h)).Result(); err != nil || n != 1 {
				t.Fatalf("%s: access_token:{h} not in the cluster: %d %v", step, n, err)
			}
			masters[c.MasterOf(t, cache.AccessKey(h)).Addr()] = true
		}
		if len(masters) < 2 {
			t.Logf("%s: the tokens landed on %d master(s) only", step, len(masters))
		}
		// Events published while a feed is down are lost (it catches up from the
		// store's log): wait until both verifiers are subscribed on the channel's master.
		waitFor(t, step+": both feeds subscribed", 20*time.Second, func() bool {
			return numSub(c.MasterOf(t, cache.Channel()).Client, cache.Channel()) >= 2
		})
		before := feedEvents(t, push)
		if code, body := s.post("/v1/logout", "", map[string]string{"refresh_token": alice[0].RefreshToken}); code != 204 {
			t.Fatalf("%s: logout: %d %s", step, code, body)
		}
		wantStatus(t, strict, alice[0].AccessToken, 401)
		eventually(t, push, alice[0].AccessToken, 401)
		if code, _ := s.post("/v1/logout-all", bob[0].AccessToken, nil); code != 204 {
			t.Fatalf("%s: logout-all: %d", step, code)
		}
		for _, p := range bob {
			wantStatus(t, strict, p.AccessToken, 401)
			eventually(t, push, p.AccessToken, 401)
		}
		for _, p := range append(bob, alice[0]) {
			h := hex.EncodeToString(sha(p.AccessToken))
			if n, err := rdb.Exists(ctx, cache.RevokedKey(h)).Result(); err != nil || n != 1 {
				t.Fatalf("%s: revoked:{h} not written: %d %v", step, n, err)
			}
		}
		for _, p := range alice[1:] {
			wantStatus(t, strict, p.AccessToken, 200)
			wantStatus(t, push, p.AccessToken, 200)
		}
		waitFor(t, step+": revocation events reach the push verifier", 10*time.Second, func() bool {
			return feedEvents(t, push) >= before+3 // the logout and bob's two sessions
		})
		if code, _ := s.post("/v1/logout-all", alice[1].AccessToken, nil); code != 204 {
			t.Fatalf("%s: alice logout-all: %d", step, code)
		}
	}
	round("healthy cluster")

	killed := c.KillMaster(t, cache.Channel())
	t.Logf("killed %s, the master of the channel's slot; %s took over", killed.Addr(), c.MasterOf(t, cache.Channel()).Addr())
	round("after a master was killed")
	killed.Start(t)
	c.WaitOK(t, 30*time.Second)
	round("after the killed node came back")
}

// TestSentinelFailoverWrites: the issuer and a verifier on a Sentinel deployment
// (one master, two replicas, three sentinels). Through a SENTINEL FAILOVER and then
// a SIGKILL of the new master, sign-ins keep writing their keys (to whichever
// server is master now, without a restart), logouts write revoked:{h}, and the
// verifier's feed follows the master.
func TestSentinelFailoverWrites(t *testing.T) {
	sn := testenv.StartSentinel(t)
	s := newStack(t, testenv.PostgresURL(t), sn.URL, "")
	push := s.verifier()
	ctx := context.Background()

	check := func(step string) {
		t.Helper()
		master := sn.Node(t, sn.MasterAddr(t)).Client
		// The first write after a switch may still meet the old master (READONLY);
		// writes must resume by themselves within a few seconds.
		var p pair
		waitFor(t, step+": a sign-in's keys on the new master", 10*time.Second, func() bool {
			p = s.login("alice@example.com", "alice's password")
			return master.Exists(ctx, "access_token:{"+hex.EncodeToString(sha(p.AccessToken))+"}").Val() == 1
		})
		wantStatus(t, push, p.AccessToken, 200)
		waitFor(t, step+": the feed subscribed on the master", 20*time.Second, func() bool {
			return numSub(master, "revocations") >= 1
		})
		before := feedEvents(t, push)
		if code, _ := s.post("/v1/logout", "", map[string]string{"refresh_token": p.RefreshToken}); code != 204 {
			t.Fatalf("%s: logout: %d", step, code)
		}
		eventually(t, push, p.AccessToken, 401)
		if master.Exists(ctx, "revoked:{"+hex.EncodeToString(sha(p.AccessToken))+"}").Val() != 1 {
			t.Fatalf("%s: revoked:{h} not on the master", step)
		}
		waitFor(t, step+": the revocation event reaches the verifier", 10*time.Second, func() bool {
			return feedEvents(t, push) > before
		})
	}
	check("healthy")
	old, now := sn.Failover(t)
	t.Logf("SENTINEL FAILOVER: %s -> %s", old, now)
	check("after SENTINEL FAILOVER")
	old, now = sn.KillMaster(t)
	t.Logf("SIGKILL of the master: %s -> %s", old, now)
	check("after the master was killed")
	sn.Node(t, old).Start(t)
	check("after the killed master came back")
}

// TestSentinelFailoverUnderLoad drives sign-ins, refreshes, logouts and decisions on
// two verifiers (push and strict) through a SENTINEL FAILOVER and a SIGKILL of the
// master, and asserts the requirements: no revoked session accepted by the
// strict verifier once the logout returned (and by the push one beyond
// --max-staleness), no live session refused, no sign-in, refresh or logout failed.
// It logs the measured windows: how long Redis writes failed and the slowest
// decision.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	sn := testenv.StartSentinel(t)
	s := newStack(t, testenv.PostgresURL(t), sn.URL, "")
	faults := []struct {
		name string
		do   func() (string, string)
	}{
		{"SENTINEL FAILOVER", func() (string, string) { return sn.Failover(t) }},
		{"SIGKILL of the master", func() (string, string) { return sn.KillMaster(t) }},
	}
	l := startLoad(t, s, sn.URL)
	time.Sleep(2 * time.Second)
	for _, f := range faults {
		start := time.Now()
		old, now := f.do()
		t.Logf("%s: %s -> %s, settled in %v", f.name, old, now, time.Since(start).Round(time.Millisecond))
		time.Sleep(3 * time.Second)
	}
	l.stopAndCheck(t)
}

// TestClusterFailoverUnderLoad is TestSentinelFailoverUnderLoad on a cluster whose
// master for the revocation channel (and the tokens in its slots) is killed and, once
// its replica took over, started again.
func TestClusterFailoverUnderLoad(t *testing.T) {
	c := testenv.StartCluster(t)
	s := newStack(t, testenv.PostgresURL(t), c.URL, "")
	l := startLoad(t, s, c.URL)
	time.Sleep(2 * time.Second)
	start := time.Now()
	killed := c.KillMaster(t, "revocations")
	t.Logf("killed cluster master %s; failover settled in %v", killed.Addr(), time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	killed.Start(t)
	c.WaitOK(t, 30*time.Second)
	time.Sleep(time.Second)
	l.stopAndCheck(t)
}

// load is the steady traffic of the failover tests.
type load struct {
	s            *stack
	push, strict *Main
	client       *http.Client
	stop         atomic.Bool
	wg           sync.WaitGroup
	staleness    time.Duration

	mu         sync.Mutex
	cycles     int
	decisions  int
	refused    []string // live sessions refused: status, verifier, time
	accepted   []string // revoked sessions accepted beyond the allowance
	opErrors   []string // sign-in, refresh, logout failures
	pushDelays []time.Duration
	slowest    time.Duration

	probe *writeProbe
}

func startLoad(t *testing.T, s *stack, redisURL string) *load {
	t.Helper()
	l := &load{
		s: s, push: s.verifier("--max-staleness", "1s"), strict: s.verifier("--revocation", "strict"),
		client:    &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		staleness: time.Second,
	}
	l.probe = startWriteProbe(t, redisURL)
	for w := range 6 {
		l.wg.Add(1)
		go l.worker(w)
	}
	return l
}

func (l *load) worker(w int) {
	defer l.wg.Done()
	email, password := "alice@example.com", "alice's password"
	if w%2 == 1 {
		email, password = "bob@example.com", "bob's password"
	}
	for !l.stop.Load() {
		p, ok := l.call("login", "/v1/login", "", map[string]string{"email": email, "password": password})
		if !ok {
			continue
		}
		l.live(p.AccessToken)
		q, ok := l.call("refresh", "/v1/refresh", "", map[string]string{"refresh_token": p.RefreshToken})
		if !ok {
			continue
		}
		l.live(q.AccessToken)
		l.live(p.AccessToken) // a refresh does not revoke the old access token
		if _, ok := l.call("logout", "/v1/logout", "", map[string]string{"refresh_token": q.RefreshToken}); !ok {
			continue
		}
		returned := time.Now()
		l.revoked(q.AccessToken, returned)
		l.mu.Lock()
		l.cycles++
		l.mu.Unlock()
	}
}

// call posts to the issuer; any answer but 200/204 is a failed operation.
func (l *load) call(name, path, bearer string, body any) (pair, bool) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", l.s.issuer.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	var p pair
	if err == nil {
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 || resp.StatusCode == 204 {
			if resp.StatusCode == 200 {
				_ = json.Unmarshal(out, &p)
			}
			return p, true
		}
		err = fmt.Errorf("%d %s", resp.StatusCode, out)
	}
	l.mu.Lock()
	l.opErrors = append(l.opErrors, fmt.Sprintf("%s at %s: %v", name, time.Now().Format("15:04:05.000"), err))
	l.mu.Unlock()
	return p, false
}

// decide asks a verifier and returns the status (0 on a transport error).
func (l *load) decide(m *Main, token string) int {
	req, _ := http.NewRequest("GET", "http://"+m.Addr()+"/auth", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := l.client.Do(req)
	d := time.Since(start)
	l.mu.Lock()
	l.decisions++
	l.slowest = max(l.slowest, d)
	l.mu.Unlock()
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (l *load) live(token string) {
	for _, v := range []struct {
		name string
		m    *Main
	}{{"push", l.push}, {"strict", l.strict}} {
		if code := l.decide(v.m, token); code != 200 {
			l.mu.Lock()
			l.refused = append(l.refused, fmt.Sprintf("%s answered %d at %s", v.name, code, time.Now().Format("15:04:05.000")))
			l.mu.Unlock()
		}
	}
}

// revoked checks a session whose logout returned at `returned`: the strict verifier
// must refuse it from the first request; the push verifier within max-staleness.
func (l *load) revoked(token string, returned time.Time) {
	sent := time.Now()
	if code := l.decide(l.strict, token); code == 200 {
		l.mu.Lock()
		l.accepted = append(l.accepted, fmt.Sprintf("strict accepted a session %v after its logout returned (request sent %v after)",
			time.Since(returned).Round(time.Microsecond), sent.Sub(returned).Round(time.Microsecond)))
		l.mu.Unlock()
	}
	for {
		sent := time.Now()
		code := l.decide(l.push, token)
		if code != 200 {
			l.mu.Lock()
			l.pushDelays = append(l.pushDelays, sent.Sub(returned))
			l.mu.Unlock()
			return
		}
		if sent.Sub(returned) > l.staleness {
			l.mu.Lock()
			l.accepted = append(l.accepted, fmt.Sprintf("push accepted a session %v after its logout returned (max-staleness %v)",
				sent.Sub(returned).Round(time.Millisecond), l.staleness))
			l.mu.Unlock()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *load) stopAndCheck(t *testing.T) {
	t.Helper()
	l.stop.Store(true)
	l.wg.Wait()
	failed, window := l.probe.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.pushDelays, func(i, j int) bool { return l.pushDelays[i] < l.pushDelays[j] })
	var p99 time.Duration
	if n := len(l.pushDelays); n > 0 {
		p99 = l.pushDelays[n*99/100]
	}
	t.Logf("load: %d sign-in/refresh/logout cycles, %d decisions; slowest decision %v; push revocation delay p99 %v max %v",
		l.cycles, l.decisions, l.slowest.Round(time.Millisecond), p99.Round(time.Millisecond), last(l.pushDelays).Round(time.Millisecond))
	t.Logf("Redis write probe (SET every 10ms through the same REDIS_URL): %d failed writes; longest run of failures %v",
		failed, window.Round(time.Millisecond))
	t.Logf("live sessions refused: %d; revoked sessions accepted: %d; issuer operations failed: %d",
		len(l.refused), len(l.accepted), len(l.opErrors))
	if l.cycles < 20 {
		t.Errorf("only %d cycles: the load did not run", l.cycles)
	}
	for _, r := range l.refused {
		t.Errorf("live session refused: %s", r)
	}
	for _, a := range l.accepted {
		t.Errorf("revoked session accepted: %s", a)
	}
	for _, e := range l.opErrors {
		t.Errorf("issuer operation failed: %s", e)
	}
}

func last(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[len(d)-1]
}

// writeProbe writes a key every 10ms through its own client on the deployment's
// REDIS_URL and records the longest stretch of failed writes: the failover window
// as the issuer's write-through sees it.
type writeProbe struct {
	rdb     redis.UniversalClient
	done    chan struct{}
	wg      sync.WaitGroup
	failed  int
	longest time.Duration
}

func startWriteProbe(t *testing.T, redisURL string) *writeProbe {
	t.Helper()
	rdb, err := rediscache.Open(redisURL)
	testenv.Must(t, err, "open probe client")
	p := &writeProbe{rdb: rdb, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var firstFail time.Time
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := rdb.Set(ctx, fmt.Sprintf("probe:{%d}", i%64), i, time.Minute).Err()
			cancel()
			now := time.Now()
			if err != nil {
				p.failed++
				if firstFail.IsZero() {
					firstFail = now
				}
				continue
			}
			if !firstFail.IsZero() {
				p.longest = max(p.longest, now.Sub(firstFail))
				firstFail = time.Time{}
			}
		}
	}()
	t.Cleanup(func() { rdb.Close() })
	return p
}

func (p *writeProbe) stop() (int, time.Duration) {
	close(p.done)
	p.wg.Wait()
	return p.failed, p.longest
}

// feedEvents reads vexen_redis_feed_events_total from a verifier.
func feedEvents(t *testing.T, m *Main) float64 {
	return metricValue(t, m, "vexen_redis_feed_events_total")
}

// numSub is PUBSUB NUMSUB of channel on one server.
func numSub(rdb *redis.Client, channel string) int64 {
	m, err := rdb.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		return 0
	}
	return m[channel]
}

func metricValue(t *testing.T, m *Main, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(metric(t, m, name), "\n") {
		var v float64
		if _, err := fmt.Sscanf(strings.TrimPrefix(l, name+" "), "%g", &v); err == nil && strings.HasPrefix(l, name+" ") {
			return v
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
