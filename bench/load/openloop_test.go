package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOpenLoopCountsStallsItDidNotSend(t *testing.T) {
	// The server stalls every request for 150ms once, 300ms into the run. A
	// closed-loop generator with 4 connections would see 4 slow requests; an open-loop
	// one keeps scheduling requests during the stall, and all of them are late.
	var stallOnce sync.Once
	var stalling atomic.Bool
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) > 300*time.Millisecond {
			stallOnce.Do(func() {
				stalling.Store(true)
				time.AfterFunc(150*time.Millisecond, func() { stalling.Store(false) })
			})
		}
		for stalling.Load() {
			time.Sleep(time.Millisecond)
		}
		if r.Header.Get("Authorization") == "Bearer bad" {
			w.WriteHeader(401)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	reqs := BearerRequests(addr, "/auth", []string{"a", "b", "c", "bad"})
	res, err := OpenLoop(context.Background(), OpenLoopOptions{
		Addr: addr, Requests: reqs, Rate: 1000, Duration: time.Second, Conns: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1000 requests were scheduled; each connection sends its own quarter.
	if res.Requests < 990 || res.Requests > 1001 {
		t.Errorf("requests = %d, want ~1000", res.Requests)
	}
	// Every fourth request carries the bad token.
	if res.Failures < 240 || res.Failures > 260 {
		t.Errorf("failures = %d, want ~250 (one request in four is refused)", res.Failures)
	}
	// ~150 requests fell due during the stall, waiting up to 150ms: more than 1 % of
	// them, so p99 must show the stall.
	if res.Latency.P99 < 50*time.Millisecond {
		t.Errorf("p99 = %v: the 150ms stall is hidden (coordinated omission)", res.Latency.P99)
	}
	if res.Latency.Max < 100*time.Millisecond {
		t.Errorf("max = %v, want >= 100ms", res.Latency.Max)
	}
	if res.Rate != 1000 || res.Elapsed < time.Second {
		t.Errorf("rate %v, elapsed %v", res.Rate, res.Elapsed)
	}
}

func TestOpenLoopValidates(t *testing.T) {
	for _, o := range []OpenLoopOptions{
		{Addr: "127.0.0.1:1", Requests: [][]byte{{}}, Duration: time.Second},
		{Addr: "127.0.0.1:1", Requests: [][]byte{{}}, Rate: 1},
		{Addr: "127.0.0.1:1", Rate: 1, Duration: time.Second},
	} {
		if _, err := OpenLoop(context.Background(), o); err == nil {
			t.Errorf("OpenLoop(%+v): no error", o)
		}
	}
	// Nothing listens on port 1.
	if _, err := OpenLoop(context.Background(), OpenLoopOptions{Addr: "127.0.0.1:1", Requests: [][]byte{{}}, Rate: 1, Duration: time.Second}); err == nil {
		t.Error("unreachable server: no error")
	}
}

func TestDrive(t *testing.T) {
	var seen sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		if _, dup := seen.LoadOrStore(a, true); dup {
			w.WriteHeader(409) // every request must be distinct
			return
		}
		if a == "Bearer t13" {
			w.WriteHeader(401)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	var i atomic.Int64
	reqs := make([][]byte, 100)
	for k := range reqs {
		reqs[k] = Request("GET", addr, "/auth", "Authorization", "Bearer t"+itoa(k))
	}
	counts, err := Drive(context.Background(), addr, 4, time.Second, func() []byte {
		k := i.Add(1) - 1
		if k >= int64(len(reqs)) {
			return nil
		}
		return reqs[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts.OK != 99 || counts.Failed != 1 || counts.FirstFailure != "status 401" {
		t.Errorf("counts = %+v, want 99 ok, 1 failed (status 401)", counts)
	}
	if _, err := Drive(context.Background(), "127.0.0.1:1", 1, 100*time.Millisecond, func() []byte { return reqs[0] }); err == nil {
		t.Error("unreachable server: no error")
	}
}

func itoa(k int) string {
	if k == 0 {
		return "0"
	}
	var b []byte
	for ; k > 0; k /= 10 {
		b = append([]byte{byte('0' + k%10)}, b...)
	}
	return string(b)
}
