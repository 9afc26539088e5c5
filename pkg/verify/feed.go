package verify

import (
	"context"
	"github.com/vexen/vexen-auth/internal/backoff"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexen/vexen-auth/pkg/rediscache"
)

const (
	// logPage is how many revocation-log rows one store read returns.
	logPage = 1000
	// holeTTL is how long a missing sequence number is looked for again: a
	// PostgreSQL transaction may commit seq N after seq N+1 is visible, or roll
	// back and leave N unused for ever.
	holeTTL = 30 * time.Second
	// maxHoles bounds the missing sequence numbers remembered.
	maxHoles = 1024
	// catchUpTimeout bounds one catch-up run.
	catchUpTimeout = 10 * time.Second
	// minPing / minPoll bound how often Redis is PINGed and the log is polled.
	minPing = 10 * time.Millisecond
	minPoll = 5 * time.Millisecond
	// minSafetyPoll is the least interval of the log poll that runs beside pub/sub
	// (it catches a revocation whose event the issuer failed to publish).
	minSafetyPoll = time.Second
)

// revocations follows the store's revocation log, through Redis pub/sub events
// (push) or by polling, turns each row into a session tombstone, and keeps the
// freshness that lets cached entries be trusted without a re-check.
//
// Freshness: freshAt is the time T of the last proof that every revocation made
// before T has been applied (a PONG to a PING sent at T on the subscription, or a
// log poll that started at T); 0 means none. A (re)subscription or a gap in the
// sequence numbers clears it until a catch-up from the log has finished.
type revocations struct {
	v       *Verifier
	freshAt atomic.Int64

	mu       sync.Mutex
	ready    bool            // lastSeq initialised from the store
	want     uint64          // catch-ups requested
	done     uint64          // highest request a finished catch-up covered
	lastSeq  int64           // highest seq seen
	readFrom int64           // next catch-up reads rows after this seq
	holes    map[int64]int64 // missing seq → unix ns first missed

	catchMu sync.Mutex    // one catch-up at a time
	kick    chan struct{} // wakes the catch-up worker
}

func newRevocations(v *Verifier) *revocations {
	return &revocations{v: v, holes: map[int64]int64{}, kick: make(chan struct{}, 1)}
}

// feedHandler is the rediscache.FeedHandler view of the revocations.
type feedHandler struct{ r *revocations }

var _ rediscache.FeedHandler = feedHandler{}

func (f feedHandler) Subscribed(ctx context.Context) { f.r.subscribed(ctx) }
func (f feedHandler) Event(ev rediscache.Event)      { f.r.event(ev) }
func (f feedHandler) Fresh(sentAt time.Time)         { f.r.fresh(sentAt) }
func (f feedHandler) Down(err error)                 { f.r.down(err) }

// init reads where the revocation log ends: the feed applies what comes after.
// Older revocations are found by the store check a token gets on first sight.
func (r *revocations) init(ctx context.Context) error {
	seq, err := r.v.sessions.LastRevocationSeq(ctx)
	if err != nil {
		r.v.backendFailed(ctx, opStoreLog, err)
		return err
	}
	r.mu.Lock()
	r.lastSeq, r.readFrom, r.ready = seq, seq, true
	r.mu.Unlock()
	return nil
}

func (r *revocations) isReady() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *revocations) run(ctx context.Context) {
	v := r.v
	if !r.isReady() {
		// New could not read the log's end. Until now, tokens may have been cached
		// whose session was revoked after their check but before the point the
		// feed starts from: forget them, so that they are checked again.
		bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
		for r.init(ctx) != nil {
			if !sleep(ctx, bo.Next()) {
				return
			}
		}
		v.cache.clear()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.catchUpWorker(ctx) })
	staleness := time.Duration(v.staleness)
	if v.shared == nil {
		r.poll(ctx, max(staleness/2, minPoll), true)
		return
	}
	wg.Go(func() { r.poll(ctx, max(5*staleness, minSafetyPoll), false) })
	ping := max(staleness/4, minPing)
	bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		err := v.shared.RunFeed(ctx, feedHandler{r}, ping)
		if ctx.Err() != nil {
			return
		}
		r.down(err)
		v.log.LogAttrs(ctx, slog.LevelWarn, "revocation feed stopped; restarting", slog.Any("err", err))
		if !sleep(ctx, bo.Next()) {
			return
		}
	}
}

// poll reads the log every interval. Without Redis (asFeed) a successful read
// that started at T makes the feed fresh as of T.
func (r *revocations) poll(ctx context.Context, every time.Duration, asFeed bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		start := r.v.now()
		if err := r.catchUp(ctx); err == nil && asFeed {
			r.markFresh(start.UnixNano())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// catchUpWorker runs requested catch-ups, retrying failed ones with backoff.
func (r *revocations) catchUpWorker(ctx context.Context) {
	bo := backoff.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		for r.pending() {
			if err := r.catchUp(ctx); err == nil {
				bo.Reset()
				break
			}
			if !sleep(ctx, bo.Next()) {
				return
			}
		}
	}
}

func (r *revocations) pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done < r.want
}

// request asks for a catch-up and withdraws freshness until one has finished.
func (r *revocations) request() {
	r.mu.Lock()
	r.want++
	r.freshAt.Store(0)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// subscribed: a (re)subscription. Events published while we were not subscribed
// are lost, so read them from the log before trusting the feed again. The first
// attempt runs here, before the connection's events are delivered.
func (r *revocations) subscribed(ctx context.Context) {
	r.v.redisDownUntil.Store(0)
	r.mu.Lock()
	r.want++
	r.freshAt.Store(0)
	r.mu.Unlock()
	if err := r.catchUp(ctx); err != nil {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

func (r *revocations) down(error) {
	r.freshAt.Store(0)
}

func (r *revocations) fresh(sentAt time.Time) {
	r.markFresh(sentAt.UnixNano())
}

func (r *revocations) markFresh(at int64) {
	r.mu.Lock()
	if r.ready && r.done == r.want && at > r.freshAt.Load() {
		r.freshAt.Store(at)
	}
	r.mu.Unlock()
}

// event applies one pub/sub event; a gap in seq asks for a catch-up.
func (r *revocations) event(ev rediscache.Event) {
	now := r.v.now().UnixNano()
	r.mu.Lock()
	first, gap := false, false
	if ev.Seq > r.lastSeq {
		first = true
		gap = ev.Seq > r.lastSeq+1
		if gap {
			for s := max(r.lastSeq+1, ev.Seq-maxHoles); s < ev.Seq && len(r.holes) < maxHoles; s++ {
				r.holes[s] = now
			}
		} else if r.readFrom == r.lastSeq && len(r.holes) == 0 {
			r.readFrom = ev.Seq
		}
		r.lastSeq = ev.Seq
	} else if _, ok := r.holes[ev.Seq]; ok {
		delete(r.holes, ev.Seq)
		first = true
	}
	if !r.ready {
		gap = false // Run has not read the log's end yet; it will start from there
	}
	r.mu.Unlock()
	r.apply(ev.SessionID, ev.At, first, now)
	if gap {
		r.request()
	}
}

// apply tombstones a revoked session; the first time a row is seen its
// propagation delay (row timestamp → now) is recorded.
func (r *revocations) apply(sid string, at int64, first bool, now int64) {
	r.v.tombstone(sid, now)
	if first && at > 0 && now >= at {
		r.v.m.propagation.Observe(time.Duration(now - at).Seconds())
	}
}

// catchUp reads every log row after readFrom, applies it, and records the
// sequence numbers still missing as holes to look for again.
func (r *revocations) catchUp(ctx context.Context) error {
	r.catchMu.Lock()
	defer r.catchMu.Unlock()
	r.mu.Lock()
	if !r.ready {
		r.mu.Unlock()
		return nil
	}
	want := r.want
	after := r.readFrom
	startLast := r.lastSeq
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	expect := after + 1
	for {
		rows, err := r.v.sessions.RevocationsAfter(ctx, after, logPage)
		if err != nil {
			r.v.backendFailed(ctx, opStoreLog, err)
			return err
		}
		now := r.v.now().UnixNano()
		for _, row := range rows {
			r.mu.Lock()
			_, wasHole := r.holes[row.Seq]
			first := wasHole || row.Seq > r.lastSeq
			delete(r.holes, row.Seq)
			// Numbers skipped in territory not seen before are holes: perhaps a
			// transaction that commits later, perhaps one rolled back.
			for s := max(expect, startLast+1, row.Seq-maxHoles); s < row.Seq && len(r.holes) < maxHoles; s++ {
				if _, ok := r.holes[s]; !ok {
					r.holes[s] = now
				}
			}
			r.lastSeq = max(r.lastSeq, row.Seq)
			r.mu.Unlock()
			expect = max(expect, row.Seq+1)
			var at int64
			if !row.At.IsZero() {
				at = row.At.UnixNano()
			}
			r.apply(row.SessionID, at, first, now)
			after = row.Seq
		}
		if len(rows) < logPage {
			break
		}
	}
	r.mu.Lock()
	if want > r.done {
		r.done = want
	}
	r.expireHolesLocked(r.v.now().UnixNano())
	r.mu.Unlock()
	return nil
}

func (r *revocations) expireHoles(now int64) {
	r.mu.Lock()
	r.expireHolesLocked(now)
	r.mu.Unlock()
}

// expireHolesLocked forgets holes older than holeTTL and moves readFrom up to just
// below the oldest hole still looked for (or to lastSeq).
func (r *revocations) expireHolesLocked(now int64) {
	floor := r.lastSeq
	for s, at := range r.holes {
		if now-at > int64(holeTTL) {
			delete(r.holes, s)
			continue
		}
		if s-1 < floor {
			floor = s - 1
		}
	}
	// While a catch-up is pending, readFrom stays where it is: a gap may reach
	// further back than the holes remembered.
	if r.ready && r.done == r.want {
		r.readFrom = floor
	}
}
