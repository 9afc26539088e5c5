package load

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pacer sleeps with microsecond precision. Go's timers wait in epoll_wait, whose
// timeout is in milliseconds: when the process has nothing else to do, a 300 µs
// sleep lasts a millisecond, and an open-loop generator would charge that to the
// server. A timerfd is a file descriptor the runtime's netpoller waits on like a
// socket, and it becomes readable when the kernel's high-resolution timer fires.
type pacer struct {
	f  *os.File
	fd int
}

func newPacer() (*pacer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("load: timerfd: %w", err)
	}
	// Non-blocking, so os.File reads through the netpoller.
	return &pacer{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

// sleep returns after d (at once for d <= 0).
func (p *pacer) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(p.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("load: timerfd_settime: %w", err)
	}
	var expirations [8]byte
	if _, err := p.f.Read(expirations[:]); err != nil {
		return fmt.Errorf("load: timerfd read: %w", err)
	}
	return nil
}

func (p *pacer) Close() error { return p.f.Close() }
