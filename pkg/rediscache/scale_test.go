package rediscache_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// TestClusterFeedFollowsFailover: a feed on a three-master cluster gets the events a
// second client publishes, before and after the master of the channel's slot is
// killed (without a restart of either client): the feed subscribes again on the
// slot's new master, and the events of a client that knew the old one reach it.
func TestClusterFeedFollowsFailover(t *testing.T) {
	c := testenv.StartCluster(t)
	open := func() *rediscache.Cache {
		rdb, err := rediscache.Open(c.URL)
		testenv.Must(t, err, "open")
		t.Cleanup(func() { rdb.Close() })
		return rediscache.New(rdb, rediscache.Options{})
	}
	sub, pub := open(), open()
	rec := &recorder{t: t}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sub.RunFeed(ctx, rec, 100*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "Subscribed", 10*time.Second, func() bool { return rec.count('S') >= 1 })
	seq := int64(0)
	fresh := true
	publish := func(step string) {
		t.Helper()
		seq++
		want := rec.count('E') + 1
		p := pub
		if step != "healthy" && fresh {
			p = open()
		}
		testenv.Must(t, p.Publish(context.Background(), store.Revocation{Seq: seq, SessionID: "s", UserID: "u", Reason: "logout"}), "%s: publish", step)
		deadline := time.Now().Add(10 * time.Second)
		for rec.count('E') < want {
			if time.Now().After(deadline) {
				var downs []string
				for _, c := range rec.snapshot() {
					if c.kind == 'D' {
						downs = append(downs, fmt.Sprint(c.err))
					}
				}
				t.Fatalf("%s: the event did not arrive; feed calls %s; downs %v", step, strings.ReplaceAll(kinds(rec.snapshot()), "F", ""), downs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	publish("healthy")
	c.KillMaster(t, sub.Channel())
	// Events published while the feed is down are lost (the handler catches up from
	// the store when it subscribes again): publish once it is back.
	waitFor(t, "Subscribed again", 20*time.Second, func() bool { return rec.count('S') >= 2 })
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		publish("after the kill")
	}
	t.Logf("%d events after the kill, %d subscriptions", seq-1, rec.count('S'))
}

// TestClusterLookupsPipelined: concurrent lookups on a three-master cluster, whose
// pipelines go-redis splits by node, each get their own token's answer.
func TestClusterLookupsPipelined(t *testing.T) {
	c := testenv.StartCluster(t)
	rdb, err := rediscache.Open(c.URL)
	testenv.Must(t, err, "open")
	t.Cleanup(func() { rdb.Close() })
	checkConcurrentLookups(t, rediscache.New(rdb, rediscache.Options{}))
}

// TestSentinelLookupsPipelined: the same through a Sentinel failover client.
func TestSentinelLookupsPipelined(t *testing.T) {
	s := testenv.StartSentinel(t)
	rdb, err := rediscache.Open(s.URL)
	testenv.Must(t, err, "open")
	t.Cleanup(func() { rdb.Close() })
	checkConcurrentLookups(t, rediscache.New(rdb, rediscache.Options{}))
}
