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
	// windowMargin widens the revocation window loaded at start beyond
	// MaxTokenLife + Leeway, for clock differences between issuers and verifiers.
	windowMargin = time.Minute
)

// revocations holds the verifier's revocation window: a tombstone for every
// session revoked within the last MaxTokenLife + Leeway, loaded from the store's
// log before the first decision (loaded) and kept current by Redis pub/sub events
// (the fast path: sub-millisecond) and by reading the log (the truth: an event the
// issuer failed to publish is found there). Since no accepted token lives longer
// than MaxTokenLife, a token whose session has no tombstone was not revoked as of
// the last complete log read: Redis can add revocations but never hide one.
//
// Freshness: freshAt is the time T of the last proof that every revocation
// committed before T has been applied: a log read that started at T and read to
// the end; 0 means none. A PONG on the subscription proves only that the events
// published before it arrived, so it does not count. A (re)subscription or a gap
// in the sequence numbers clears freshness until a catch-up has finished.
type revocations struct {
	v       *Verifier
	freshAt atomic.Int64
	// from is the start of the window loaded by init (unix ns): every revocation
	// at or after it is tombstoned; 0 until init has run.
	from    atomic.Int64
	loaded  atomic.Bool // the window was read: decisions may allow
	barrier barrier     // strict mode's shared log reads

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

// window is how far back revocations can still matter: the longest accepted
// token life plus leeway, plus a margin for clock differences.
func (v *Verifier) window() int64 {
	return int64(v.cfg.MaxTokenLife) + v.leeway + int64(windowMargin)
}

// init reads where the revocation log ends, then every row of the window, and
// tombstones their sessions: from then on the verifier knows every revocation that
// can still matter, and the feed applies what comes after.
func (r *revocations) init(ctx context.Context) error {
	start := r.v.now().UnixNano()
	seq, err := r.v.sessions.LastRevocationSeq(ctx)
	if err != nil {
		r.v.backendFailed(ctx, opStoreLog, err)
		return err
	}
	since := time.Unix(0, start-r.v.window())
	var after int64
	for {
		rows, err := r.v.sessions.RevocationsSince(ctx, since, after, logPage)
		if err != nil {
			r.v.backendFailed(ctx, opStoreLog, err)
			return err
		}
		now := r.v.now().UnixNano()
		for _, row := range rows {
			r.apply(row.SessionID, unixNano(row.At), false, now)
			after = row.Seq
		}
		if len(rows) < logPage {
			break
		}
	}
	r.mu.Lock()
	r.lastSeq, r.readFrom, r.ready = seq, seq, true
	r.mu.Unlock()
	r.from.Store(since.UnixNano())
	r.loaded.Store(true)
	// Every revocation committed before start has been applied.
	r.markFresh(start)
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
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
	// The log is read every MaxStaleness/2 with or without Redis: it is what bounds
	// the time a revocation takes to be seen when its event was never published.
	staleness := time.Duration(v.staleness)
	poll := max(staleness/2, minPoll)
	if v.shared == nil {
		r.poll(ctx, poll)
		return
	}
	wg.Go(func() { r.poll(ctx, poll) })
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

// poll reads the log every interval; a successful read that started at T makes
// the feed fresh as of T.
func (r *revocations) poll(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		start := r.v.now()
		if err := r.catchUp(ctx); err == nil {
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

// fresh: a PONG proves the subscription delivers what is published, not that
// every revocation was published (the issuer's publish can fail), so freshness
// comes only from reading the log.
func (r *revocations) fresh(time.Time) {}

func (r *revocations) markFresh(at int64) {
	r.mu.Lock()
	if r.ready && r.done == r.want && at > r.freshAt.Load() {
		r.freshAt.Store(at)
	}
	r.mu.Unlock()
}

// event applies one pub/sub event; a gap in seq asks for a catch-up.
//
// The session is tombstoned before the event can move readFrom past its seq:
// a strict decision's log read starts after readFrom, so if the tombstone came
// after, a request arriving in between would read nothing new, find no
// tombstone, and accept a session whose logout had returned.
func (r *revocations) event(ev rediscache.Event) {
	now := r.v.now().UnixNano()
	r.v.tombstoneAt(ev.SessionID, ev.At, now)
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
	if r.v.hooks.event != nil {
		r.v.hooks.event()
	}
	if first && ev.At > 0 && now >= ev.At {
		r.v.m.propagation.Observe(time.Duration(now - ev.At).Seconds())
	}
	if gap {
		r.request()
	}
}

// apply tombstones a revoked session (revoked at `at`, unix ns, 0 = unknown);
// the first time a row is seen its propagation delay (row timestamp → now) is
// recorded.
func (r *revocations) apply(sid string, at int64, first bool, now int64) {
	r.v.tombstoneAt(sid, at, now)
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
			r.apply(row.SessionID, unixNano(row.At), first, now)
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

// barrier makes strict decisions wait for a complete log read that started after
// they arrived. Requests that arrive while a read runs share the next one, so the
// store sees one read per round, not one per request.
type barrier struct {
	mu      sync.Mutex
	started uint64        // rounds started
	done    uint64        // the latest round that finished successfully
	running bool          // a round is reading the log
	wake    chan struct{} // closed when the running round ends
	err     error         // the outcome of the last round that ended
}

// sync returns once every revocation committed before it was called has been
// applied, or with the error of the log read that should have shown it.
func (r *revocations) sync(ctx context.Context) error {
	b := &r.barrier
	b.mu.Lock()
	need := b.started + 1 // a round already running may have read before we came
	for b.done < need {
		if !b.running {
			b.running = true
			b.started++
			round := b.started
			b.wake = make(chan struct{})
			b.mu.Unlock()
			start := r.v.now().UnixNano()
			// Detached from this caller: the others wait for the same read.
			err := r.catchUp(context.WithoutCancel(ctx))
			if err == nil {
				r.markFresh(start)
			}
			b.mu.Lock()
			b.running = false
			b.err = err
			if err == nil {
				b.done = max(b.done, round)
			}
			close(b.wake)
			if err != nil {
				b.mu.Unlock()
				return err
			}
			continue
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		b.mu.Lock()
		if b.err != nil && b.done < need {
			err := b.err
			b.mu.Unlock()
			return err
		}
	}
	b.mu.Unlock()
	return nil
}
