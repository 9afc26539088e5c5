package cli

import (
	"context"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/pkg/rediscache"
	"github.com/vexen/vexen-auth/pkg/store"
)

// Backends are what both programs open before they build anything: the logger,
// the store and, when REDIS_URL is set, the Redis client.
type Backends struct {
	Logger *slog.Logger
	Store  store.Store
	Redis  redis.UniversalClient // nil without REDIS_URL
}

// BackendOptions say how to open Backends. Logger, when set, is used as is;
// otherwise one is built from LogFormat and LogLevel, writing to Stderr.
type BackendOptions struct {
	Logger              *slog.Logger
	Stderr              io.Writer
	LogFormat, LogLevel string
	DatabaseURL         string
	RedisURL            string
}

// OpenBackends opens the logger, the store and Redis. On error, whatever was
// opened is in the returned Backends for the caller's Close to release. A bad
// LOG_* or REDIS_URL value is a UsageError.
func OpenBackends(ctx context.Context, o BackendOptions) (Backends, error) {
	var b Backends
	b.Logger = o.Logger
	if b.Logger == nil {
		w := o.Stderr
		if w == nil {
			w = io.Discard
		}
		lg, err := Logger(w, o.LogFormat, o.LogLevel)
		if err != nil {
			return b, Usage(err)
		}
		b.Logger = lg
	}
	st, err := store.Open(ctx, o.DatabaseURL)
	if err != nil {
		return b, err
	}
	b.Store = st
	if o.RedisURL != "" {
		rdb, err := rediscache.Open(o.RedisURL)
		if err != nil {
			return b, Usage(err)
		}
		b.Redis = rdb
		rediscache.SetLogger(b.Logger)
	}
	return b, nil
}
