package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexen/vexen-auth/pkg/audit"
)

// Reloader keeps the latest good version of a policy file in force: Reload reads
// and compiles the file and hands a good policy to apply; a bad one is refused
// (the policy in force stays), logged at Error and counted. Watch reloads when the
// file changes. It counts vexen_verifier_policy_reloads_total{result="ok|error"}.
type Reloader struct {
	path  string
	apply func(*Policy)
	log   *slog.Logger
	audit audit.Recorder // nil: no audit log
	ok    prometheus.Counter
	bad   prometheus.Counter

	mu   sync.Mutex
	seen stamp // of the version last read, good or bad
}

// stamp identifies a version of the file cheaply (size, mtime) and surely (hash).
type stamp struct {
	size  int64
	mtime time.Time
	sum   [32]byte
}

// NewReloader returns a Reloader of the file at path; current is the policy in
// force, as Load read it at start (when the file has changed since, the first
// Watch poll reloads it). reg may be nil (metrics kept but not exported); log nil
// discards.
func NewReloader(path string, current *Policy, apply func(*Policy), reg prometheus.Registerer, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vexen_verifier_policy_reloads_total",
		Help: "Access policy reloads (SIGHUP or the file changing) by result: ok, or error (the policy in force stays).",
	}, []string{"result"})
	if reg != nil {
		if err := reg.Register(vec); err != nil {
			return nil, err
		}
	}
	r := &Reloader{path: path, apply: apply, log: log, ok: vec.WithLabelValues("ok"), bad: vec.WithLabelValues("error")}
	if st, _, err := r.read(); err == nil && current != nil && st.sum == current.sum {
		r.seen = st
	}
	return r, nil
}

// SetAudit makes every reload write one policy_reload event (result success or
// failure, the file, the rule count or the error) to rec. Call it before Watch.
func (r *Reloader) SetAudit(rec audit.Recorder) {
	r.mu.Lock()
	r.audit = rec
	r.mu.Unlock()
}

func (r *Reloader) read() (stamp, []byte, error) {
	f, err := os.Open(r.path)
	if err != nil {
		return stamp{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return stamp{}, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return stamp{}, nil, err
	}
	if len(data) > MaxFileBytes {
		return stamp{size: fi.Size(), mtime: fi.ModTime()}, nil, &Error{File: r.path, Problems: []Problem{{Msg: "larger than 4 MiB"}}}
	}
	return stamp{size: fi.Size(), mtime: fi.ModTime(), sum: sha256.Sum256(data)}, data, nil
}

// Reload reads the file now and puts it in force if it compiles. The error is the
// file's (the policy in force did not change); it has been logged and counted.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, data, err := r.read()
	if err == nil {
		r.seen = st
		var p *Policy
		if p, err = Parse(r.path, data); err == nil {
			r.apply(p)
			r.ok.Inc()
			r.log.Info("access policy reloaded", "file", r.path, "rules", len(p.Rules()), "default", p.Default().Action.String())
			r.record(audit.Success, slog.Int("rules", len(p.Rules())), slog.String("default", p.Default().Action.String()))
			for _, w := range p.Warnings() {
				r.log.Warn("access policy: unreachable rule", "warning", w)
			}
			return nil
		}
	}
	r.bad.Inc()
	r.record(audit.Failure, slog.Any("err", err))
	var pe *Error
	if errors.As(err, &pe) {
		for _, pr := range pe.Problems {
			r.log.Error("access policy refused; the previous one stays in force", "file", r.path, "line", pr.Line, "err", pr.Msg)
		}
	} else {
		r.log.Error("access policy not readable; the previous one stays in force", "file", r.path, "err", err)
	}
	return err
}

func (r *Reloader) record(result string, attrs ...slog.Attr) {
	if r.audit == nil {
		return
	}
	r.audit.Record(context.Background(), audit.Event{Event: audit.EventPolicyReload, Result: result, Actor: audit.ActorSystem,
		Attrs: append([]slog.Attr{slog.String("file", r.path)}, attrs...)})
}

// changed reports whether the file differs from the version last read: size or
// mtime first, then the content's hash (an edit within the mtime's resolution).
func (r *Reloader) changed() bool {
	fi, err := os.Stat(r.path)
	r.mu.Lock()
	seen := r.seen
	r.mu.Unlock()
	if err != nil {
		return false // a file being replaced; the next poll sees the new one
	}
	if fi.Size() != seen.size || !fi.ModTime().Equal(seen.mtime) {
		return true
	}
	st, _, err := r.read()
	return err == nil && st.sum != seen.sum
}

// Watch polls the file every interval until ctx ends and reloads it when it
// changed.
func (r *Reloader) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.changed() {
			_ = r.Reload() // logged and counted
		}
	}
}
