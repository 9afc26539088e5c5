package issue

import (
	"context"
	"log/slog"
	"time"

	"github.com/vexen/vexen-auth/internal/backoff"
	"github.com/vexen/vexen-auth/pkg/store"
)

// A revocation is committed to the store first; writing it through to Redis
// (revoked:{h}, access_token:{h} deleted, the pub/sub event) comes after and may
// fail. The store records which log rows reached Redis (synced); the Service marks
// a row synced once its write-through succeeded, and a background job retries the
// others from the store's log — not from memory, so neither an issuer restart nor a
// revocation made by an admin command without REDIS_URL is lost — until Redis
// agrees with the store.

// revocationSyncer is the store's record of which revocations reached Redis; both
// backends have it (store.Store), a test double may not.
type revocationSyncer interface {
	UnsyncedRevocations(ctx context.Context, since, now time.Time, limit int) (store.RevokeResult, error)
	MarkRevocationsSynced(ctx context.Context, seqs []int64, now time.Time) error
}

var _ revocationSyncer = (store.Store)(nil)

const (
	// resyncEvery is how often the log is scanned for rows Redis has not been told of.
	resyncEvery = time.Second
	// resyncMaxBackoff bounds the wait between scans while Redis or the store fails.
	resyncMaxBackoff = 30 * time.Second
	// resyncPage is how many rows one write-through carries.
	resyncPage = 200
	// resyncMargin widens the window beyond the access-token life plus leeway.
	resyncMargin = time.Minute
)

// resyncWindow is how far back unsynced rows still matter: a row older than the
// longest access-token life plus leeway names no token that can still be presented.
func (s *Service) resyncWindow() time.Duration {
	return s.cfg.AccessTTL + s.cfg.Leeway + resyncMargin
}

// markSynced records that res's rows reached Redis. A failure only means the
// repair job writes them again (idempotent), so it is logged, not returned.
func (s *Service) markSynced(ctx context.Context, res store.RevokeResult) {
	rs, ok := s.store.(revocationSyncer)
	if !ok || len(res.Revocations) == 0 {
		return
	}
	seqs := make([]int64, len(res.Revocations))
	for i, r := range res.Revocations {
		seqs[i] = r.Seq
	}
	if err := rs.MarkRevocationsSynced(ctx, seqs, s.now()); err != nil {
		s.log.Warn("store: could not mark revocations written through to Redis; the repair job will write them again",
			"err", err)
	}
}

// ResyncRevocations writes through to Redis, and publishes, every revocation of
// the window that the store does not record as synced, then marks them synced. It
// returns how many log rows it wrote. Without Redis, or with a store that keeps no
// sync state, it does nothing.
func (s *Service) ResyncRevocations(ctx context.Context) (int, error) {
	rs, ok := s.store.(revocationSyncer)
	if !ok || s.cache == nil {
		return 0, nil
	}
	total := 0
	for {
		now := s.now()
		res, err := rs.UnsyncedRevocations(ctx, now.Add(-s.resyncWindow()), now, resyncPage)
		if err != nil {
			return total, err
		}
		if len(res.Revocations) == 0 {
			return total, nil
		}
		cctx, cancel := s.cacheCtx(ctx)
		err = s.cache.Revoke(cctx, res)
		cancel()
		if err != nil {
			s.redisFailed(redisOpRevoke, err)
			return total, err
		}
		seqs := make([]int64, len(res.Revocations))
		for i, r := range res.Revocations {
			seqs[i] = r.Seq
		}
		if err := rs.MarkRevocationsSynced(ctx, seqs, now); err != nil {
			return total, err
		}
		total += len(seqs)
		s.m.resynced.Add(float64(len(seqs)))
		if len(res.Revocations) < resyncPage {
			return total, nil
		}
	}
}

// resyncLoop runs ResyncRevocations every resyncEvery, backing off while it fails.
func (s *Service) resyncLoop(ctx context.Context) {
	defer s.stopped.Done()
	bo := backoff.Backoff{Min: resyncEvery, Max: resyncMaxBackoff}
	wait := resyncEvery
	failing := false
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		n, err := s.ResyncRevocations(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Warn("revocations not yet written through to Redis; retrying", "err", err)
			}
			failing = true
			wait = bo.Next()
		case err == nil:
			if n > 0 || failing {
				s.log.LogAttrs(ctx, slog.LevelInfo, "revocations written through to Redis from the store's log",
					slog.Int("revocations", n))
			}
			failing = false
			bo.Reset()
			wait = resyncEvery
		}
	}
}
