package verify

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// numShards splits the local cache (and the tombstones) so that concurrent
// decisions rarely touch the same lock.
const (
	numShards     = 64
	numTombShards = 16
	// evictSample is how many entries an insert into a full shard looks at to pick a
	// victim: an expired one if any, else the one that expires first.
	evictSample = 8
	// maxShapes bounds the table of distinct role and amr lists shared between
	// entries.
	maxShapes = 4096
)

// entry is one verified token in the local cache. It is immutable but for
// checkedAt, and small: the identity's strings share one allocation, its roles and
// amr (lists and rendered header values) are a shared claimShape, and its other
// header values are views of its own fields (Identity's header methods). One token
// costs two allocations, 80 + len(sub+email+sid) bytes rounded up to size
// classes, plus its slot in a shard's map (FootprintOf).
type entry struct {
	id        Identity
	deadline  int64        // unix ns from which the token is expired (exp + leeway)
	checkedAt atomic.Int64 // unix ns when the session was last found live
}

// newEntry builds an entry from checked claims. The identity strings share one
// allocation.
func newEntry(c *tokenClaims, shape *claimShape, deadline, checkedAt int64) *entry {
	var b strings.Builder
	b.Grow(len(c.Sub) + len(c.Email) + len(c.Sid))
	b.WriteString(c.Sub)
	b.WriteString(c.Email)
	b.WriteString(c.Sid)
	s := b.String()
	e := &entry{deadline: deadline}
	e.checkedAt.Store(checkedAt)
	i, j := len(c.Sub), len(c.Sub)+len(c.Email)
	e.id.UserID = s[:i]
	e.id.Email = s[i:j]
	e.id.SessionID = s[j:]
	e.id.shape = shape
	return e
}

type cacheShard struct {
	mu     sync.RWMutex
	m      map[cacheKey]*entry
	hits   atomic.Uint64
	misses atomic.Uint64
	_      [128 - 24 - 8 - 16]byte // one shard per cache line pair: no false sharing
}

// cacheKey is the first half of a token's SHA-256, the local cache's key. Half
// is enough: an entry exists only for a token whose signature was checked, so
// another token that finds it must have the same first 128 bits of SHA-256 as that
// token, a second preimage (2^128 work, the strength of the P-256 signature
// itself); a collision between two tokens of the attacker's own (2^64) gives
// nothing, since an entry only ever hands out the identity of the token that made
// it, and neither of the attacker's tokens is someone else's. The half key
// makes a map slot 24 bytes instead of 40 (FootprintOf).
type cacheKey [16]byte

func keyOf(h *[32]byte) cacheKey { return cacheKey(h[:16]) }

// localCache is layer (a): token hash → entry, sharded, bounded in entries.
type localCache struct {
	shards   [numShards]cacheShard
	n        atomic.Int64
	max      int64
	shardMax int
}

func newLocalCache(maxEntries int) *localCache {
	c := &localCache{max: int64(maxEntries)}
	// A shard may hold a little more than its even share (hashes are not perfectly
	// even) but the total stays bounded by max.
	per := maxEntries / numShards
	c.shardMax = per + per/8 + 16
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]*entry)
	}
	return c
}

func (c *localCache) shard(h *[32]byte) *cacheShard { return &c.shards[h[0]%numShards] }

func (c *localCache) get(h *[32]byte) *entry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[keyOf(h)]
	s.mu.RUnlock()
	if e == nil {
		s.misses.Add(1)
	} else {
		s.hits.Add(1)
	}
	return e
}

// peek is get without counting.
func (c *localCache) peek(h *[32]byte) *entry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[keyOf(h)]
	s.mu.RUnlock()
	return e
}

// put inserts e under h. A full cache first gives up one entry (of this shard, or
// the next one that has any); a full shard gives up one of its own.
func (c *localCache) put(h *[32]byte, e *entry, now int64) {
	idx := int(h[0] % numShards)
	if c.n.Load() >= c.max {
		for i := range numShards {
			s := &c.shards[(idx+i)%numShards]
			s.mu.Lock()
			ok := c.evictLocked(s, now)
			s.mu.Unlock()
			if ok {
				break
			}
		}
	}
	k := keyOf(h)
	s := &c.shards[idx]
	s.mu.Lock()
	if _, ok := s.m[k]; !ok {
		if len(s.m) >= c.shardMax {
			c.evictLocked(s, now)
		}
		c.n.Add(1)
	}
	s.m[k] = e
	s.mu.Unlock()
}

// evictLocked drops one entry of s: an expired one among the first few looked at
// (map iteration starts at random), else the one of those that expires first.
func (c *localCache) evictLocked(s *cacheShard, now int64) bool {
	var victim cacheKey
	found := false
	oldest := int64(0)
	n := 0
	for k, e := range s.m {
		if e.deadline <= now {
			victim, found = k, true
			break
		}
		if !found || e.deadline < oldest {
			victim, oldest, found = k, e.deadline, true
		}
		if n++; n >= evictSample {
			break
		}
	}
	if found {
		delete(s.m, victim)
		c.n.Add(-1)
	}
	return found
}

// remove deletes h if it still maps to e.
func (c *localCache) remove(h *[32]byte, e *entry) {
	s := c.shard(h)
	k := keyOf(h)
	s.mu.Lock()
	if s.m[k] == e {
		delete(s.m, k)
		c.n.Add(-1)
	}
	s.mu.Unlock()
}

// clear drops every entry.
func (c *localCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		c.n.Add(-int64(len(s.m)))
		clear(s.m)
		s.mu.Unlock()
	}
}

// sweep drops expired entries and entries whose session is tombstoned.
func (c *localCache) sweep(now int64, tombs *tombstones) int {
	dropped := 0
	var victims []cacheKey
	for i := range c.shards {
		s := &c.shards[i]
		victims = victims[:0]
		s.mu.RLock()
		for k, e := range s.m {
			if e.deadline <= now || tombs.has(e.id.SessionID, now) {
				victims = append(victims, k)
			}
		}
		s.mu.RUnlock()
		if len(victims) == 0 {
			continue
		}
		s.mu.Lock()
		for _, k := range victims {
			if e, ok := s.m[k]; ok && (e.deadline <= now || tombs.has(e.id.SessionID, now)) {
				delete(s.m, k)
				c.n.Add(-1)
				dropped++
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

func (c *localCache) stats() (hits, misses uint64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}

// tombstones are revoked sessions: sid → unix ns until which any cached entry of
// the session is refused. Every cache hit consults them, so a verification that
// finishes after a revocation was applied cannot bring the session back.
type tombstones struct {
	n      atomic.Int64
	seed   maphash.Seed
	shards [numTombShards]tombShard
}

type tombShard struct {
	mu sync.RWMutex
	m  map[string]int64
	_  [128 - 24 - 8]byte
}

func newTombstones() *tombstones {
	t := &tombstones{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]int64)
	}
	return t
}

func (t *tombstones) shard(sid string) *tombShard {
	return &t.shards[maphash.String(t.seed, sid)%numTombShards]
}

// has reports whether sid is tombstoned at now.
func (t *tombstones) has(sid string, now int64) bool {
	if t.n.Load() == 0 {
		return false
	}
	s := t.shard(sid)
	s.mu.RLock()
	until, ok := s.m[sid]
	s.mu.RUnlock()
	return ok && now < until
}

// add tombstones sid until the given time (extending, never shortening); it
// reports whether sid was not tombstoned before.
func (t *tombstones) add(sid string, until int64) bool {
	s := t.shard(sid)
	s.mu.Lock()
	old, ok := s.m[sid]
	if !ok {
		t.n.Add(1)
	}
	if until > old {
		s.m[sid] = until
	}
	s.mu.Unlock()
	return !ok
}

// sweep forgets tombstones that ended.
func (t *tombstones) sweep(now int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for sid, until := range s.m {
			if until <= now {
				delete(s.m, sid)
				t.n.Add(-1)
			}
		}
		s.mu.Unlock()
	}
}

// claimShape is one distinct pair of role and amr lists with their rendered
// header values, shared by every entry that has it.
type claimShape struct {
	roles       []string // never nil
	amr         []string // nil without amr
	mfa         bool     // amr contains "mfa"
	rolesHeader []string // the comma-joined roles, as the X-Auth-Roles value
	amrHeader   []string // the comma-joined amr, as the X-Auth-AMR value; nil without amr
}

// newClaimShape renders a shape of copies of roles and amr.
func newClaimShape(roles, amr []string) *claimShape {
	cs := &claimShape{roles: slices.Clip(slices.Clone(roles)), rolesHeader: []string{strings.Join(roles, ",")}}
	if cs.roles == nil {
		cs.roles = []string{}
	}
	if len(amr) > 0 {
		cs.amr = slices.Clip(slices.Clone(amr))
		cs.mfa = slices.Contains(amr, "mfa")
		cs.amrHeader = []string{strings.Join(amr, ",")}
	}
	return cs
}

// shapeTable interns claim shapes: most users share a handful of role lists, and
// amr takes a few values (pwd; pwd,otp,mfa; webauthn,mfa …).
type shapeTable struct {
	mu sync.Mutex
	m  map[string]*claimShape
}

// get returns the shape of roles and amr, shared when the table has room
// (maxShapes); the slices are copies, never the caller's.
func (t *shapeTable) get(roles, amr []string) *claimShape {
	rj, aj := strings.Join(roles, ","), strings.Join(amr, ",")
	// The joined lists are ambiguous (a role may contain a comma): a shape found
	// under the key is used only if its lists are equal, else a new one is made.
	key := rj + "\x00" + aj
	t.mu.Lock()
	defer t.mu.Unlock()
	if cs := t.m[key]; cs != nil && slices.Equal(cs.roles, roles) && slices.Equal(cs.amr, amr) {
		return cs
	}
	cs := newClaimShape(roles, amr)
	if t.m == nil {
		t.m = make(map[string]*claimShape)
	}
	if len(t.m) < maxShapes {
		t.m[key] = cs
	}
	return cs
}

// Footprint is the heap one cached token costs, by part, for capacity planning
// (the benchmark's memory scenario reports it beside the measured RSS). Role and
// amr lists are shared (claimShape) and cost nothing per token.
type Footprint struct {
	Entry   int // the entry: identity, expiry, last check (one allocation)
	Strings int // user ID, email and session ID (one allocation)
	// MapSlot is the token's slot in its shard's map: the key (half the
	// SHA-256) and the pointer. The map holds more slots than entries (its load factor, between
	// 7/16 and 7/8 as it grows), so a token costs MapSlot / load factor plus a
	// control byte.
	MapSlot int
}

// FootprintOf is the Footprint of a token with these claims.
func FootprintOf(sub, email, sid string) Footprint {
	return Footprint{
		Entry:   sizeClass(int(unsafe.Sizeof(entry{}))),
		Strings: sizeClass(len(sub) + len(email) + len(sid)),
		MapSlot: int(unsafe.Sizeof(cacheKey{}) + unsafe.Sizeof((*entry)(nil))),
	}
}

// sizeClasses are the Go allocator's small size classes up to 1 KiB
// (runtime/sizeclasses.go): an allocation takes the first that fits.
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024}

// sizeClass is the heap an allocation of n bytes takes (n rounded up to 8 above
// 1 KiB, which understates the larger classes slightly).
func sizeClass(n int) int {
	if n == 0 {
		return 0
	}
	for _, c := range sizeClasses {
		if n <= c {
			return c
		}
	}
	return (n + 7) &^ 7
}
