package issue

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
)

// runAPISuite runs the HTTP API tests against a store: the in-memory fake, SQLite and
// PostgreSQL run the same suite.
func runAPISuite(t *testing.T, newStore func(testing.TB) Store) {
	tests := []struct {
		name string
		run  func(*testing.T, func(testing.TB) Store)
	}{
		{"LoginPair", testLoginPair},
		{"BadRequests", testBadRequests},
		{"CredentialFailuresAlike", testCredentialFailuresAlike},
		{"RefreshRotates", testRefreshRotates},
		{"RefreshGrace", testRefreshGrace},
		{"RefreshReuseRevokesSession", testRefreshReuse},
		{"RefreshExpired", testRefreshExpired},
		{"RefreshAfterDisable", testRefreshAfterDisable},
		{"Logout", testLogout},
		{"LogoutBearer", testLogoutBearer},
		{"LogoutAll", testLogoutAll},
		{"Sessions", testSessions},
		{"ThrottleIP", testThrottleIP},
		{"ThrottleAccount", testThrottleAccount},
		{"WellKnown", testWellKnown},
		{"Admin", testAdmin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore) })
	}
}

func TestAPIMemStore(t *testing.T) {
	runAPISuite(t, func(testing.TB) Store { return newMemStore() })
}

func testLoginPair(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	uid := e.addUser("Ada@Example.com", "correct horse", "admin", "dev")
	w := e.post("/v1/login", loginBody("ada@example.COM", "correct horse"))
	p := decodePair(t, w)
	if p.ExpiresIn != 900 {
		t.Errorf("expires_in %d, want 900", p.ExpiresIn)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if len(p.RefreshToken) != 43 {
		t.Errorf("refresh token of %d characters, want 43 (32 bytes base64url)", len(p.RefreshToken))
	}
	c, err := e.svc.VerifyAccessToken(p.AccessToken, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != uid || c.Email != "Ada@Example.com" || strings.Join(c.Roles, ",") != "admin,dev" || c.SessionID == "" {
		t.Errorf("claims %+v", c)
	}
	st, err := e.store.SessionState(t.Context(), c.SessionID)
	if err != nil || !st.Live(e.clock.Now()) || st.UserID != uid {
		t.Errorf("session state %+v, %v: want live, user %s", st, err, uid)
	}
	if got := e.counter("vexen_issuer_logins_total", "result", "success"); got != 1 {
		t.Errorf("logins_total{success} = %v, want 1", got)
	}
	if got := e.counter("vexen_issuer_requests_total", "endpoint", "login", "code", "200"); got != 1 {
		t.Errorf("requests_total{login,200} = %v, want 1", got)
	}
}

func testBadRequests(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("bob@example.com", "password1")
	good := loginBody("bob@example.com", "password1")
	big := `{"email":"bob@example.com","password":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"malformed JSON", request{method: "POST", path: "/v1/login", body: `{"email":`}, 400, "invalid_request"},
		{"not an object", request{method: "POST", path: "/v1/login", body: `["a","b"]`}, 400, "invalid_request"},
		{"unknown field", request{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com","password":"password1","admin":true}`}, 400, "invalid_request"},
		// Member names match exactly and a member given twice is refused (issue 9):
		// encoding/json alone takes EMAIL for email and keeps the last password.
		{"EMAIL for email", request{method: "POST", path: "/v1/login", body: `{"EMAIL":"bob@example.com","password":"password1"}`}, 400, "invalid_request"},
		{"Password for password", request{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com","Password":"password1"}`}, 400, "invalid_request"},
		{"password twice", request{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com","password":"wrong","password":"password1"}`}, 400, "invalid_request"},
		{"password twice, the second escaped", request{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com","password":"wrong","p\u0061ssword":"password1"}`}, 400, "invalid_request"},
		{"email twice", request{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com","email":"bob@example.com","password":"password1"}`}, 400, "invalid_request"},
		{"refresh: refresh_token twice", request{method: "POST", path: "/v1/refresh", body: `{"refresh_token":"x","refresh_token":"y"}`}, 400, "invalid_request"},
		{"refresh: REFRESH_TOKEN", request{method: "POST", path: "/v1/refresh", body: `{"REFRESH_TOKEN":"x"}`}, 400, "invalid_request"},
		{"trailing garbage", request{method: "POST", path: "/v1/login", body: good + `xyz`}, 400, "invalid_request"},
		{"second object", request{method: "POST", path: "/v1/login", body: good + good}, 400, "invalid_request"},
		{"wrong type", request{method: "POST", path: "/v1/login", body: `{"email":1,"password":"password1"}`}, 400, "invalid_request"},
		{"missing password", request{method: "POST", path: "/v1/login", body: `{"email":"bob@example.com"}`}, 400, "invalid_request"},
		{"empty body", request{method: "POST", path: "/v1/login"}, 400, "invalid_request"},
		{"oversized body", request{method: "POST", path: "/v1/login", body: big}, 413, "invalid_request"},
		{"wrong content type", request{method: "POST", path: "/v1/login", body: good, header: map[string]string{"Content-Type": "text/plain"}}, 415, "invalid_request"},
		{"no content type", request{method: "POST", path: "/v1/login", body: good, header: map[string]string{"Content-Type": ""}}, 415, "invalid_request"},
		{"form content type", request{method: "POST", path: "/v1/login", body: good, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "invalid_request"},
		{"latin-1 charset", request{method: "POST", path: "/v1/login", body: good, header: map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}}, 415, "invalid_request"},
		{"password too long", request{method: "POST", path: "/v1/login", body: loginBody("bob@example.com", strings.Repeat("p", MaxPasswordLen+1))}, 400, "invalid_request"},
		{"refresh: unknown field", request{method: "POST", path: "/v1/refresh", body: `{"refresh_token":"x","scope":"all"}`}, 400, "invalid_request"},
		{"refresh: missing token", request{method: "POST", path: "/v1/refresh", body: `{}`}, 400, "invalid_request"},
		{"refresh: trailing garbage", request{method: "POST", path: "/v1/refresh", body: `{"refresh_token":"x"} }`}, 400, "invalid_request"},
		{"logout: nothing to log out", request{method: "POST", path: "/v1/logout"}, 400, "invalid_request"},
		{"logout: malformed refresh token", request{method: "POST", path: "/v1/logout", body: refreshBody("not a token")}, 400, "invalid_request"},
		{"logout: malformed JSON", request{method: "POST", path: "/v1/logout", body: `{"refresh_token"`}, 400, "invalid_request"},
		{"logout-all: no bearer", request{method: "POST", path: "/v1/logout-all"}, 401, "invalid_token"},
		{"sessions: basic auth", request{method: "GET", path: "/v1/sessions", header: map[string]string{"Authorization": "Basic Ym9iOnB3"}}, 401, "invalid_token"},
		{"unknown path", request{method: "GET", path: "/v1/nope"}, 404, "not_found"},
		{"wrong method", request{method: "GET", path: "/v1/login"}, 405, "method_not_allowed"},
		{"wrong method on GET route", request{method: "POST", path: "/.well-known/jwks.json"}, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.hashes.Load()
			w := e.do(tt.req)
			wantError(t, w, tt.status, tt.code)
			if n := e.hashes.Load() - before; n != 0 {
				t.Errorf("a rejected request ran %d password hashes", n)
			}
		})
	}
	if w := e.do(request{method: "POST", path: "/v1/logout-all"}); w.Header().Get("WWW-Authenticate") != `Bearer realm="vexen"` {
		t.Errorf("WWW-Authenticate %q without a token", w.Header().Get("WWW-Authenticate"))
	}
	if w := e.do(request{method: "GET", path: "/v1/login"}); w.Header().Get("Allow") != "POST" {
		t.Errorf("Allow %q, want POST", w.Header().Get("Allow"))
	}
	// The good body still works after all that.
	e.login("bob@example.com", "password1")
}

// testCredentialFailuresAlike: wrong password, unknown user, disabled user and a user
// whose stored hash is unusable (another scheme) answer the same bytes and headers
// and do the same argon2 work (one run each): neither the answer nor its time tells
// whether an email has an account.
func testCredentialFailuresAlike(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("carol@example.com", "carol-pass")
	e.addUser("dave@example.com", "dave-pass1")
	if err := e.svc.DisableUser(t.Context(), "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	// A row imported with another scheme: bcrypt of "erin-pass1".
	if _, err := e.store.CreateUser(t.Context(), store.User{Email: "erin@example.com", CreatedAt: e.clock.Now(),
		PasswordHash: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	var headers []http.Header
	for _, tt := range []struct {
		name, email, password, result string
	}{
		{"wrong password", "carol@example.com", "not-carol", loginWrongPass},
		{"unknown user", "nobody@example.com", "whatever1", loginUnknownUser},
		{"disabled user", "dave@example.com", "dave-pass1", loginDisabled},
		{"unusable stored hash", "erin@example.com", "erin-pass1", loginWrongPass},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, count := e.hashes.Load(), e.counter("vexen_issuer_logins_total", "result", tt.result)
			w := e.post("/v1/login", loginBody(tt.email, tt.password))
			wantError(t, w, http.StatusUnauthorized, "invalid_credentials")
			if n := e.hashes.Load() - before; n != 1 {
				t.Errorf("%d argon2 runs, want exactly 1", n)
			}
			if got := e.counter("vexen_issuer_logins_total", "result", tt.result); got != count+1 {
				t.Errorf("logins_total{%s} = %v, want %v", tt.result, got, count+1)
			}
			bodies = append(bodies, w.Body.String())
			headers = append(headers, w.Header())
		})
	}
	for i := range bodies[1:] {
		if bodies[i+1] != bodies[0] {
			t.Errorf("answers differ: %q vs %q", bodies[i+1], bodies[0])
		}
		if !maps.EqualFunc(headers[i+1], headers[0], slices.Equal) {
			t.Errorf("headers differ: %v vs %v", headers[i+1], headers[0])
		}
	}
	before := e.hashes.Load()
	e.login("carol@example.com", "carol-pass")
	if n := e.hashes.Load() - before; n != 1 {
		t.Errorf("successful login: %d argon2 runs, want 1", n)
	}
}

func testRefreshRotates(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("erin@example.com", "erin-pass", "r1")
	p1 := e.login("erin@example.com", "erin-pass")
	e.clock.Advance(time.Minute)
	p2 := decodePair(t, e.post("/v1/refresh", refreshBody(p1.RefreshToken)))
	if p2.RefreshToken == p1.RefreshToken || p2.AccessToken == p1.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	c1, _ := e.svc.VerifyAccessToken(p1.AccessToken, false)
	c2, err := e.svc.VerifyAccessToken(p2.AccessToken, false)
	if err != nil {
		t.Fatal(err)
	}
	if c2.SessionID != c1.SessionID || c2.Subject != c1.Subject || c2.IssuedAt != c1.IssuedAt+60 || c2.JWTID == c1.JWTID {
		t.Errorf("refreshed claims %+v, first %+v", c2, c1)
	}
	// The successor refreshes in turn.
	e.clock.Advance(time.Minute)
	decodePair(t, e.post("/v1/refresh", refreshBody(p2.RefreshToken)))
	for _, junk := range []string{"short", strings.Repeat("A", 43), strings.Repeat("*", 43)} {
		wantError(t, e.post("/v1/refresh", refreshBody(junk)), http.StatusUnauthorized, "invalid_grant")
	}
	if got := e.counter("vexen_issuer_refreshes_total", "result", "success"); got != 2 {
		t.Errorf("refreshes_total{success} = %v, want 2", got)
	}
}

func testRefreshGrace(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil) // grace 5s
	e.addUser("fay@example.com", "fay-passw")
	p := e.login("fay@example.com", "fay-passw")
	a := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	e.clock.Advance(4 * time.Second)
	b := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken))) // a racing client, within grace
	if a.RefreshToken == b.RefreshToken {
		t.Fatal("sibling pair repeats the first successor")
	}
	for _, x := range []TokenPair{a, b} {
		if _, err := e.svc.Authenticate(t.Context(), x.AccessToken); err != nil {
			t.Errorf("sibling access token: %v", err)
		}
	}
}

func testRefreshReuse(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("gus@example.com", "gus-passw")
	p := e.login("gus@example.com", "gus-passw")
	next := decodePair(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)))
	e.clock.Advance(6 * time.Second) // past the 5s grace
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")

	c, _ := e.svc.VerifyAccessToken(p.AccessToken, true)
	st, err := e.store.SessionState(t.Context(), c.SessionID)
	if err != nil || st.RevokedAt.IsZero() {
		t.Fatalf("session after reuse: %+v, %v; want revoked", st, err)
	}
	// The successor dies with the session, and its access token no longer authenticates.
	wantError(t, e.post("/v1/refresh", refreshBody(next.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	wantError(t, e.getBearer("/v1/sessions", next.AccessToken), http.StatusUnauthorized, "invalid_token")
	if got := e.counter("vexen_issuer_refreshes_total", "result", "reused"); got != 1 {
		t.Errorf("refreshes_total{reused} = %v, want 1", got)
	}
	if got := e.counter("vexen_issuer_revocations_total", "reason", store.ReasonReuse); got != 1 {
		t.Errorf("revocations_total{refresh_reuse} = %v, want 1", got)
	}
	// A new login is unaffected.
	e.login("gus@example.com", "gus-passw")
}

func testRefreshExpired(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), func(c *Config, _ *Deps) { c.RefreshTTL = time.Hour })
	e.addUser("hal@example.com", "hal-passw")
	p := e.login("hal@example.com", "hal-passw")
	e.clock.Advance(time.Hour + time.Second)
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
}

func testRefreshAfterDisable(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("ivy@example.com", "ivy-passw")
	p := e.login("ivy@example.com", "ivy-passw")
	if err := e.svc.DisableUser(t.Context(), "ivy@example.com"); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	wantError(t, e.getBearer("/v1/sessions", p.AccessToken), http.StatusUnauthorized, "invalid_token")
	if err := e.svc.EnableUser(t.Context(), "ivy@example.com"); err != nil {
		t.Fatal(err)
	}
	// Enabling does not resurrect the revoked session, but a new login works.
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	e.login("ivy@example.com", "ivy-passw")
}

func testLogout(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("jo@example.com", "jo-passwd")
	p := e.login("jo@example.com", "jo-passwd")
	other := e.login("jo@example.com", "jo-passwd")
	for i := range 2 { // idempotent
		if w := e.post("/v1/logout", refreshBody(p.RefreshToken)); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("logout #%d: %d %s, want 204", i+1, w.Code, w.Body)
		}
	}
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	wantError(t, e.getBearer("/v1/sessions", p.AccessToken), http.StatusUnauthorized, "invalid_token")
	// An unknown (well-formed) refresh token: nothing to do, still 204.
	if w := e.post("/v1/logout", refreshBody(newRefreshToken())); w.Code != http.StatusNoContent {
		t.Errorf("logout with an unknown token: %d, want 204", w.Code)
	}
	// The other session lives on.
	decodePair(t, e.post("/v1/refresh", refreshBody(other.RefreshToken)))
	if got := e.counter("vexen_issuer_revocations_total", "reason", store.ReasonLogout); got != 1 {
		t.Errorf("revocations_total{logout} = %v, want 1", got)
	}
}

func testLogoutBearer(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("kim@example.com", "kim-passw")
	p := e.login("kim@example.com", "kim-passw")
	if w := e.postBearer("/v1/logout", p.AccessToken); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if w := e.postBearer("/v1/logout", p.AccessToken); w.Code != http.StatusNoContent {
		t.Fatalf("second logout: %d %s", w.Code, w.Body)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")

	// An expired access token still logs its session out.
	q := e.login("kim@example.com", "kim-passw")
	e.clock.Advance(16 * time.Minute)
	if w := e.postBearer("/v1/logout", q.AccessToken); w.Code != http.StatusNoContent {
		t.Fatalf("logout with an expired token: %d %s", w.Code, w.Body)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(q.RefreshToken)), http.StatusUnauthorized, "invalid_grant")

	// A token that is not ours is refused.
	forged := p.AccessToken[:len(p.AccessToken)-4] + "AAAA"
	w := e.postBearer("/v1/logout", forged)
	wantError(t, w, http.StatusUnauthorized, "invalid_token")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="vexen", error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	// A body with a JSON content type but no refresh_token falls back to the bearer.
	r := e.login("kim@example.com", "kim-passw")
	if w := e.do(request{method: "POST", path: "/v1/logout", body: `{}`, header: map[string]string{"Authorization": "Bearer " + r.AccessToken}}); w.Code != http.StatusNoContent {
		t.Fatalf("logout {} + bearer: %d %s", w.Code, w.Body)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(r.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
}

func testLogoutAll(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("lee@example.com", "lee-passw")
	e.addUser("mia@example.com", "mia-passw")
	a := e.login("lee@example.com", "lee-passw")
	b := e.login("lee@example.com", "lee-passw")
	m := e.login("mia@example.com", "mia-passw")
	if w := e.postBearer("/v1/logout-all", a.AccessToken); w.Code != http.StatusNoContent {
		t.Fatalf("logout-all: %d %s", w.Code, w.Body)
	}
	for _, p := range []TokenPair{a, b} {
		wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	}
	// The token's session is gone, so the token no longer authenticates.
	wantError(t, e.postBearer("/v1/logout-all", b.AccessToken), http.StatusUnauthorized, "invalid_token")
	// Another user is untouched.
	decodePair(t, e.post("/v1/refresh", refreshBody(m.RefreshToken)))
	if got := e.counter("vexen_issuer_revocations_total", "reason", store.ReasonLogoutAll); got != 2 {
		t.Errorf("revocations_total{logout_all} = %v, want 2", got)
	}
	// Expired access tokens are refused here (unlike /v1/logout).
	c := e.login("lee@example.com", "lee-passw")
	e.clock.Advance(16 * time.Minute)
	wantError(t, e.postBearer("/v1/logout-all", c.AccessToken), http.StatusUnauthorized, "invalid_token")
}

func testSessions(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	e.addUser("ned@example.com", "ned-passw")
	w := e.do(request{method: "POST", path: "/v1/login", body: loginBody("ned@example.com", "ned-passw"),
		header: map[string]string{"User-Agent": "first-agent/1.0"}, remote: "198.51.100.7:5555"})
	first := decodePair(t, w)
	e.clock.Advance(time.Second)
	w = e.do(request{method: "POST", path: "/v1/login", body: loginBody("ned@example.com", "ned-passw"),
		header: map[string]string{"User-Agent": "second\x01agent"}, remote: "[2001:db8::1]:5555"})
	second := decodePair(t, w)

	w = e.getBearer("/v1/sessions", second.AccessToken)
	if w.Code != http.StatusOK {
		t.Fatalf("sessions: %d %s", w.Code, w.Body)
	}
	var raw []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 {
		t.Fatalf("%d sessions, want 2: %s", len(raw), w.Body)
	}
	for _, f := range []string{"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip"} {
		if _, ok := raw[0][f]; !ok {
			t.Errorf("session entry lacks %q: %v", f, raw[0])
		}
	}
	var list []SessionInfo
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	c1, _ := e.svc.VerifyAccessToken(first.AccessToken, false)
	c2, _ := e.svc.VerifyAccessToken(second.AccessToken, false)
	newest, oldest := list[0], list[1]
	if newest.ID != c2.SessionID || oldest.ID != c1.SessionID {
		t.Fatalf("order %s, %s; want newest first (%s, %s)", newest.ID, oldest.ID, c2.SessionID, c1.SessionID)
	}
	if !newest.Current || oldest.Current {
		t.Errorf("current flags %v, %v", newest.Current, oldest.Current)
	}
	if newest.UserAgent != "secondagent" || newest.IP != "2001:db8::1" || oldest.UserAgent != "first-agent/1.0" || oldest.IP != "198.51.100.7" {
		t.Errorf("recorded %q %q / %q %q", newest.UserAgent, newest.IP, oldest.UserAgent, oldest.IP)
	}
	if !oldest.CreatedAt.Equal(t0) || !newest.ExpiresAt.Equal(t0.Add(time.Second+720*time.Hour)) {
		t.Errorf("times %v, %v", oldest.CreatedAt, newest.ExpiresAt)
	}
	for _, s := range []string{`"created_at":"2026-03-04T05:06:07Z"`} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("body lacks %s: %s", s, w.Body)
		}
	}
	// After logging one out, only the other is listed.
	if w := e.post("/v1/logout", refreshBody(first.RefreshToken)); w.Code != http.StatusNoContent {
		t.Fatal(w.Code)
	}
	list = nil
	if err := json.Unmarshal(e.getBearer("/v1/sessions", second.AccessToken).Body.Bytes(), &list); err != nil || len(list) != 1 {
		t.Fatalf("after logout: %v %v", list, err)
	}
	wantError(t, e.getBearer("/v1/sessions", first.AccessToken), http.StatusUnauthorized, "invalid_token")
	e.clock.Advance(16 * time.Minute)
	wantError(t, e.getBearer("/v1/sessions", second.AccessToken), http.StatusUnauthorized, "invalid_token")
}

func testThrottleIP(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), func(c *Config, _ *Deps) {
		c.LoginRate.PerIP = Rate{Events: 3, Per: time.Minute, Burst: 3}
	})
	e.addUser("oz@example.com", "oz-passwd")
	from := func(ip, password string) request {
		return request{method: "POST", path: "/v1/login", body: loginBody("oz@example.com", password), remote: ip + ":1000"}
	}
	for i := range 3 {
		if w := e.do(from("203.0.113.1", "oz-passwd")); w.Code != http.StatusOK {
			t.Fatalf("attempt %d: %d", i+1, w.Code)
		}
	}
	before := e.hashes.Load()
	w := e.do(from("203.0.113.1", "oz-passwd"))
	wantError(t, w, http.StatusTooManyRequests, "rate_limited")
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || ra < 1 || ra > 20 {
		t.Errorf("Retry-After %q, want whole seconds around 20", w.Header().Get("Retry-After"))
	}
	if e.hashes.Load() != before {
		t.Error("a throttled login ran argon2")
	}
	// Another address is not affected; the same /64 of IPv6 shares a bucket.
	if w := e.do(from("203.0.113.2", "oz-passwd")); w.Code != http.StatusOK {
		t.Errorf("other address: %d", w.Code)
	}
	for i := range 3 {
		e.do(from(fmt.Sprintf("[2001:db8:1:2::%d]", i+1), "oz-passwd"))
	}
	wantError(t, e.do(from("[2001:db8:1:2::ffff]", "oz-passwd")), http.StatusTooManyRequests, "rate_limited")
	// The bucket refills: one attempt every 20s.
	e.clock.Advance(time.Duration(ra) * time.Second)
	if w := e.do(from("203.0.113.1", "oz-passwd")); w.Code != http.StatusOK {
		t.Errorf("after Retry-After: %d", w.Code)
	}
	if got := e.counter("vexen_issuer_logins_total", "result", "rate_limited"); got != 2 {
		t.Errorf("logins_total{rate_limited} = %v, want 2", got)
	}
}

func testThrottleAccount(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), func(c *Config, _ *Deps) {
		c.LoginRate.PerAccount = Rate{Events: 3, Per: 3 * time.Minute, Burst: 3}
	})
	e.addUser("pat@example.com", "pat-passw")
	e.addUser("quinn@example.com", "quinn-pass")
	// Behind the (trusted, loopback) proxy each attempt comes from another client.
	n := 0
	via := func(email, password string) request {
		n++
		return request{method: "POST", path: "/v1/login", body: loginBody(email, password), remote: "127.0.0.1:9999",
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", n)}}
	}
	// Successes do not spend the account's budget.
	for range 5 {
		if w := e.do(via("pat@example.com", "pat-passw")); w.Code != http.StatusOK {
			t.Fatalf("login: %d %s", w.Code, w.Body)
		}
	}
	for i := range 3 {
		wantError(t, e.do(via("PAT@example.com", fmt.Sprintf("guess-%d", i))), http.StatusUnauthorized, "invalid_credentials")
	}
	before := e.hashes.Load()
	w := e.do(via("pat@example.com", "pat-passw")) // even the right password waits
	wantError(t, w, http.StatusTooManyRequests, "rate_limited")
	if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	if e.hashes.Load() != before {
		t.Error("a throttled account ran argon2")
	}
	// Another account is not affected by pat's failures.
	if w := e.do(via("quinn@example.com", "quinn-pass")); w.Code != http.StatusOK {
		t.Errorf("other account: %d %s", w.Code, w.Body)
	}
	// Unknown accounts are throttled the same way (no enumeration by 429s).
	for i := range 3 {
		wantError(t, e.do(via("ghost@example.com", fmt.Sprint(i))), http.StatusUnauthorized, "invalid_credentials")
	}
	wantError(t, e.do(via("ghost@example.com", "x")), http.StatusTooManyRequests, "rate_limited")
	e.clock.Advance(time.Minute)
	if w := e.do(via("pat@example.com", "pat-passw")); w.Code != http.StatusOK {
		t.Errorf("after a minute: %d %s", w.Code, w.Body)
	}
}

func testWellKnown(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), func(c *Config, _ *Deps) { c.IssuerURL = "https://auth.example.com" })
	e.addUser("rae@example.com", "rae-passw")
	p := e.login("rae@example.com", "rae-passw")
	w := e.do(request{method: "GET", path: "/.well-known/jwks.json"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("jwks: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", w.Body, err)
	}
	hdr := tokenHeader(t, p.AccessToken)
	if set.Keys[0]["kid"] != hdr["kid"] || set.Keys[0]["alg"] != "ES256" || set.Keys[0]["use"] != "sig" {
		t.Errorf("jwks key %v, token header %v", set.Keys[0], hdr)
	}
	if _, leaked := set.Keys[0]["d"]; leaked {
		t.Fatal("JWKS publishes the private key")
	}
	w = e.do(request{method: "GET", path: "/.well-known/openid-configuration"})
	var d Discovery
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 {
		t.Fatalf("discovery %d %s", w.Code, w.Body)
	}
	if d.Issuer != "https://auth.example.com" || d.JWKSURI != "https://auth.example.com/.well-known/jwks.json" ||
		d.LoginEndpoint != "https://auth.example.com/v1/login" {
		t.Errorf("discovery %+v", d)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if w := e.do(request{method: "GET", path: path}); w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
		if w := e.do(request{method: "HEAD", path: path}); w.Code != 200 {
			t.Errorf("HEAD %s: %d", path, w.Code)
		}
	}
}

func testAdmin(t *testing.T, newStore func(testing.TB) Store) {
	e := newEnv(t, newStore(t), nil)
	ctx := t.Context()
	u, err := e.svc.AddUser(ctx, "sam@example.com", "sam-passw", []string{" ops ", "ops", "", "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(u.Roles, ",") != "ops,dev" || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("user %+v", u)
	}
	for _, tt := range []struct {
		email, password string
		roles           []string
		want            error
	}{
		{"SAM@example.com", "another-pw", nil, ErrUserExists},
		{"not-an-email", "password1", nil, ErrInvalidEmail},
		{"Sam <sam2@example.com>", "password1", nil, ErrInvalidEmail},
		{"tom@example.com", "short", nil, ErrWeakPassword},
		{"tom@example.com", "password1", []string{"a,b"}, ErrInvalidRole},
		{"tom@example.com", "password1", []string{"a b"}, ErrInvalidRole},
	} {
		if _, err := e.svc.AddUser(ctx, tt.email, tt.password, tt.roles); !errorsIs(err, tt.want) {
			t.Errorf("AddUser(%q, roles %q): %v, want %v", tt.email, tt.roles, err, tt.want)
		}
	}
	e.login("sam@example.com", "sam-passw")
	e.clock.Advance(time.Second)
	p := e.login("sam@example.com", "sam-passw")
	list, err := e.svc.ListSessions(ctx, "Sam@Example.com")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListSessions: %d, %v", len(list), err)
	}
	n, err := e.svc.RevokeSessions(ctx, "sam@example.com")
	if err != nil || n != 2 {
		t.Fatalf("RevokeSessions: %d, %v; want 2", n, err)
	}
	if n, _ := e.svc.RevokeSessions(ctx, "sam@example.com"); n != 0 {
		t.Errorf("second RevokeSessions: %d, want 0", n)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	for name, f := range map[string]func() error{
		"DisableUser":    func() error { return e.svc.DisableUser(ctx, "ghost@example.com") },
		"ListSessions":   func() error { _, err := e.svc.ListSessions(ctx, "ghost@example.com"); return err },
		"RevokeSessions": func() error { _, err := e.svc.RevokeSessions(ctx, "ghost@example.com"); return err },
	} {
		if err := f(); !errorsIs(err, ErrUnknownUser) {
			t.Errorf("%s(unknown): %v, want ErrUnknownUser", name, err)
		}
	}
	p = e.login("sam@example.com", "sam-passw")
	if err := e.svc.DisableUser(ctx, "sam@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DisableUser(ctx, "sam@example.com"); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
	wantError(t, e.post("/v1/refresh", refreshBody(p.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	wantError(t, e.post("/v1/login", loginBody("sam@example.com", "sam-passw")), http.StatusUnauthorized, "invalid_credentials")
}

// tokenHeader decodes a JWS's protected header without checking anything.
func tokenHeader(t testing.TB, tok string) map[string]any {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := b64url.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
