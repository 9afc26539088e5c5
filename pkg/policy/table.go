package policy

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// table is a read-only hash table from strings to values, built once when a
// policy is compiled and looked up on every request without allocating. Its hash
// reads eight bytes at a time and folds ASCII case (c|0x20), so a host can be
// looked up in any case without lowering it first; keys are compared exactly, or
// (lookupFold) with the request's bytes folded the same way. Open addressing,
// linear probing, at most half full; the seed is random per table, so that
// nobody can choose hosts that collide with a policy's.
type table[V any] struct {
	seed  uint64
	mask  uint64
	slots []tableSlot[V] // a power of two long; nil when empty
}

type tableSlot[V any] struct {
	key  string
	val  V
	used bool
	// plain: key is a plain host (plainHost), canonical as it stands in any case.
	plain bool
}

const (
	hashMul  = 0x9E3779B97F4A7C15
	foldMask = 0x2020202020202020
)

// hashFold hashes s with every byte or'ed with 0x20: for the bytes of a
// canonical host (letters, digits, '-', '.', ':') that maps upper case to lower
// case and leaves the rest alone.
func hashFold(s string, seed uint64) uint64 {
	h := seed ^ uint64(len(s))*hashMul
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	n := len(b)
	switch {
	case n >= 8:
		for len(b) > 8 {
			h = mix(h, binary.LittleEndian.Uint64(b)|foldMask)
			b = b[8:]
		}
		// The last eight bytes, overlapping what came before when n is not a multiple of 8.
		h = mix(h, binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[n-8:]), 8))|foldMask)
	case n >= 4:
		w := uint64(binary.LittleEndian.Uint32(b))<<32 | uint64(binary.LittleEndian.Uint32(b[n-4:]))
		h = mix(h, w|foldMask)
	case n > 0:
		w := uint64(b[0])<<16 | uint64(b[n/2])<<8 | uint64(b[n-1])
		h = mix(h, w|0x202020)
	}
	return h ^ h>>29
}

func mix(h, w uint64) uint64 {
	hi, lo := bits.Mul64(h^w, hashMul)
	return hi ^ lo
}

// equalFold reports whether s, its bytes or'ed with 0x20, equals key (which is
// lower case: every byte already has 0x20 set).
func equalFold(s, key string) bool {
	if len(s) != len(key) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i]|0x20 != key[i] {
			return false
		}
	}
	return true
}

// newTable builds the table of m. Keys of a table looked up with lookupFold must
// be lower case.
func newTable[V any](m map[string]V) table[V] {
	var t table[V]
	if len(m) == 0 {
		return t
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	t.seed = binary.LittleEndian.Uint64(seed[:])
	n := 8
	for n < 2*len(m) {
		n *= 2
	}
	t.slots = make([]tableSlot[V], n)
	t.mask = uint64(n - 1)
	for k, v := range m {
		i := hashFold(k, t.seed) & t.mask
		for t.slots[i].used {
			i = (i + 1) & t.mask
		}
		t.slots[i] = tableSlot[V]{key: k, val: v, used: true, plain: plainHost(k)}
	}
	return t
}

// lookup finds s exactly.
func (t *table[V]) lookup(s string) (V, bool) {
	if t.slots != nil {
		for i := hashFold(s, t.seed) & t.mask; t.slots[i].used; i = (i + 1) & t.mask {
			if t.slots[i].key == s {
				return t.slots[i].val, true
			}
		}
	}
	var zero V
	return zero, false
}

// lookupFold finds s in any ASCII case (s is a canonical host: letters, digits,
// '-', '.', ':').
func (t *table[V]) lookupFold(s string) (V, bool) {
	if t.slots != nil {
		for i := hashFold(s, t.seed) & t.mask; t.slots[i].used; i = (i + 1) & t.mask {
			if sl := &t.slots[i]; sl.key == s || equalFold(s, sl.key) {
				return sl.val, true
			}
		}
	}
	var zero V
	return zero, false
}

// lookupHost finds s, a Host value as the request sent it, unread: s must equal a
// key but for the case of the key's letters (unlike lookupFold, no other byte may
// differ, so a hit on a plain key proves that s is a plain host). It reports the
// value, whether s was found, and whether its key is a plain host.
func (t *table[V]) lookupHost(s string) (v V, found, plain bool) {
	if t.slots != nil {
		for i := hashFold(s, t.seed) & t.mask; t.slots[i].used; i = (i + 1) & t.mask {
			if sl := &t.slots[i]; sameHost(s, sl.key) {
				return sl.val, true, sl.plain
			}
		}
	}
	return v, false, false
}

// sameHost reports whether s equals key but for the case of key's letters (key is
// lower-case ASCII). Eight bytes at a time.
func sameHost(s, key string) bool {
	n := len(s)
	if n != len(key) {
		return false
	}
	if n < 8 {
		for i := 0; i < n; i++ {
			if d := s[i] ^ key[i]; d != 0 && (d != 0x20 || key[i] < 'a' || key[i] > 'z') {
				return false
			}
		}
		return true
	}
	for i := 0; i < n-8; i += 8 {
		if k := word(key, i); (word(s, i)^k)&^letters(k) != 0 {
			return false
		}
	}
	// The last eight bytes, overlapping what came before when n is not a multiple of 8.
	k := word(key, n-8)
	return (word(s, n-8)^k)&^letters(k) == 0
}

// letters has 0x20 in each byte where w, eight ASCII bytes, has a lower-case
// letter: a byte b >= 'a' overflows into bit 7 when 0x1f is added, one > 'z' when
// 5 is (no byte carries into the next: every byte is below 0x80).
func letters(w uint64) uint64 {
	const ge, gt, high = 0x1f1f1f1f1f1f1f1f, 0x0505050505050505, 0x8080808080808080
	return (((w + ge) &^ (w + gt)) & high) >> 2
}

// word reads the eight bytes of s at i, without a bounds check: the caller makes
// sure that i+8 <= len(s).
func word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i)), 8))
}

func (t *table[V]) len() int {
	n := 0
	for i := range t.slots {
		if t.slots[i].used {
			n++
		}
	}
	return n
}
