//go:build !linux

package load

import "time"

// pacer falls back to Go's timers outside Linux (millisecond precision when idle).
type pacer struct{}

func newPacer() (*pacer, error) { return &pacer{}, nil }

func (*pacer) sleep(d time.Duration) error {
	time.Sleep(d)
	return nil
}

func (*pacer) Close() error { return nil }
