package issue

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// limiters are the two Limiter implementations the throttle tests run on: the
// in-memory one (on the env's fake clock) and the Redis one (the shared server, under
// the test's own prefix, on Redis's clock).
var limiters = []struct {
	name string
	deps func(testing.TB, *Deps)
}{
	{"Memory", func(testing.TB, *Deps) {}},
	{"Redis", func(t testing.TB, d *Deps) {
		r := testenv.SharedRedis(t)
		d.Limiter = NewRedisLimiter(r.Client).WithPrefix(r.Prefix)
		t.Cleanup(func() {
			ctx := context.Background()
			for _, k := range r.Client.Keys(ctx, "rate:"+r.Prefix+"*").Val() {
				r.Client.Del(ctx, k)
			}
		})
	}},
}

// TestLoginThrottleConcurrent: N wrong passwords sent at once for one account, from
// one address or from many, run at most as many password checks as the buckets
// hold; every other attempt is 429 with Retry-After. The buckets are reserved before
// the password work (issue 9, point 2: checked first and charged after a failure,
// all 30 got through a limit of 10). An unknown email is throttled exactly alike.
func TestLoginThrottleConcurrent(t *testing.T) {
	const n = 30
	tests := []struct {
		name       string
		perIP      Rate
		email      string
		remote     func(i int) string // the i-th attempt's RemoteAddr
		wantChecks int
	}{
		{"one address", Rate{Events: 30, Per: time.Minute}, "victim@example.com",
			func(int) string { return "203.0.113.7:1000" }, 10},
		{"many addresses", Rate{Events: 30, Per: time.Minute}, "victim@example.com",
			func(i int) string { return fmt.Sprintf("198.51.100.%d:1000", i+1) }, 10},
		{"many addresses, unknown email", Rate{Events: 30, Per: time.Minute}, "nobody@example.com",
			func(i int) string { return fmt.Sprintf("198.51.100.%d:1000", i+1) }, 10},
		{"one address below the account limit", Rate{Events: 4, Per: time.Minute}, "victim@example.com",
			func(int) string { return "203.0.113.7:1000" }, 4},
		{"one IPv6 /64, many addresses", Rate{Events: 4, Per: time.Minute}, "victim@example.com",
			func(i int) string { return fmt.Sprintf("[2001:db8:7:7::%x]:1000", i+1) }, 4},
	}
	for _, lim := range limiters {
		t.Run(lim.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnv(t, newMemStore(), func(c *Config, d *Deps) {
						c.LoginRate.PerIP = tt.perIP
						c.LoginRate.PerAccount = Rate{Events: 10, Per: 10 * time.Minute, Burst: 10}
						lim.deps(t, d)
					})
					e.addUser("victim@example.com", "the-right-one")
					// Each password check takes long enough that all n attempts are in
					// flight before the first one fails.
					count := e.svc.hasher.key
					e.svc.hasher.key = func(password, salt []byte, time_, memory uint32, threads uint8, keyLen uint32) []byte {
						time.Sleep(20 * time.Millisecond)
						return count(password, salt, time_, memory, threads, keyLen)
					}
					before := e.hashes.Load()
					start := make(chan struct{})
					answers := make([]*httptest.ResponseRecorder, n)
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							<-start
							answers[i] = e.do(request{method: "POST", path: "/v1/login",
								body: loginBody(tt.email, fmt.Sprint("guess-", i)), remote: tt.remote(i)})
						})
					}
					close(start)
					wg.Wait()
					if got := int(e.hashes.Load() - before); got != tt.wantChecks {
						t.Errorf("%d password checks for %d concurrent attempts, want the limit, %d", got, n, tt.wantChecks)
					}
					refused, throttled := 0, 0
					for i, w := range answers {
						switch w.Code {
						case http.StatusUnauthorized:
							wantError(t, w, http.StatusUnauthorized, "invalid_credentials")
							refused++
						case http.StatusTooManyRequests:
							wantError(t, w, http.StatusTooManyRequests, "rate_limited")
							if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
								t.Errorf("attempt %d: Retry-After %q", i, w.Header().Get("Retry-After"))
							}
							throttled++
						default:
							t.Errorf("attempt %d: status %d %s", i, w.Code, w.Body)
						}
					}
					if refused != tt.wantChecks || throttled != n-tt.wantChecks {
						t.Errorf("%d refused, %d throttled; want %d and %d", refused, throttled, tt.wantChecks, n-tt.wantChecks)
					}
					if got := e.counter("vexen_issuer_logins_total", "result", "rate_limited"); got != float64(n-tt.wantChecks) {
						t.Errorf("logins_total{rate_limited} = %v, want %d", got, n-tt.wantChecks)
					}
				})
			}
		})
	}
}

// TestLoginThrottleSuccessGivesBack: a successful login gives the account's event
// back (so a user who signs in often is never locked out), failures keep theirs,
// and the address's bucket counts every attempt, on both limiters.
func TestLoginThrottleSuccessGivesBack(t *testing.T) {
	for _, lim := range limiters {
		t.Run(lim.name, func(t *testing.T) {
			e := newEnv(t, newMemStore(), func(c *Config, d *Deps) {
				c.LoginRate.PerIP = Rate{Events: 1000, Per: time.Minute}
				c.LoginRate.PerAccount = Rate{Events: 3, Per: time.Hour, Burst: 3}
				lim.deps(t, d)
			})
			e.addUser("often@example.com", "often-pass")
			for i := range 10 {
				if w := e.post("/v1/login", loginBody("often@example.com", "often-pass")); w.Code != http.StatusOK {
					t.Fatalf("login %d: %d %s", i+1, w.Code, w.Body)
				}
			}
			for range 3 {
				wantError(t, e.post("/v1/login", loginBody("often@example.com", "wrong-pass")), http.StatusUnauthorized, "invalid_credentials")
			}
			wantError(t, e.post("/v1/login", loginBody("often@example.com", "often-pass")), http.StatusTooManyRequests, "rate_limited")
		})
	}
}

// TestRefreshThrottle: /v1/refresh and the sign-in page's silent refresh take from
// the client address's refresh bucket; a throttled refresh touches nothing (the
// token stays good), answers 429 with Retry-After, and another address is not
// affected.
func TestRefreshThrottle(t *testing.T) {
	for _, lim := range limiters {
		t.Run(lim.name, func(t *testing.T) {
			e := newEnv(t, newMemStore(), func(c *Config, d *Deps) {
				c.IssuerURL = "http://auth.example.com"
				c.LoginRate.RefreshPerIP = Rate{Events: 3, Per: time.Minute, Burst: 3}
				lim.deps(t, d)
			})
			e.addUser("rt@example.com", "rt-passwd")
			p := e.login("rt@example.com", "rt-passwd")
			refresh := func(tok, remote string) *httptest.ResponseRecorder {
				return e.do(request{method: "POST", path: "/v1/refresh", body: refreshBody(tok), remote: remote})
			}
			const attacker, other = "203.0.113.9:1000", "203.0.113.10:1000"
			for range 3 {
				wantError(t, refresh(newRefreshToken(), attacker), http.StatusUnauthorized, "invalid_grant")
			}
			w := refresh(p.RefreshToken, attacker)
			wantError(t, w, http.StatusTooManyRequests, "rate_limited")
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
				t.Errorf("Retry-After %q, want whole seconds up to 20", w.Header().Get("Retry-After"))
			}
			// The browser's silent refresh from that address is throttled too, and
			// keeps the session's cookies.
			w = e.page(pageReq{method: "GET", target: "/login?rd=" + url.QueryEscape("/"), remote: attacker,
				cookies: []*http.Cookie{{Name: RefreshCookie, Value: p.RefreshToken}}})
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
				t.Errorf("silent refresh: %d, Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
			}
			if c := w.Result().Cookies(); len(c) > 1 || (len(c) == 1 && c[0].Name == RefreshCookie) {
				t.Errorf("a throttled silent refresh set cookies %v", c)
			}
			if got := e.counter("vexen_issuer_refreshes_total", "result", "rate_limited"); got != 2 {
				t.Errorf("refreshes_total{rate_limited} = %v, want 2", got)
			}
			// The token was not spent: it refreshes from another address.
			decodePair(t, refresh(p.RefreshToken, other))
		})
	}
}
