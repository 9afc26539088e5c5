package rediscache

import (
	"context"
	"errors"
	"github.com/vexen/vexen-auth/internal/backoff"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

func TestKeys(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	for _, prefix := range []string{"", "app1:"} {
		c := New(rdb, Options{Prefix: prefix})
		tests := []struct {
			got, want string
		}{
			{c.AccessKey("ab12"), prefix + "access_token:{ab12}"},
			{c.RefreshKey("ab12"), prefix + "refresh_token:{ab12}"},
			{c.RevokedKey("ab12"), prefix + "revoked:{ab12}"},
			{c.UserSessionKey("u1"), prefix + "user_session:{u1}"},
			{c.UserTokensKey("u1"), prefix + "user_tokens:{u1}"},
			{c.Channel(), prefix + "revocations"},
		}
		for _, tt := range tests {
			if tt.got != tt.want {
				t.Errorf("prefix %q: got key %q, want %q", prefix, tt.got, tt.want)
			}
		}
		if c.Client() != rdb {
			t.Error("Client() does not return the client given to New")
		}
	}
}

func TestOpenDefaults(t *testing.T) {
	rdb, err := Open("redis://:s3cret@127.0.0.1:6379/2")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	o := rdb.(*redis.Client).Options()
	if !o.ContextTimeoutEnabled {
		t.Error("ContextTimeoutEnabled is false")
	}
	if o.Password != "s3cret" || o.DB != 2 || o.Addr != "127.0.0.1:6379" {
		t.Errorf("parsed Password/DB/Addr = %q/%d/%q", o.Password, o.DB, o.Addr)
	}
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"DialTimeout", o.DialTimeout, DefaultDialTimeout},
		{"ReadTimeout", o.ReadTimeout, DefaultReadTimeout},
		{"WriteTimeout", o.WriteTimeout, DefaultWriteTimeout},
		{"PoolTimeout", o.PoolTimeout, DefaultPoolTimeout},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o.PoolSize != DefaultPoolSize() {
		t.Errorf("PoolSize = %d, want %d", o.PoolSize, DefaultPoolSize())
	}
	if o.DialerRetries != DialAttempts {
		t.Errorf("DialerRetries = %d, want %d", o.DialerRetries, DialAttempts)
	}
	if o.MaxRetries != DefaultMaxRetries {
		t.Errorf("MaxRetries = %d, want %d", o.MaxRetries, DefaultMaxRetries)
	}
}

func TestOpenKeepsURLSettings(t *testing.T) {
	rdb, err := Open("rediss://127.0.0.1:6380/0?read_timeout=5s&dial_timeout=3s&pool_size=3&max_retries=2")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	o := rdb.(*redis.Client).Options()
	if o.ReadTimeout != 5*time.Second || o.DialTimeout != 3*time.Second || o.PoolSize != 3 || o.MaxRetries != 2 {
		t.Errorf("URL settings overridden: read %v dial %v pool %d retries %d", o.ReadTimeout, o.DialTimeout, o.PoolSize, o.MaxRetries)
	}
	if o.TLSConfig == nil {
		t.Error("rediss:// did not enable TLS")
	}
	if !o.ContextTimeoutEnabled {
		t.Error("ContextTimeoutEnabled is false")
	}
}

func TestKeysShareSlots(t *testing.T) {
	c := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{Prefix: "app1:"})
	defer c.Client().Close()
	pairs := [][2]string{
		{c.AccessKey("ab12"), c.RevokedKey("ab12")},
		{c.AccessKey("ab12"), c.RefreshKey("ab12")}, // SweepUserTokens' EXISTS
		{c.UserSessionKey("u1"), c.UserTokensKey("u1")},
	}
	for _, p := range pairs {
		if hashTag(p[0]) != hashTag(p[1]) {
			t.Errorf("%s and %s hash to different slots (tags %q, %q)", p[0], p[1], hashTag(p[0]), hashTag(p[1]))
		}
	}
	for key, want := range map[string]string{
		"access_token:{ab}": "ab", "plain": "plain", "a{}b{c}": "a{}b{c}", "x{y": "x{y", "{a}{b}": "a",
	} {
		if got := hashTag(key); got != want {
			t.Errorf("hashTag(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestOpenSentinelAndCluster(t *testing.T) {
	rdb, err := Open("redis+sentinel://:pw@127.0.0.1:26379,127.0.0.2:26380/3?master=main&sentinel_password=sp&read_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(*redis.Client); !ok {
		t.Errorf("sentinel: %T, want a failover *redis.Client", rdb)
	}
	rdb2, err := Open("redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001?read_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb2.Close()
	cc, ok := rdb2.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster: %T, want *redis.ClusterClient", rdb2)
	}
	o := cc.Options()
	if len(o.Addrs) != 2 || o.Addrs[1] != "127.0.0.1:7001" || o.Password != "pw" || o.ReadTimeout != 2*time.Second ||
		o.DialTimeout != DefaultDialTimeout || !o.ContextTimeoutEnabled || o.MaxRetries != DefaultMaxRetries || o.Protocol != 2 {
		t.Errorf("cluster options: %+v", o)
	}
	const pw = "s3cretPW"
	for _, u := range []string{
		"redis+sentinel://:" + pw + "@127.0.0.1:26379/0",                       // no master
		"redis+sentinel://:" + pw + "@127.0.0.1:26379,nohost/0?master=m",       // bad host
		"redis+sentinel://user:" + pw + "@127.0.0.1:26379/0?master=m",          // user name
		"redis+sentinel://:" + pw + "@127.0.0.1:26379/x?master=m",              // bad db
		"redis+cluster://:" + pw + "@127.0.0.1:7000/1",                         // db 1
		"redis+cluster://:" + pw + "@127.0.0.1:7000?bogus=" + pw,               // unknown parameter
		"redis+cluster://:" + pw + "@127.0.0.1:7000,127.0.0.1:x?max_retries=1", // bad port
	} {
		rdb, err := Open(u)
		if err == nil {
			rdb.Close()
			t.Errorf("Open(%q): no error", u)
			continue
		}
		if !errors.Is(err, ErrInvalidURL) || strings.Contains(err.Error(), pw) {
			t.Errorf("Open(%q) = %v: not ErrInvalidURL, or shows the password", u, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	const pw = "s3cretPW"
	for _, u := range []string{
		"",
		"   ",
		"http://:" + pw + "@127.0.0.1:6379/0",
		"redis://:" + pw + "@127.0.0.1:notaport/0",
		"redis://:" + pw + "@127.0.0.1:6379/notadb",
		"redis://:" + pw + "@127.0.0.1:6379/0?bogus=1",
		"redis://:" + pw + "@127.0.0.1:6379/0?read_timeout=" + pw,
		"redis://:" + pw + "@[::1/0",
		"redis://:" + pw + "\x7f@127.0.0.1:6379/0",
	} {
		rdb, err := Open(u)
		if err == nil {
			rdb.Close()
			t.Errorf("Open(%q): no error", u)
			continue
		}
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, not ErrInvalidURL", u, err)
		}
		if !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("Open(%q) = %v: does not name REDIS_URL", u, err)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Open(%q) = %v: contains the password", u, err)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Event
		ok      bool
	}{
		{"valid", `{"seq":7,"sid":"s1","uid":"u1","reason":"logout","ts":1700000000000000000}`,
			Event{Seq: 7, SessionID: "s1", UserID: "u1", Reason: "logout", At: 1700000000000000000}, true},
		{"unknown fields ignored", `{"seq":1,"sid":"s","extra":[1,2]}`, Event{Seq: 1, SessionID: "s"}, true},
		{"empty", ``, Event{}, false},
		{"not json", `logout s1`, Event{}, false},
		{"truncated", `{"seq":7,"sid":"s1"`, Event{}, false},
		{"no seq", `{"sid":"s1","uid":"u1"}`, Event{}, false},
		{"zero seq", `{"seq":0,"sid":"s1"}`, Event{}, false},
		{"negative seq", `{"seq":-3,"sid":"s1"}`, Event{}, false},
		{"no sid", `{"seq":3,"uid":"u1"}`, Event{}, false},
		{"wrong type", `{"seq":"3","sid":"s1"}`, Event{}, false},
		{"array", `[1,2,3]`, Event{}, false},
		{"oversized", `{"seq":3,"sid":"s1","reason":"` + strings.Repeat("x", maxEventSize) + `"}`, Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeEvent(tt.payload)
			if ok != tt.ok || got != tt.want {
				t.Errorf("decodeEvent = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// fakeHandler records calls to a FeedHandler.
type fakeHandler struct {
	fresh []time.Time
}

func (f *fakeHandler) Subscribed(context.Context) {}
func (f *fakeHandler) Event(Event)                {}
func (f *fakeHandler) Fresh(at time.Time)         { f.fresh = append(f.fresh, at) }
func (f *fakeHandler) Down(error)                 {}

func TestPongMatching(t *testing.T) {
	h := &fakeHandler{}
	base := time.Unix(1000, 0)
	f := &feed{h: h}
	for i := range 4 {
		f.pings = append(f.pings, ping{n: uint64(i + 1), sentAt: base.Add(time.Duration(i) * time.Second)})
	}
	f.pong("PONG") // not ours
	f.pong("99")   // never sent
	f.pong("-1")
	if len(h.fresh) != 0 || len(f.pings) != 4 {
		t.Fatalf("foreign pongs changed state: fresh %v, %d pending", h.fresh, len(f.pings))
	}
	f.pong("2") // 1 is skipped (lost): 2 answers, 1 is dropped with it
	if len(h.fresh) != 1 || !h.fresh[0].Equal(base.Add(time.Second)) || len(f.pings) != 2 || f.pings[0].n != 3 {
		t.Fatalf("after pong 2: fresh %v, pending %+v", h.fresh, f.pings)
	}
	if !f.answered {
		t.Error("answered not set")
	}
	f.pong("2") // duplicate
	f.pong("3")
	f.pong("4")
	if len(h.fresh) != 3 || len(f.pings) != 0 {
		t.Fatalf("fresh %v, pending %+v", h.fresh, f.pings)
	}
}

func TestRetryDelay(t *testing.T) {
	bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	f := &feed{}
	var last time.Duration
	for range 8 { // failures without an answered PING: the delay grows to the cap
		last = f.retryDelay(&bo)
	}
	if last < bo.Max/2 {
		t.Fatalf("after 8 failures the delay is %v, want >= %v", last, bo.Max/2)
	}
	f.answered = true // the connection that failed had been healthy: start over
	if d := f.retryDelay(&bo); d > bo.Min {
		t.Fatalf("delay after a healthy connection = %v, want <= %v", d, bo.Min)
	}
	f.answered = false
	if d := f.retryDelay(&bo); d < bo.Min || d > 2*bo.Min {
		t.Fatalf("next delay = %v, want in [%v, %v]", d, bo.Min, 2*bo.Min)
	}
}

func TestNewTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	a := New(rdb, Options{Registerer: reg})
	b := New(rdb, Options{Registerer: reg}) // must not panic
	a.m.errors[opLookup].Inc()
	b.m.errors[opLookup].Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetName() != "vexen_redis_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "lookup" {
				got = m.GetCounter().GetValue()
			}
		}
	}
	if got != 2 {
		t.Errorf("shared errors_total{op=lookup} = %v, want 2", got)
	}
	for _, n := range []string{"vexen_redis_errors_total", "vexen_redis_feed_events_total", "vexen_redis_feed_reconnects_total", "vexen_redis_feed_malformed_total"} {
		if !names[n] {
			t.Errorf("metric %s not registered (have %v)", n, names)
		}
	}
}

func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n"
	for name, want := range map[string]string{"run_id": "abc123", "role": "slave", "redis_version": "7.0.15", "nope": "", "host": ""} {
		if got := infoField(info, name); got != want {
			t.Errorf("infoField(%q) = %q, want %q", name, got, want)
		}
	}
}
