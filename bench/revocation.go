package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vexen/vexen-auth/bench/load"
	"github.com/vexen/vexen-auth/bench/report"
)

// revocationDeadline is how long a verifier may keep answering 200 after a logout
// before the sample counts as missed.
const revocationDeadline = 5 * time.Second

// revocation starts three verifiers (push mode, the run's Redis), and for each of
// the last -logouts signed-in sessions: makes every verifier cache the token, polls
// each in its own goroutine, logs the session out at the issuer, and records when
// each verifier first answered 401, counted from the moment the logout's 204
// arrived.
func (h *harness) revocation(ctx context.Context, e *env) error {
	const n = 3
	vs := make([]*verifier, n)
	for i := range vs {
		v, err := h.startVerifier(ctx, fmt.Sprintf("verifier-revocation-%d", i+1), "", h.bins.verifier, nil, false, h.verifierArgs(e)...)
		if err != nil {
			return err
		}
		vs[i] = v
	}
	conns := make([]*load.Conn, n)
	for i, v := range vs {
		c, err := load.Dial(v.addr, revocationDeadline)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[i] = c
	}
	issuer, err := load.Dial(e.issuerAddr, 10*time.Second)
	if err != nil {
		return err
	}
	defer func() { issuer.Close() }()

	toks := e.tokens[len(e.tokens)-h.o.logouts:]
	rv := &report.Revocation{Verifiers: n, Logouts: len(toks), Deadline: revocationDeadline}
	t0 := time.Now()
	for _, tok := range toks {
		reqs := make([][]byte, n)
		for i, v := range vs {
			reqs[i] = load.Request("GET", v.addr, "/auth", "Authorization", "Bearer "+tok)
			for range 2 {
				st, err := conns[i].Do(reqs[i])
				if err != nil {
					return fmt.Errorf("verifier %d: %w", i+1, err)
				}
				if st != 200 {
					return fmt.Errorf("verifier %d answered %d for a live token", i+1, st)
				}
			}
		}
		seen := make([]time.Time, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range vs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seen[i], errs[i] = conns[i].PollStatus(reqs[i], 401, time.Now().Add(revocationDeadline))
			}()
		}
		logout := load.Request("POST", e.issuerAddr, "/v1/logout", "Authorization", "Bearer "+tok, "Content-Length", "0")
		st, err := issuer.Do(logout)
		answered := time.Now()
		if errors.Is(err, load.ErrClosed) {
			issuer.Close()
			issuer, err = load.Dial(e.issuerAddr, 10*time.Second)
		}
		if err != nil {
			wg.Wait()
			return fmt.Errorf("logout: %w", err)
		}
		if st != 204 {
			wg.Wait()
			return fmt.Errorf("logout answered %d, want 204", st)
		}
		wg.Wait()
		for i := range vs {
			switch {
			case errs[i] != nil:
				rv.Missed++
				// The connection may be mid-request; start a new one.
				conns[i].Close()
				if conns[i], err = load.Dial(vs[i].addr, revocationDeadline); err != nil {
					return err
				}
			case seen[i].Before(answered):
				rv.Early++
				rv.Delays = append(rv.Delays, 0)
			default:
				rv.Delays = append(rv.Delays, seen[i].Sub(answered))
			}
		}
	}
	h.rep.Revocation = rv
	med, p99, mx := rv.Summary()
	h.logf("revocation: %d logouts × %d verifiers in %s: median %s, p99 %s, max %s, missed %d",
		len(toks), n, time.Since(t0).Round(100*time.Millisecond), report.FmtDelay(med), report.FmtDelay(p99), report.FmtDelay(mx), rv.Missed)
	for _, v := range vs {
		v.p.stop()
	}
	return nil
}
