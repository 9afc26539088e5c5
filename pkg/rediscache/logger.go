package rediscache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// SetLogger routes go-redis's own messages (pool dial failures, reconnects),
// which it otherwise prints as plain lines on stderr, into l at Warn level, so a
// JSON log stream stays JSON. At most logBurst lines per second are written; the
// number left out is reported with the next line. go-redis's logger is
// process-wide: the last call wins. go-redis reads its logger without a lock, so
// it is installed once per process and later calls only swap the destination
// (atomically): a second verifier or issuer started in the same process (tests,
// embedding) does not race with the clients of the first.
func SetLogger(l *slog.Logger) {
	theLogger.l.Store(l)
	installLogger.Do(func() { redis.SetLogger(&theLogger) })
}

var (
	theLogger     slogLogger
	installLogger sync.Once
)

const logBurst = 10

type slogLogger struct {
	l atomic.Pointer[slog.Logger]

	mu      sync.Mutex
	second  int64
	n       int
	dropped int
}

func (s *slogLogger) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now().Unix()
	s.mu.Lock()
	if now != s.second {
		s.second, s.n = now, 0
	}
	s.n++
	if s.n > logBurst {
		s.dropped++
		s.mu.Unlock()
		return
	}
	dropped := s.dropped
	s.dropped = 0
	s.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	attrs := []slog.Attr{slog.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...)))}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("suppressed", dropped))
	}
	s.l.Load().LogAttrs(ctx, slog.LevelWarn, "redis client", attrs...)
}
