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
// run with the cheap test parameters shows the rest of the cost.

var unthrottled = RateLimits{
	PerIP:      Rate{Events: 1_000_000, Per: time.Second, Burst: 1_000_000},
	PerAccount: Rate{Events: 1_000_000, Per: time.Second, Burst: 1_000_000},
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
	for _, rs := range realStores {
		st := rs.open(b)
		for _, p := range []PasswordParams{DefaultPasswordParams(), testParams} {
			e := benchEnv(b, st, p)
			email := fmt.Sprintf("bench-%s@example.com", newID()[:8])
			e.addUser(email, "bench-password")
			body := loginBody(email, "bench-password")
			b.Run(rs.name+"/"+paramsName(p), func(b *testing.B) {
				e.t = b
				b.ReportAllocs()
				for b.Loop() {
					if w := e.post("/v1/login", body); w.Code != http.StatusOK {
						b.Fatalf("login: %d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

func BenchmarkRefresh(b *testing.B) {
	for _, rs := range realStores {
		e := benchEnv(b, rs.open(b), testParams)
		e.addUser("refresh@example.com", "bench-password")
		b.Run(rs.name, func(b *testing.B) {
			e.t = b
			rt := e.login("refresh@example.com", "bench-password").RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				w := e.post("/v1/refresh", refreshBody(rt))
				if w.Code != http.StatusOK {
					b.Fatalf("refresh: %d %s", w.Code, w.Body)
				}
				rt = decodePair(b, w).RefreshToken
			}
		})
	}
}

func BenchmarkLogout(b *testing.B) {
	for _, rs := range realStores {
		e := benchEnv(b, rs.open(b), testParams)
		uid := e.addUser("logout@example.com", "bench-password")
		b.Run(rs.name, func(b *testing.B) {
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
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if w := e.post("/v1/logout", bodies[i]); w.Code != http.StatusNoContent {
					b.Fatalf("logout: %d %s", w.Code, w.Body)
				}
			}
		})
	}
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
