package issue

import (
	"encoding/json"
	"github.com/vexen/vexen-auth/internal/testenv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/audit"
)

// auditEnv is a browser-capable env whose audit log goes to a buffer.
func auditEnv(t *testing.T, mod func(*Config)) (*env, *testenv.Buffer) {
	t.Helper()
	buf := &testenv.Buffer{}
	e := newEnv(t, newMemStore(), func(c *Config, d *Deps) {
		c.IssuerURL = "http://auth.example.com"
		c.AllowedRedirectHosts = []string{"auth.example.com"}
		if mod != nil {
			mod(c)
		}
		d.Audit = audit.New(buf)
	})
	return e, buf
}

// auditLines decodes the JSON lines of the audit log from line from on.
func auditLines(t testing.TB, buf *testenv.Buffer, from int) []map[string]any {
	t.Helper()
	var out []map[string]any
	all := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for i, l := range all {
		if l == "" || i < from {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q is not JSON: %v", l, err)
		}
		if m["audit"] != true {
			t.Fatalf("audit line without \"audit\":true: %s", l)
		}
		out = append(out, m)
	}
	return out
}

// TestAuditEvents walks the security-relevant actions through the real HTTP API, the
// browser form and the admin operations: each writes exactly one audit line with its
// fields, and no line holds a password or a token.
func TestAuditEvents(t *testing.T) {
	const pw = "correct-horse-battery"
	e, buf := auditEnv(t, nil)
	var secrets []string // everything that must never reach the log
	secrets = append(secrets, pw, "wrong-password-1")

	sid := func(p TokenPair) string {
		t.Helper()
		c, err := e.svc.VerifyAccessToken(p.AccessToken, true)
		if err != nil {
			t.Fatal(err)
		}
		return c.SessionID
	}
	seen := 0
	// step runs act and checks that it wrote exactly one line holding want.
	step := func(name string, act func(), want map[string]any, absent ...string) map[string]any {
		t.Helper()
		act()
		got := auditLines(t, buf, seen)
		seen += len(got)
		if len(got) != 1 {
			t.Fatalf("%s: %d audit lines, want 1: %v", name, len(got), got)
		}
		for k, v := range want {
			gv, _ := json.Marshal(got[0][k])
			wv, _ := json.Marshal(v)
			if string(gv) != string(wv) {
				t.Errorf("%s: %s = %s, want %s (line %v)", name, k, gv, wv, got[0])
			}
		}
		for _, k := range absent {
			if _, ok := got[0][k]; ok {
				t.Errorf("%s: field %s present: %v", name, k, got[0])
			}
		}
		return got[0]
	}

	var uid string
	step("user added", func() { uid = e.addUser("ann@example.com", pw, "admin") },
		map[string]any{"event": "user_added", "actor": "admin", "email": "ann@example.com", "roles": []string{"admin"}})

	var pair TokenPair
	step("API login", func() {
		w := e.do(request{method: http.MethodPost, path: "/v1/login", body: loginBody("ann@example.com", pw),
			header: map[string]string{"User-Agent": "cli/1.0"}})
		pair = decodePair(t, w)
	}, map[string]any{"event": "login", "result": "success", "user_id": uid, "email": "ann@example.com",
		"client_ip": "192.0.2.10", "user_agent": "cli/1.0", "via": "api"}, "reason")
	secrets = append(secrets, pair.AccessToken, pair.RefreshToken)
	if got := auditLines(t, buf, seen-1)[0]["session_id"]; got != sid(pair) {
		t.Errorf("login session_id %v, want %s", got, sid(pair))
	}

	step("wrong password", func() {
		wantError(t, e.post("/v1/login", loginBody("ann@example.com", "wrong-password-1")), http.StatusUnauthorized, "invalid_credentials")
	}, map[string]any{"event": "login", "result": "failure", "reason": "wrong_password", "user_id": uid,
		"email": "ann@example.com", "client_ip": "192.0.2.10", "via": "api"}, "session_id")

	step("unknown user, hostile email", func() {
		wantError(t, e.post("/v1/login", loginBody("nobody\u202e@example.com", "wrong-password-1")), http.StatusUnauthorized, "invalid_credentials")
	}, map[string]any{"event": "login", "result": "failure", "reason": "unknown_user",
		"email": `nobody\u202e@example.com`}, "user_id")

	step("refresh reuse", func() {
		next := decodePair(t, e.post("/v1/refresh", refreshBody(pair.RefreshToken)))
		secrets = append(secrets, next.AccessToken, next.RefreshToken)
		e.clock.Advance(e.svc.cfg.RefreshGrace + time.Second)
		wantError(t, e.post("/v1/refresh", refreshBody(pair.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	}, map[string]any{"event": "refresh_reuse", "actor": "system", "reason": "refresh_reuse", "user_id": uid,
		"session_ids": []string{sid(pair)}, "token_hash": hashPrefix(TokenHash(pair.RefreshToken))})

	pair = e.login("ann@example.com", pw)
	seen++ // its login line, checked above
	secrets = append(secrets, pair.AccessToken, pair.RefreshToken)
	step("API logout", func() {
		if w := e.post("/v1/logout", refreshBody(pair.RefreshToken)); w.Code != http.StatusNoContent {
			t.Fatalf("logout: %d %s", w.Code, w.Body)
		}
	}, map[string]any{"event": "logout", "actor": "user", "user_id": uid, "session_id": sid(pair), "revoked": 1, "via": "api"})

	a, b := e.login("ann@example.com", pw), e.login("ann@example.com", pw)
	seen += 2
	secrets = append(secrets, a.AccessToken, a.RefreshToken, b.AccessToken, b.RefreshToken)
	line := step("logout-all", func() {
		if w := e.postBearer("/v1/logout-all", a.AccessToken); w.Code != http.StatusOK && w.Code != http.StatusNoContent {
			t.Fatalf("logout-all: %d %s", w.Code, w.Body)
		}
	}, map[string]any{"event": "logout_all", "actor": "user", "user_id": uid, "session_id": sid(a)})
	if ids, _ := line["session_ids"].([]any); len(ids) != 2 {
		t.Errorf("logout_all session_ids %v, want both sessions", line["session_ids"])
	}

	var s session
	step("browser sign-in", func() { s = e.signIn("ann@example.com", pw, "/") },
		map[string]any{"event": "login", "result": "success", "user_id": uid, "via": "browser"})
	secrets = append(secrets, s.access.Value, s.refreshLogout.Value)
	step("browser sign-in failure", func() {
		fs := e.signInForm("/login")
		if w := e.page(fs.submit("ann@example.com", "wrong-password-1")); w.Code == http.StatusSeeOther {
			t.Fatalf("wrong password signed in")
		}
	}, map[string]any{"event": "login", "result": "failure", "reason": "wrong_password", "via": "browser"})
	step("browser sign-out", func() {
		w := e.page(pageReq{method: "GET", target: "/logout?rd=" + url.QueryEscape("/"), cookies: []*http.Cookie{s.refreshLogout}})
		if w.Code != http.StatusSeeOther {
			t.Fatalf("logout: %d", w.Code)
		}
	}, map[string]any{"event": "logout", "actor": "user", "user_id": uid, "via": "browser"})

	c := e.login("ann@example.com", pw)
	seen++
	secrets = append(secrets, c.AccessToken, c.RefreshToken)
	step("admin revokes sessions", func() {
		if n, err := e.svc.RevokeSessions(t.Context(), "ann@example.com"); err != nil || n != 1 {
			t.Fatalf("RevokeSessions: %d, %v", n, err)
		}
	}, map[string]any{"event": "session_revoked", "actor": "admin", "reason": "admin", "user_id": uid,
		"session_ids": []string{sid(c)}})

	d := e.login("ann@example.com", pw)
	seen++
	secrets = append(secrets, d.AccessToken, d.RefreshToken)
	step("admin disables the user", func() {
		if err := e.svc.DisableUser(t.Context(), "ann@example.com"); err != nil {
			t.Fatal(err)
		}
	}, map[string]any{"event": "user_disabled", "actor": "admin", "user_id": uid, "email": "ann@example.com",
		"session_ids": []string{sid(d)}})
	step("disabled user signs in", func() {
		wantError(t, e.post("/v1/login", loginBody("ann@example.com", pw)), http.StatusUnauthorized, "invalid_credentials")
	}, map[string]any{"event": "login", "result": "failure", "reason": "disabled", "user_id": uid})
	step("admin enables the user", func() {
		if err := e.svc.EnableUser(t.Context(), "ann@example.com"); err != nil {
			t.Fatal(err)
		}
	}, map[string]any{"event": "user_enabled", "actor": "admin", "user_id": uid}, "session_ids")

	log := buf.String()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(log, sec) {
			t.Errorf("the audit log holds a secret %q:\n%s", sec, log)
		}
	}
	if strings.ContainsRune(log, '\u202e') {
		t.Errorf("raw bidirectional control in the audit log:\n%s", log)
	}
}

func TestAuditLoginRateLimited(t *testing.T) {
	e, buf := auditEnv(t, func(c *Config) {
		c.LoginRate.PerAccount = Rate{Events: 1, Per: time.Hour}
	})
	e.post("/v1/login", loginBody("bob@example.com", "wrong-password-1"))
	w := e.post("/v1/login", loginBody("bob@example.com", "wrong-password-1"))
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("second attempt: %d, want 429", w.Code)
	}
	got := auditLines(t, buf, 0)
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2: %v", len(got), got)
	}
	if got[1]["reason"] != "rate_limited" || got[1]["scope"] != "account" || got[1]["email"] != "bob@example.com" {
		t.Fatalf("throttled attempt: %v", got[1])
	}
}

// TestAuditOff: no Deps.Audit, no line and no failure.
func TestAuditOff(t *testing.T) {
	e := newEnv(t, newMemStore(), nil)
	e.addUser("c@example.com", "c-password")
	e.login("c@example.com", "c-password")
	if e.svc.audit != nil {
		t.Fatal("audit recorder set without Deps.Audit")
	}
}
