package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/bench/stats"
	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// redis-capacity measures what each operation of vexen-auth costs Redis, for the
// capacity model (docs/scaling.md; scripts/redis-capacity.sh runs it). It starts a
// throwaway redis-server on a free port and drives it through pkg/rediscache, the
// code the issuer and the verifier run:
//
//   - sign-in: the issuer's StorePair then SweepUserTokens (a new user each time);
//   - refresh: StorePair of the new pair then DropRefresh of the old one;
//   - logout: Revoke of one session with one live pair (one event, no subscriber);
//   - lookup: the verifier's Lookup (MGET access_token:{h} revoked:{h}) of a token
//     Redis knows: a local-cache miss that Redis answers;
//   - first sight: Lookup of a token Redis does not know, then Fill: a local miss
//     that goes on to the full check (whose signature and store costs are not
//     Redis's);
//   - fan-out: revocation events published (Publish, as Revoke does) with N
//     subscribers, each a rediscache feed (RunFeed) on a client of its own, as N
//     verifier processes have: the Redis CPU per event is fitted as a + b·N, b being
//     the cost of one event for one subscribed verifier;
//   - idle feeds: N feeds with the verifier's default PING interval (250 ms:
//     MaxStaleness 1s / 4), no events: what each verifier costs Redis per second
//     just by staying fresh.
//
// Each operation runs with -concurrency goroutines, -ops times per round, for
// -rounds rounds; Redis's CPU time comes from INFO cpu (used_cpu_user +
// used_cpu_sys of the server process, microsecond resolution) and its commands from
// INFO commandstats, before and after. The figures are medians over rounds.
func redisCapacityMain(ctx context.Context, args []string) error {
	return redisCapacity(ctx, args, os.Stdout)
}

// redisCapacity measures and writes the report to w.
func redisCapacity(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("redis-capacity", flag.ContinueOnError)
	ops := fs.Int("ops", 20000, "operations per round for each issuer and verifier operation")
	conc := fs.Int("concurrency", 32, "goroutines issuing the operations")
	rounds := fs.Int("rounds", 3, "rounds; every figure is the median over rounds")
	events := fs.Int("events", 2000, "revocation events per fan-out measurement")
	subsFlag := fs.String("subscribers", "0,4,16,48", "subscriber counts for the fan-out fit (comma-separated)")
	idle := fs.Duration("idle", 5*time.Second, "how long the idle feeds run")
	redisCPU := fs.String("redis-cpu", "", "pin redis-server to these CPUs (taskset -c); empty: not pinned")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var subs []int
	for _, s := range strings.Split(*subsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("-subscribers: bad count %q", s)
		}
		subs = append(subs, n)
	}
	if len(subs) < 2 || *ops <= 0 || *conc <= 0 || *rounds <= 0 || *events <= 0 {
		return errors.New("want -ops, -concurrency, -rounds, -events > 0 and at least two -subscribers counts")
	}
	slices.Sort(subs)

	h := &harness{began: time.Now()}
	work, err := os.MkdirTemp("", "vexen-rediscap-")
	if err != nil {
		return err
	}
	h.work = work
	h.defer_(func() { os.RemoveAll(work) })
	defer h.cleanup()
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		return err
	}
	url, err := h.startRedis(ctx, "redis-capacity", *redisCPU)
	if err != nil {
		return err
	}
	rdb, err := rediscache.Open(url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	c := rediscache.New(rdb, rediscache.Options{Prefix: "cap:"})
	admin, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	m := &redisMeter{rdb: redis.NewClient(admin)}
	defer m.rdb.Close()
	version, err := m.rdb.Info(ctx, "server").Result()
	if err != nil {
		return err
	}

	r := &capRun{c: c, conc: *conc, ops: *ops}
	if err := warm(ctx, rdb, *conc); err != nil {
		return err
	}
	results := map[string][]opCost{}
	var fan [][]fanPoint
	var idles []idleCost
	for round := range *rounds {
		h.logf("round %d of %d", round+1, *rounds)
		for _, op := range r.operations(round) {
			oc, err := m.measure(ctx, *ops, func() error { return r.each(ctx, op.do) })
			if err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			results[op.name] = append(results[op.name], oc)
		}
		pts, err := fanOut(ctx, m, url, subs, *events, *conc)
		if err != nil {
			return fmt.Errorf("fan-out: %w", err)
		}
		fan = append(fan, pts)
		ic, err := idleFeeds(ctx, m, url, subs[len(subs)-1], *idle)
		if err != nil {
			return fmt.Errorf("idle feeds: %w", err)
		}
		idles = append(idles, ic)
	}
	printCapacity(w, results, fan, idles, capHeader{
		redis: infoField(version, "redis_version"), ops: *ops, conc: *conc, rounds: *rounds,
		events: *events, idle: *idle,
	})
	return nil
}

// redisMeter reads a Redis server's CPU time and command counts.
type redisMeter struct{ rdb *redis.Client }

type redisStats struct {
	cpu    time.Duration
	memory int64 // used_memory, bytes
	calls  map[string]int64
}

func (m *redisMeter) read(ctx context.Context) (redisStats, error) {
	info, err := m.rdb.Info(ctx, "memory", "cpu", "commandstats").Result()
	if err != nil {
		return redisStats{}, err
	}
	return parseRedisStats(info)
}

// parseRedisStats reads the server's CPU time and the calls of each command from an
// INFO memory cpu commandstats answer.
func parseRedisStats(info string) (redisStats, error) {
	s := redisStats{calls: map[string]int64{}}
	mem, err := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	if err != nil {
		return redisStats{}, fmt.Errorf("INFO memory used_memory: %w", err)
	}
	s.memory = mem
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(infoField(info, f), 64)
		if err != nil {
			return redisStats{}, fmt.Errorf("INFO cpu %s: %w", f, err)
		}
		s.cpu += time.Duration(math.Round(v*1e6)) * time.Microsecond // INFO gives microseconds
	}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return redisStats{}, fmt.Errorf("INFO commandstats %q: %w", line, err)
		}
		s.calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return s, nil
}

// delta is after − before, without the INFO call that read after.
func delta(before, after redisStats) redisStats {
	d := redisStats{cpu: after.cpu - before.cpu, memory: after.memory - before.memory, calls: map[string]int64{}}
	for k, v := range after.calls {
		if n := v - before.calls[k]; n > 0 {
			d.calls[k] = n
		}
	}
	if d.calls["info"]--; d.calls["info"] <= 0 {
		delete(d.calls, "info")
	}
	return d
}

// opCost is one measured operation: Redis CPU time and commands per operation.
type opCost struct {
	cpuPerOp   time.Duration
	memPerOp   float64 // bytes of used_memory added per operation (what it leaves in Redis)
	cmdsPerOp  float64
	byCommand  map[string]float64
	clientCPU  time.Duration // this process's CPU time per operation
	wallPerOps time.Duration // wall time of the whole batch
}

func (m *redisMeter) measure(ctx context.Context, n int, run func() error) (opCost, error) {
	before, err := m.read(ctx)
	if err != nil {
		return opCost{}, err
	}
	c0, t0 := selfCPU(), time.Now()
	if err := run(); err != nil {
		return opCost{}, err
	}
	wall, cl := time.Since(t0), selfCPU()-c0
	after, err := m.read(ctx)
	if err != nil {
		return opCost{}, err
	}
	d := delta(before, after)
	oc := opCost{cpuPerOp: d.cpu / time.Duration(n), memPerOp: float64(d.memory) / float64(n), byCommand: map[string]float64{}, clientCPU: cl / time.Duration(n), wallPerOps: wall}
	for k, v := range d.calls {
		oc.byCommand[k] = float64(v) / float64(n)
		oc.cmdsPerOp += float64(v) / float64(n)
	}
	return oc, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// capRun holds the tokens one round's operations share.
type capRun struct {
	c         *rediscache.Cache
	conc, ops int
	pairs     []rediscache.Pair // the round's signed-in pairs, refreshed in place
}

type capOp struct {
	name string
	do   func(ctx context.Context, i int) error
}

func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// claimsOf is an access token's claims as the issuer writes them (the shape, with
// sizes like the real ones: ES256 tokens of a user with two roles).
func claimsOf(p rediscache.Pair, iat time.Time) []byte {
	return fmt.Appendf(nil, `{"iss":"https://auth.example.com","aud":["vexen"],"sub":%q,"sid":%q,"email":%q,`+
		`"roles":["user","reader"],"amr":["pwd"],"iat":%d,"exp":%d,"jti":%q}`,
		p.UserID, p.SessionID, p.Email, iat.Unix(), p.AccessExpiresAt.Unix(), p.AccessHash[:22])
}

func (r *capRun) operations(round int) []capOp {
	r.pairs = make([]rediscache.Pair, r.ops)
	now := time.Now()
	for i := range r.pairs {
		uid := fmt.Sprintf("r%d-user-%07d", round, i)
		p := rediscache.Pair{
			UserID: uid, Email: uid + "@example.com", SessionID: fmt.Sprintf("r%d-sess-%07d", round, i),
			AccessHash: tokenHash("access " + uid), AccessExpiresAt: now.Add(15 * time.Minute),
			RefreshHash: tokenHash("refresh " + uid), RefreshExpiresAt: now.Add(720 * time.Hour),
			LoginAt: now,
		}
		p.AccessClaims = claimsOf(p, now)
		r.pairs[i] = p
	}
	return []capOp{
		{"sign-in", func(ctx context.Context, i int) error {
			if err := r.c.StorePair(ctx, r.pairs[i]); err != nil {
				return err
			}
			_, err := r.c.SweepUserTokens(ctx, r.pairs[i].UserID)
			return err
		}},
		{"lookup", func(ctx context.Context, i int) error {
			l, err := r.c.Lookup(ctx, r.pairs[i].AccessHash)
			if err == nil && l.Claims == nil {
				err = errors.New("lookup missed a token Redis holds")
			}
			return err
		}},
		{"refresh", func(ctx context.Context, i int) error {
			old := r.pairs[i]
			p := old
			p.AccessHash, p.RefreshHash = tokenHash("access 2 "+p.UserID), tokenHash("refresh 2 "+p.UserID)
			p.AccessClaims, p.LoginAt = claimsOf(p, time.Now()), time.Time{}
			if err := r.c.StorePair(ctx, p); err != nil {
				return err
			}
			r.pairs[i] = p
			return r.c.DropRefresh(ctx, p.UserID, old.RefreshHash, old.AccessHash)
		}},
		{"logout", func(ctx context.Context, i int) error {
			p := r.pairs[i]
			return r.c.Revoke(ctx, store.RevokeResult{
				Revocations: []store.Revocation{{Seq: int64(i + 1), SessionID: p.SessionID, UserID: p.UserID, Reason: store.ReasonLogout, At: time.Now()}},
				Tokens: []store.TokenHashes{{UserID: p.UserID, Access: p.AccessHash, AccessExpiresAt: p.AccessExpiresAt,
					Refresh: p.RefreshHash}},
			})
		}},
		{"first sight", func(ctx context.Context, i int) error {
			p := r.pairs[i]
			h := tokenHash(fmt.Sprintf("unseen %d %s", round, p.UserID))
			l, err := r.c.Lookup(ctx, h)
			if err != nil {
				return err
			}
			if l.Claims != nil || l.Revoked {
				return errors.New("a token never written was in Redis")
			}
			return r.c.Fill(ctx, h, p.AccessClaims, p.AccessExpiresAt)
		}},
	}
}

// each runs do for 0..ops-1 on conc goroutines; the first error stops it.
func (r *capRun) each(ctx context.Context, do func(context.Context, int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, r.conc)
	for g := range r.conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= r.ops || ctx.Err() != nil {
					return
				}
				if err := do(ctx, i); err != nil {
					errs[g] = fmt.Errorf("operation %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}

// warm fills the client's pool: conc goroutines PING a few times each, so that no
// measurement pays for connecting.
func warm(ctx context.Context, rdb redis.UniversalClient, conc int) error {
	r := &capRun{conc: conc, ops: 20 * conc}
	return r.each(ctx, func(ctx context.Context, _ int) error { return rdb.Ping(ctx).Err() })
}

// countingFeed counts the events a feed delivers.
type countingFeed struct {
	events     *atomic.Int64
	subscribed chan struct{}
	once       sync.Once
}

func (f *countingFeed) Subscribed(context.Context) { f.once.Do(func() { close(f.subscribed) }) }
func (f *countingFeed) Event(rediscache.Event)     { f.events.Add(1) }
func (f *countingFeed) Fresh(time.Time)            {}
func (f *countingFeed) Down(error)                 {}

// startFeeds starts n feeds, each on a client of its own (as n verifier processes),
// PINGing every ping, and waits until all are subscribed. stop ends them.
func startFeeds(ctx context.Context, url string, n int, ping time.Duration, events *atomic.Int64) (stop func(), err error) {
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clients []redis.UniversalClient
	stop = func() {
		cancel()
		wg.Wait()
		for _, c := range clients {
			c.Close()
		}
	}
	var feeds []*countingFeed
	for range n {
		rdb, err := rediscache.Open(url)
		if err != nil {
			stop()
			return nil, err
		}
		clients = append(clients, rdb)
		c := rediscache.New(rdb, rediscache.Options{Prefix: "cap:"})
		f := &countingFeed{events: events, subscribed: make(chan struct{})}
		feeds = append(feeds, f)
		wg.Go(func() { _ = c.RunFeed(fctx, f, ping) })
	}
	deadline := time.After(30 * time.Second)
	for _, f := range feeds {
		select {
		case <-f.subscribed:
		case <-deadline:
			stop()
			return nil, errors.New("feeds not subscribed within 30s")
		}
	}
	return stop, nil
}

// fanPoint is the cost of publishing events with n subscribers.
type fanPoint struct {
	subscribers int
	cpuPerEvent time.Duration // Redis CPU per published event
	cliPerEvent time.Duration // this process's CPU per published event (publishers and subscribers)
	cmdsPerEv   float64
}

func fanOut(ctx context.Context, m *redisMeter, url string, subs []int, events, conc int) ([]fanPoint, error) {
	rdb, err := rediscache.Open(url)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	pub := rediscache.New(rdb, rediscache.Options{Prefix: "cap:"})
	if err := warm(ctx, rdb, conc); err != nil {
		return nil, err
	}
	var out []fanPoint
	for _, n := range subs {
		var got atomic.Int64
		// The feeds PING once at subscription, then not within the measurement.
		stop, err := startFeeds(ctx, url, n, time.Hour, &got)
		if err != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond) // the first PINGs and INFOs answered
		r := &capRun{conc: conc, ops: events}
		var cl time.Duration
		oc, err := m.measure(ctx, events, func() error {
			c0 := selfCPU()
			err := r.each(ctx, func(ctx context.Context, i int) error {
				return pub.Publish(ctx, store.Revocation{Seq: int64(i + 1), SessionID: fmt.Sprintf("fan-%07d", i),
					UserID: fmt.Sprintf("user-%07d", i), Reason: store.ReasonLogout, At: time.Now()})
			})
			if err != nil {
				return err
			}
			want := int64(n * events)
			deadline := time.Now().Add(30 * time.Second)
			for got.Load() < want {
				if time.Now().After(deadline) {
					return fmt.Errorf("%d of %d events delivered within 30s", got.Load(), want)
				}
				time.Sleep(time.Millisecond)
			}
			cl = selfCPU() - c0
			return nil
		})
		stop()
		if err != nil {
			return nil, err
		}
		out = append(out, fanPoint{subscribers: n, cpuPerEvent: oc.cpuPerOp, cliPerEvent: cl / time.Duration(events), cmdsPerEv: oc.cmdsPerOp})
	}
	return out, nil
}

// idleCost is what n idle feeds cost Redis per feed and second.
type idleCost struct {
	feeds          int
	cpuPerFeedSec  time.Duration
	cmdsPerFeedSec float64
	byCommand      map[string]float64
}

func idleFeeds(ctx context.Context, m *redisMeter, url string, n int, d time.Duration) (idleCost, error) {
	var got atomic.Int64
	// The verifier's PING interval with the default MaxStaleness (1s): 1s/4.
	stop, err := startFeeds(ctx, url, n, 250*time.Millisecond, &got)
	if err != nil {
		return idleCost{}, err
	}
	defer stop()
	time.Sleep(300 * time.Millisecond)
	feedSec := float64(n) * d.Seconds()
	oc, err := m.measure(ctx, 1, func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	})
	if err != nil {
		return idleCost{}, err
	}
	ic := idleCost{feeds: n, cpuPerFeedSec: time.Duration(float64(oc.cpuPerOp) / feedSec), byCommand: map[string]float64{}}
	for k, v := range oc.byCommand {
		ic.byCommand[k] = v / feedSec
		ic.cmdsPerFeedSec += v / feedSec
	}
	return ic, nil
}

type capHeader struct {
	redis                     string
	ops, conc, rounds, events int
	idle                      time.Duration
}

func medianDur(xs []time.Duration) time.Duration { return stats.MedianDuration(xs) }

func medianOf[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return stats.Median(v)
}

func usec(d time.Duration) string {
	return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
}

func commandMix(ocs []opCost) string {
	keys := map[string]bool{}
	for _, oc := range ocs {
		for k := range oc.byCommand {
			keys[k] = true
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		v := medianOf(ocs, func(o opCost) float64 { return o.byCommand[k] })
		if v >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.ToUpper(k), v))
		}
	}
	return strings.Join(parts, ", ")
}

// fit is the least-squares line y = a + b·x.
func fit(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	b = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return (sy - b*sx) / n, b
}

func printCapacity(w io.Writer, res map[string][]opCost, fan [][]fanPoint, idles []idleCost, hd capHeader) {
	fmt.Fprintf(w, "# Redis cost per operation (vexenbench redis-capacity)\n\n")
	fmt.Fprintf(w, "Redis %s, throwaway server on loopback; %d operations per round on %d goroutines, %d rounds, medians over rounds.\n",
		hd.redis, hd.ops, hd.conc, hd.rounds)
	fmt.Fprintf(w, "Redis CPU is used_cpu_user + used_cpu_sys (INFO cpu); a Redis shard is one core: ops/s per shard = 1 s / CPU per op. "+
		"Memory left is the change of used_memory (INFO memory) over the step, per operation: the keys it leaves until their TTL.\n\n")
	fmt.Fprintf(w, "| operation | Redis CPU per op | ops/s per Redis core | commands per op | commands | memory left per op | client CPU per op | rounds (Redis CPU per op) |\n")
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, name := range []string{"sign-in", "refresh", "logout", "lookup", "first sight"} {
		ocs := res[name]
		var cpus, cls []time.Duration
		var per []string
		for _, oc := range ocs {
			cpus = append(cpus, oc.cpuPerOp)
			cls = append(cls, oc.clientCPU)
			per = append(per, usec(oc.cpuPerOp))
		}
		cpu := medianDur(cpus)
		fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %s | %.0f B | %s | %s |\n", name, usec(cpu), float64(time.Second)/float64(cpu),
			medianOf(ocs, func(o opCost) float64 { return o.cmdsPerOp }), commandMix(ocs),
			medianOf(ocs, func(o opCost) float64 { return o.memPerOp }), usec(medianDur(cls)), strings.Join(per, ", "))
	}

	fmt.Fprintf(w, "\n## Revocation fan-out\n\n%d events published per point (PUBLISH in MULTI/EXEC, as the issuer's Revoke), each subscriber a feed on a client of its own. Fit per round: Redis CPU per event = a + b × subscribers.\n\n", hd.events)
	fmt.Fprintf(w, "| subscribers | Redis CPU per event | client CPU per event (publishers + subscribers) |\n| --- | --- | --- |\n")
	for i := range fan[0] {
		var cpu, cl []time.Duration
		for _, pts := range fan {
			cpu = append(cpu, pts[i].cpuPerEvent)
			cl = append(cl, pts[i].cliPerEvent)
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", fan[0][i].subscribers, usec(medianDur(cpu)), usec(medianDur(cl)))
	}
	var as, bs, cbs []float64
	for _, pts := range fan {
		var xs, ys, cs []float64
		for _, p := range pts {
			xs = append(xs, float64(p.subscribers))
			ys = append(ys, float64(p.cpuPerEvent)/float64(time.Microsecond))
			cs = append(cs, float64(p.cliPerEvent)/float64(time.Microsecond))
		}
		a, b := fit(xs, ys)
		_, cb := fit(xs, cs)
		as, bs, cbs = append(as, a), append(bs, b), append(cbs, cb)
	}
	var bstr []string
	for _, b := range bs {
		bstr = append(bstr, fmt.Sprintf("%.2f", b))
	}
	fmt.Fprintf(w, "\nFit (median over rounds): a = %.2f µs per event, b = %.2f µs per event per subscribed verifier (rounds: %s µs); "+
		"subscriber side (this process, per event per subscriber): %.2f µs.\n",
		stats.Median(as), stats.Median(bs), strings.Join(bstr, ", "), stats.Median(cbs))

	fmt.Fprintf(w, "\n## Idle feeds\n\n%d feeds PINGing every 250 ms (the verifier's default: MaxStaleness 1s / 4) for %v, no events.\n\n", idles[0].feeds, hd.idle)
	var icpu []time.Duration
	for _, ic := range idles {
		icpu = append(icpu, ic.cpuPerFeedSec)
	}
	keys := map[string]bool{}
	for _, ic := range idles {
		for k := range ic.byCommand {
			keys[k] = true
		}
	}
	var mix []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		mix = append(mix, fmt.Sprintf("%s %.2f", strings.ToUpper(k), medianOf(idles, func(ic idleCost) float64 { return ic.byCommand[k] })))
	}
	fmt.Fprintf(w, "| Redis CPU per verifier per second | commands per verifier per second | commands |\n| --- | --- | --- |\n")
	fmt.Fprintf(w, "| %s | %.2f | %s |\n\n", usec(medianDur(icpu)), medianOf(idles, func(ic idleCost) float64 { return ic.cmdsPerFeedSec }), strings.Join(mix, ", "))
}
