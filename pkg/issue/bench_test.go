package issue

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// Benchmarks of the API through the real handler, on SQLite and PostgreSQL:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./pkg/issue/
//
// Login is argon2-dominated: the default parameters are in the benchmark's name, and a
// run with the cheap test parameters shows the rest of the cost. BenchmarkArgon2id is
// the password check alone. Each also reports the CPU time of this process per
// operation and, on PostgreSQL, the statements, transactions and server CPU time per
// operation (cost_test.go): the inputs of docs/scaling.md, measured by
//
//	go test -run '^$' -bench 'Login|Refresh|Logout|Argon2id|RevocationLog' -benchtime 3s -count 5 ./pkg/issue/

var unthrottled = RateLimits{
	PerIP:        Rate{Events: 1_000_000, Per: time.Second, Burst: 1_000_000},
	PerAccount:   Rate{Events: 1_000_000, Per: time.Second, Burst: 1_000_000},
	RefreshPerIP: Rate{Events: 1_000_000, Per: time.Second, Burst: 1_000_000},
}

func benchEnv(b *testing.B, st Store, p PasswordParams) *env {
	e := newEnv(b, st, func(c *Config, d *Deps) {
		c.Password = p
		c.LoginRate = unthrottled
		d.Now = time.Now
		d.Logger = nil
	})
	e.svc.hasher.key = nil
	return e
}

func paramsName(p PasswordParams) string {
	return fmt.Sprintf("argon2=m%d,t%d,p%d", p.Memory, p.Time, p.Threads)
}

func BenchmarkLogin(b *testing.B) {
	for _, bs := range benchStores {
		st, pgm := bs.open(b)
		for _, p := range []PasswordParams{DefaultPasswordParams(), testParams} {
			e := benchEnv(b, st, p)
			email := fmt.Sprintf("bench-%s@example.com", newID()[:8])
			e.addUser(email, "bench-password")
			body := loginBody(email, "bench-password")
			b.Run(bs.name+"/"+paramsName(p), func(b *testing.B) {
				e.t = b
				m := costMeter{pg: pgm}
				b.ReportAllocs()
				m.reset(b)
				n := 0
				for b.Loop() {
					if w := e.post("/v1/login", body); w.Code != http.StatusOK {
						b.Fatalf("login: %d %s", w.Code, w.Body)
					}
					n++
				}
				m.report(b, n)
			})
		}
	}
}

func BenchmarkRefresh(b *testing.B) {
	for _, bs := range benchStores {
		st, pgm := bs.open(b)
		e := benchEnv(b, st, testParams)
		e.addUser("refresh@example.com", "bench-password")
		b.Run(bs.name, func(b *testing.B) {
			e.t = b
			rt := e.login("refresh@example.com", "bench-password").RefreshToken
			m := costMeter{pg: pgm}
			b.ReportAllocs()
			m.reset(b)
			n := 0
			for b.Loop() {
				w := e.post("/v1/refresh", refreshBody(rt))
				if w.Code != http.StatusOK {
					b.Fatalf("refresh: %d %s", w.Code, w.Body)
				}
				rt = decodePair(b, w).RefreshToken
				n++
			}
			m.report(b, n)
		})
	}
}

func BenchmarkLogout(b *testing.B) {
	for _, bs := range benchStores {
		st, pgm := bs.open(b)
		e := benchEnv(b, st, testParams)
		uid := e.addUser("logout@example.com", "bench-password")
		b.Run(bs.name, func(b *testing.B) {
			e.t = b
			// One session per iteration, opened without the login path.
			var tokens []string
			for range b.N {
				tokens = append(tokens, openSession(b, e, uid))
			}
			bodies := make([]string, len(tokens))
			for i, rt := range tokens {
				bodies[i] = refreshBody(rt)
			}
			m := costMeter{pg: pgm}
			b.ReportAllocs()
			m.reset(b)
			b.ResetTimer()
			for i := range b.N {
				if w := e.post("/v1/logout", bodies[i]); w.Code != http.StatusNoContent {
					b.Fatalf("logout: %d %s", w.Code, w.Body)
				}
			}
			b.StopTimer()
			m.report(b, b.N)
		})
	}
}

// BenchmarkArgon2id is the password check of a sign-in alone, with the default
// parameters: the issuer's CPU cost per sign-in that no other resource shares.
func BenchmarkArgon2id(b *testing.B) {
	p := DefaultPasswordParams()
	phc, err := HashPassword("bench-password", p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(paramsName(p), func(b *testing.B) {
		var m cpuMeter
		b.ReportAllocs()
		m.reset()
		n := 0
		for b.Loop() {
			if ok, err := VerifyPassword(phc, "bench-password"); !ok || err != nil {
				b.Fatalf("verify: %v %v", ok, err)
			}
			n++
		}
		m.report(b, n)
	})
}

// openSession stores a session straight through the store and returns its refresh
// token.
func openSession(b *testing.B, e *env, uid string) string {
	now := e.svc.now()
	sid := newID()
	m, err := e.svc.mint(sid, uid, "logout@example.com", nil, now, tokenExtras{AMR: []string{"pwd"}})
	if err != nil {
		b.Fatal(err)
	}
	err = e.store.CreateSession(context.Background(),
		store.Session{ID: sid, UserID: uid, CreatedAt: now, LastUsedAt: now, ExpiresAt: m.refreshExp},
		store.RefreshToken{Hash: m.refreshHash, SessionID: sid, AccessHash: m.accessHash, AccessExpiresAt: m.accessExp,
			CreatedAt: now, ExpiresAt: m.refreshExp})
	if err != nil {
		b.Fatal(err)
	}
	return m.refresh
}

// BenchmarkRevocationLog is a verifier's read of the revocation log, which it does
// every MaxStaleness/2 (and after each resubscription) whatever Redis does: every
// row after the last one seen, RevocationsAfter in pages of 1000 as pkg/verify reads
// it. An operation here is one row read, so the figures are per row: a verifier
// reads each revocation once, and every verifier reads it.
func BenchmarkRevocationLog(b *testing.B) {
	st, pgm := meteredPostgres(b)
	log := st.(store.Store) // the verifier's view of the store
	e := benchEnv(b, st, testParams)
	uid := e.addUser("revoked@example.com", "bench-password")
	const sessions = 5000
	for range sessions {
		openSession(b, e, uid)
	}
	ctx := context.Background()
	res, err := st.RevokeUser(ctx, uid, store.ReasonLogout, time.Now())
	if err != nil || len(res.Revocations) != sessions {
		b.Fatalf("revoke: %d rows, %v", len(res.Revocations), err)
	}
	m := costMeter{pg: pgm}
	b.ReportAllocs()
	m.reset(b)
	rows := 0
	for b.Loop() {
		var after int64
		for {
			page, err := log.RevocationsAfter(ctx, after, 1000)
			if err != nil {
				b.Fatal(err)
			}
			rows += len(page)
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Seq
		}
	}
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
	m.report(b, rows)
}
