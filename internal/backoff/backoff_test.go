package backoff

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	ceil := b.Min
	for i := range 40 {
		d := b.Next()
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, ceil/2, ceil)
		}
		ceil = min(2*ceil, b.Max)
	}
	b.Reset()
	if d := b.Next(); d > b.Min {
		t.Fatalf("after reset: %v > %v", d, b.Min)
	}
	// Jitter: 20 draws at the cap are not all equal.
	b.n = 100
	first, same := b.Next(), true
	for range 20 {
		if b.Next() != first {
			same = false
		}
	}
	if same {
		t.Fatal("no jitter at the cap")
	}
}
