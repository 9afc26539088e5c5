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
	// maxRoleSets bounds the table of distinct role lists shared between entries.
	maxRoleSets = 4096
)

// entry is one verified token in the local cache. It is immutable but for
// checkedAt. Its Identity's header slices point into the entry itself (and into a
// shared role set), so a cached decision hands out ready header values without
// allocating, and an entry costs one allocation for the struct and one for its
// strings.
type entry struct {
	id        Identity
	deadline  int64        // unix ns from which the token is expired (exp + leeway)
	checkedAt atomic.Int64 // unix ns when the session was last found live
}

// newEntry builds an entry from checked claims. The identity strings share one
// allocation.
func newEntry(c *tokenClaims, roles *roleSet, deadline, checkedAt int64) *entry {
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
	e.id.Roles = roles.list
	if len(c.Amr) > 0 {
		e.id.AMR = slices.Clip(c.Amr)
		e.id.MFA = slices.Contains(c.Amr, "mfa")
		e.id.AMRHeader = []string{strings.Join(c.Amr, ",")}
	}
	// One-element slices over the entry's own fields: the values http.Header wants,
	// without a separate backing array each.
	e.id.UserHeader = unsafe.Slice(&e.id.UserID, 1)
	e.id.EmailHeader = unsafe.Slice(&e.id.Email, 1)
	e.id.SessionHeader = unsafe.Slice(&e.id.SessionID, 1)
	e.id.RolesHeader = roles.header
	return e
}

type cacheShard struct {
	mu     sync.RWMutex
	m      map[[32]byte]*entry
	hits   atomic.Uint64
	misses atomic.Uint64
	_      [128 - 24 - 8 - 16]byte // one shard per cache line pair: no false sharing
}

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
		c.shards[i].m = make(map[[32]byte]*entry)
	}
	return c
}

func (c *localCache) shard(h *[32]byte) *cacheShard { return &c.shards[h[0]%numShards] }

func (c *localCache) get(h *[32]byte) *entry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[*h]
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
	e := s.m[*h]
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
	s := &c.shards[idx]
	s.mu.Lock()
	if _, ok := s.m[*h]; !ok {
		if len(s.m) >= c.shardMax {
			c.evictLocked(s, now)
		}
		c.n.Add(1)
	}
	s.m[*h] = e
	s.mu.Unlock()
}

// evictLocked drops one entry of s: an expired one among the first few looked at
// (map iteration starts at random), else the one of those that expires first.
func (c *localCache) evictLocked(s *cacheShard, now int64) bool {
	var victim [32]byte
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
	s.mu.Lock()
	if s.m[*h] == e {
		delete(s.m, *h)
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
	var victims [][32]byte
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

// roleSet is one distinct role list, shared by every entry that has it.
type roleSet struct {
	list   []string
	header []string // the comma-joined list, as the X-Auth-Roles value
}

// roleTable interns role lists: most users share a handful of them.
type roleTable struct {
	mu sync.Mutex
	m  map[string]*roleSet
}

func (t *roleTable) get(roles []string) *roleSet {
	joined := strings.Join(roles, ",")
	t.mu.Lock()
	defer t.mu.Unlock()
	if rs := t.m[joined]; rs != nil {
		return rs
	}
	rs := &roleSet{list: slices.Clip(slices.Clone(roles)), header: []string{joined}}
	if rs.list == nil {
		rs.list = []string{}
	}
	if t.m == nil {
		t.m = make(map[string]*roleSet)
	}
	if len(t.m) < maxRoleSets {
		t.m[joined] = rs
	}
	return rs
}
