// Package backoff is capped exponential backoff with equal jitter, for the
// reconnect and retry loops of the Redis feed, the revocation log catch-up and the
// JWKS refresh.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields delays Min, 2·Min, 4·Min, … up to Max, each drawn uniformly from
// [d/2, d] (equal jitter) so that many clients retrying together spread out. The
// zero value is not useful: set Min and Max. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	n        uint
}

// Next returns the next delay and moves one step up.
func (b *Backoff) Next() time.Duration {
	d := b.Max
	if b.n < 32 {
		if s := b.Min << b.n; s > 0 && s < b.Max {
			d = s
		}
	}
	b.n++
	half := d / 2
	return half + rand.N(half+1)
}

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }
