package rediscache

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/vexen/vexen-auth/internal/backoff"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one revocation on Channel(), published as JSON
// {"seq":N,"sid":"…","uid":"…","reason":"logout","ts":UNIX_NANOS}: one message per
// row of the store's revocation log.
type Event struct {
	Seq       int64  `json:"seq"`
	SessionID string `json:"sid"`
	UserID    string `json:"uid"`
	Reason    string `json:"reason"`
	At        int64  `json:"ts"` // unix nanoseconds of the revocation
}

// FeedHandler receives the revocation feed. Calls come from one goroutine, in order.
type FeedHandler interface {
	// Subscribed is called after every (re)subscription, before any event of that
	// connection is delivered: the handler catches up from the store log here.
	Subscribed(ctx context.Context)
	// Event delivers one revocation event.
	Event(ev Event)
	// Fresh reports that a PING sent at sentAt was answered on the subscription
	// connection: every event published before sentAt has been delivered.
	Fresh(sentAt time.Time)
	// Down reports that the subscription connection failed (err); Fresh stops until
	// the next Subscribed. It is called once per outage, not once per failed attempt
	// to reconnect.
	Down(err error)
}

// Feed errors, as passed to FeedHandler.Down.
var (
	// ErrFeedTimeout: the subscription was not confirmed, or a PING not answered,
	// within the feed's timeout; the connection is dropped and made again.
	ErrFeedTimeout = errors.New("rediscache: revocation feed timed out")
	// ErrFeedUnsubscribed: the server ended the subscription.
	ErrFeedUnsubscribed = errors.New("rediscache: revocation feed unsubscribed by the server")
	// ErrFeedMasterChanged: the server the subscription was made on is no longer the
	// one writes go to (a Sentinel or Cluster failover); the feed subscribes again.
	ErrFeedMasterChanged = errors.New("rediscache: revocation feed: the master changed")
)

const (
	// DefaultPingEvery is RunFeed's PING interval when pingEvery is zero or less.
	DefaultPingEvery = 500 * time.Millisecond
	// minFeedTimeout is the least time the feed waits for a subscription
	// confirmation or a PONG before it takes the connection for dead.
	minFeedTimeout = time.Second
	// Reconnection backoff: exponential from feedBackoffMin, capped at
	// feedBackoffMax, with "equal jitter" (half fixed, half random).
	feedBackoffMin = 100 * time.Millisecond
	feedBackoffMax = 5 * time.Second
	// maxEventSize bounds a message the feed will try to decode.
	maxEventSize = 4 << 10
)

// RunFeed subscribes to Channel() and drives h until ctx ends; then it closes the
// subscription and returns nil. It never returns early: when the connection fails it
// calls h.Down, waits (capped exponential backoff with jitter, reset once a connection
// has answered a PING) and subscribes again on a new connection.
//
// Each subscription is confirmed before h.Subscribed is called, and only then are its
// events delivered. On a confirmed subscription RunFeed sends a PING every pingEvery
// (DefaultPingEvery when zero or less) and reports each answer with h.Fresh(sentAt),
// sentAt being read from Options.Now just before the PING is written. Because Redis
// answers a PING after every message it queued before it, a PONG proves that every
// event published before sentAt has been delivered. A PING unanswered (or a
// subscription unconfirmed) for max(3×pingEvery, 1s) counts as a failed connection.
//
// Messages that are not a valid Event (bad JSON, no seq or sid, over 4 KiB) are
// dropped, counted in vexen_redis_feed_malformed_total and logged at Warn without
// their payload. All calls into h come from the goroutine that called RunFeed.
func (c *Cache) RunFeed(ctx context.Context, h FeedHandler, pingEvery time.Duration) error {
	if pingEvery <= 0 {
		pingEvery = DefaultPingEvery
	}
	f := &feed{
		c:       c,
		h:       h,
		ch:      c.Channel(),
		every:   pingEvery,
		timeout: max(3*pingEvery, minFeedTimeout),
	}
	bo := backoff.Backoff{Min: feedBackoffMin, Max: feedBackoffMax}
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return nil
		}
		if attempt > 0 {
			c.m.reconnects.Inc()
		}
		err := f.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.m.errors[opFeed].Inc()
		wait := f.retryDelay(&bo)
		if !f.down {
			f.down = true
			c.log.LogAttrs(ctx, slog.LevelWarn, "redis revocation feed down; reconnecting",
				slog.String("channel", f.ch), slog.Any("err", err), slog.Duration("retry_in", wait))
			h.Down(err)
		} else {
			c.log.LogAttrs(ctx, slog.LevelDebug, "redis revocation feed: reconnect failed",
				slog.Any("err", err), slog.Duration("retry_in", wait))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// feed is RunFeed's state; it lives on RunFeed's goroutine only.
type feed struct {
	c       *Cache
	h       FeedHandler
	ch      string
	every   time.Duration
	timeout time.Duration

	down     bool   // h.Down was called and no subscription has been confirmed since
	answered bool   // the current connection has answered a PING
	n        uint64 // last PING number sent
	pings    []ping // PINGs sent on the current connection and not yet answered, oldest first
}

type ping struct {
	n      uint64
	sentAt time.Time // from Cache.now, reported to Fresh
	mono   time.Time // from time.Now, for the timeout
}

// run makes one subscription connection and serves it until it fails (the error is
// returned) or ctx ends.
func (f *feed) run(ctx context.Context) error {
	f.answered = false
	f.pings = f.pings[:0]

	// Which server writes go to, before subscribing: should it change later, the
	// subscription may sit on a demoted master that no longer sees the events
	// (go-redis does not move a subscription on a Sentinel switch).
	master, _ := f.c.master(ctx)
	ps := f.c.rdb.Subscribe(ctx)
	// Close interrupts a blocked receive when ctx ends; closing twice is harmless.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	// On a cluster the connection goes to the master of the channel's slot; when
	// that node fails, the connection drops and the feed subscribes again, on the
	// slot's new master.
	if err := ps.Subscribe(ctx, f.ch); err != nil {
		return err
	}

	subscribed := false
	confirmBy := time.Now().Add(f.timeout)
	var nextPing time.Time
	for {
		now := time.Now()
		var wait time.Duration
		if !subscribed {
			wait = confirmBy.Sub(now)
			if wait <= 0 {
				return ErrFeedTimeout
			}
		} else {
			if len(f.pings) > 0 && now.Sub(f.pings[0].mono) >= f.timeout {
				return ErrFeedTimeout
			}
			if !now.Before(nextPing) {
				if m, err := f.c.master(ctx); err == nil && master != "" && m != master {
					return ErrFeedMasterChanged
				}
				f.n++
				p := ping{n: f.n, sentAt: f.c.now(), mono: now}
				if err := ps.Ping(ctx, strconv.FormatUint(p.n, 10)); err != nil {
					return err
				}
				f.pings = append(f.pings, p)
				nextPing = now.Add(f.every)
			}
			wait = nextPing.Sub(now)
			if len(f.pings) > 0 {
				wait = min(wait, f.pings[0].mono.Add(f.timeout).Sub(now))
			}
		}
		wait = max(wait, time.Millisecond)

		msg, err := ps.ReceiveTimeout(ctx, wait)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if isTimeout(err) {
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel != f.ch {
				continue
			}
			switch m.Kind {
			case "subscribe":
				// Also seen if go-redis had to reconnect this PubSub by itself: any
				// PING sent before it is lost, and the handler must catch up again.
				subscribed = true
				f.pings = f.pings[:0]
				nextPing = time.Time{}
				f.subscribed(ctx)
			case "unsubscribe":
				return ErrFeedUnsubscribed
			}
		case *redis.Message:
			if m.Channel != f.ch {
				continue
			}
			ev, ok := decodeEvent(m.Payload)
			if !ok {
				f.c.m.malformed.Inc()
				f.c.log.LogAttrs(ctx, slog.LevelWarn, "redis revocation feed: dropped a malformed message",
					slog.String("channel", f.ch), slog.Int("bytes", len(m.Payload)))
				continue
			}
			if !subscribed {
				// Redis confirms a subscription before it delivers; should it ever not,
				// dropping is safe: Subscribed catches up from the store log.
				continue
			}
			f.c.m.events.Inc()
			f.h.Event(ev)
		case *redis.Pong:
			f.pong(m.Payload)
		}
	}
}

// retryDelay is the wait before the next subscription attempt: the backoff starts
// over when the connection that just failed had answered a PING (it was healthy), and
// keeps growing while attempts fail without ever getting that far.
func (f *feed) retryDelay(bo *backoff.Backoff) time.Duration {
	if f.answered {
		bo.Reset()
	}
	return bo.Next()
}

func (f *feed) subscribed(ctx context.Context) {
	if f.down {
		f.c.log.LogAttrs(ctx, slog.LevelInfo, "redis revocation feed subscribed again", slog.String("channel", f.ch))
	}
	f.down = false
	f.h.Subscribed(ctx)
}

// pong matches an answer to the PING it answers. Answers come in PING order on one
// connection; anything else (not a number of ours) is ignored.
func (f *feed) pong(payload string) {
	n, err := strconv.ParseUint(payload, 10, 64)
	if err != nil {
		return
	}
	i := 0
	for i < len(f.pings) && f.pings[i].n < n {
		i++
	}
	if i == len(f.pings) || f.pings[i].n != n {
		return
	}
	sentAt := f.pings[i].sentAt
	f.pings = slices.Delete(f.pings, 0, i+1)
	f.answered = true
	f.h.Fresh(sentAt)
}

// decodeEvent parses a channel message; ok is false for anything that is not a
// revocation event.
func decodeEvent(payload string) (ev Event, ok bool) {
	if len(payload) == 0 || len(payload) > maxEventSize {
		return Event{}, false
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return Event{}, false
	}
	if ev.Seq <= 0 || ev.SessionID == "" {
		return Event{}, false
	}
	return ev, true
}

// master names the server that writes to the revocation channel go to: the run id
// of the master (one server or Sentinel), or the address of the master of the
// channel's slot (cluster). An error means it could not be asked now.
func (c *Cache) master(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, c.Channel())
		if err != nil {
			return "", err
		}
		return m.Options().Addr, nil
	}
	// The run id and the role of the server a pooled connection reaches: either
	// changes when that server is replaced or demoted (go-redis keeps pooled
	// connections to a demoted master when it misses the sentinels' switch-master
	// message; the role then turns from master to slave).
	info, err := c.rdb.Info(ctx, "server", "replication").Result()
	if err != nil {
		return "", err
	}
	return infoField(info, "run_id") + "/" + infoField(info, "role"), nil
}

// infoField is the value of name in an INFO answer ("" when absent).
func infoField(info, name string) string {
	_, rest, ok := strings.Cut(info, "\n"+name+":")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(v)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
