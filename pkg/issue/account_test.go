package issue

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/audit"
	"github.com/vexen/vexen-auth/pkg/store"
)

// accountEnv is an env over a real store whose audit log goes to a buffer.
func accountEnv(t *testing.T, open func(testing.TB) Store, mod func(*Config)) (*env, *testenv.Buffer) {
	t.Helper()
	buf := &testenv.Buffer{}
	e := newEnv(t, open(t), func(c *Config, d *Deps) {
		c.IssuerURL = "http://auth.example.com"
		c.AllowedRedirectHosts = []string{"auth.example.com"}
		if mod != nil {
			mod(c)
		}
		d.Audit = audit.New(buf)
	})
	return e, buf
}

// TestAccounts runs the account lifecycle on SQLite and PostgreSQL.
func TestAccounts(t *testing.T) {
	tests := []struct {
		name string
		run  func(*testing.T, func(testing.TB) Store)
	}{
		{"ChangePassword", testChangePassword},
		{"ChangePasswordErrors", testChangePasswordErrors},
		{"ResetLink", testResetLink},
		{"ResetLinkErrors", testResetLinkErrors},
		{"SetRolesRevokes", testSetRolesRevokes},
		{"SetPasswordAndDelete", testSetPasswordAndDelete},
		{"RehashAtLogin", testRehashAtLogin},
		{"ResetMFA", testResetMFA},
	}
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, rs.open) })
			}
		})
	}
}

func passwordBody(current, next string) string {
	return jsonString(map[string]string{"current_password": current, "new_password": next})
}

func (e *env) postBearerBody(path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: path, body: body, header: map[string]string{"Authorization": "Bearer " + token}})
}

// live reports whether the access token's session is still live at the issuer.
func (e *env) live(access string) bool {
	_, err := e.svc.Authenticate(e.t.Context(), access)
	return err == nil
}

// noSecrets fails when the audit log holds any of secrets.
func noSecrets(t testing.TB, buf *testenv.Buffer, secrets ...string) {
	t.Helper()
	log := buf.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the audit log holds a secret (%.6s…)", s)
		}
	}
}

// auditHas returns the audit lines of event ev.
func auditHas(t testing.TB, buf *testenv.Buffer, ev string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range auditLines(t, buf, 0) {
		if l["event"] == ev {
			out = append(out, l)
		}
	}
	return out
}

func testChangePassword(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, nil)
	e.addUser("carol@example.com", "old password 1")
	a := e.login("carol@example.com", "old password 1")
	b := e.login("carol@example.com", "old password 1")
	w := e.postBearerBody("/v1/password", a.AccessToken, passwordBody("old password 1", "new password 2"))
	if w.Code != http.StatusNoContent {
		t.Fatalf("POST /v1/password: %d %s, want 204", w.Code, w.Body)
	}
	if !e.live(a.AccessToken) {
		t.Error("the session that changed the password was revoked; want it kept")
	}
	if e.live(b.AccessToken) {
		t.Error("another session is still live after the password change")
	}
	wantError(t, e.post("/v1/refresh", refreshBody(b.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	wantError(t, e.post("/v1/login", loginBody("carol@example.com", "old password 1")), http.StatusUnauthorized, "invalid_credentials")
	e.login("carol@example.com", "new password 2")
	if got := e.counter("vexen_issuer_revocations_total", "reason", store.ReasonPasswordChanged); got != 1 {
		t.Errorf("revocations_total{password_changed} = %v, want 1", got)
	}
	lines := auditHas(t, buf, audit.EventPasswordChanged)
	if len(lines) != 1 || lines[0]["result"] != "success" || lines[0]["actor"] != "user" {
		t.Fatalf("password_changed audit lines %v, want one success by the user", lines)
	}
	if ids, _ := lines[0]["session_ids"].([]any); len(ids) != 1 || ids[0] != e.sid(b) {
		t.Errorf("password_changed session_ids %v, want the other session", lines[0]["session_ids"])
	}
	noSecrets(t, buf, "old password 1", "new password 2", a.AccessToken, a.RefreshToken, b.RefreshToken)
}

func (e *env) sid(p TokenPair) string {
	c, err := e.svc.VerifyAccessToken(p.AccessToken, true)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.SessionID
}

func testChangePasswordErrors(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, func(c *Config) { c.LoginRate.PerAccount = Rate{Events: 3, Per: time.Hour, Burst: 3} })
	e.addUser("dave@example.com", "right password")
	p := e.login("dave@example.com", "right password")
	at := p.AccessToken
	tests := []struct {
		name   string
		token  string
		body   string
		status int
		code   string
	}{
		{"no bearer", "", passwordBody("right password", "new password 9"), 401, "invalid_token"},
		{"bad bearer", "not-a-jwt", passwordBody("right password", "new password 9"), 401, "invalid_token"},
		{"missing new", at, `{"current_password":"right password"}`, 400, "invalid_request"},
		{"missing current", at, `{"new_password":"new password 9"}`, 400, "invalid_request"},
		{"unknown field", at, `{"current_password":"right password","new_password":"new password 9","email":"x"}`, 400, "invalid_request"},
		{"not JSON", at, `current_password=x`, 400, "invalid_request"},
		{"too short", at, passwordBody("right password", "short"), 400, "invalid_request"},
		{"too long", at, passwordBody("right password", strings.Repeat("x", MaxPasswordLen+1)), 400, "invalid_request"},
		{"wrong current", at, passwordBody("wrong password", "new password 9"), 401, "invalid_credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request{method: http.MethodPost, path: "/v1/password", body: tt.body}
			if tt.token != "" {
				r.header = map[string]string{"Authorization": "Bearer " + tt.token}
			}
			wantError(t, e.do(r), tt.status, tt.code)
		})
	}
	if w := e.do(request{method: http.MethodGet, path: "/v1/password"}); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/password: %d, want 405", w.Code)
	}
	// Wrong current passwords count against the account's throttle (3 here; one
	// spent above, by the login's successful check given back).
	e.postBearerBody("/v1/password", at, passwordBody("wrong password", "new password 9"))
	e.postBearerBody("/v1/password", at, passwordBody("wrong password", "new password 9"))
	w := e.postBearerBody("/v1/password", at, passwordBody("right password", "new password 9"))
	wantError(t, w, http.StatusTooManyRequests, "rate_limited")
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// A revoked session cannot change the password.
	e.clock.Advance(2 * time.Hour)
	q := e.login("dave@example.com", "right password")
	if _, err := e.svc.LogoutAll(t.Context(), q.AccessToken); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.postBearerBody("/v1/password", q.AccessToken, passwordBody("right password", "new password 9")), 401, "invalid_token")
	e.login("dave@example.com", "right password") // unchanged
	if n := len(auditHas(t, buf, audit.EventPasswordChanged)); n < 3 {
		t.Errorf("%d password_changed failure lines, want one per wrong or throttled attempt", n)
	}
	noSecrets(t, buf, "right password", "wrong password", "new password 9")
}

// resetToken is the token of a reset link URL.
func resetToken(t testing.TB, link ResetLink) string {
	t.Helper()
	u, err := url.Parse(link.URL)
	if err != nil || u.Path != PathReset || u.Host != "auth.example.com" {
		t.Fatalf("reset link %q: want http://auth.example.com%s?token=…", link.URL, PathReset)
	}
	return u.Query().Get("token")
}

func resetBody(token, pw string) string {
	return jsonString(map[string]string{"token": token, "new_password": pw})
}

func testResetLink(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, nil)
	e.addUser("erin@example.com", "forgotten pw 1")
	p := e.login("erin@example.com", "forgotten pw 1")
	link, err := e.svc.CreateResetLink(t.Context(), "Erin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !link.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("link expires at %v, want an hour from now", link.ExpiresAt)
	}
	tok := resetToken(t, link)
	if w := e.post("/v1/password/reset", resetBody(tok, "chosen anew 2")); w.Code != http.StatusNoContent {
		t.Fatalf("POST /v1/password/reset: %d %s, want 204", w.Code, w.Body)
	}
	if e.live(p.AccessToken) {
		t.Error("a session is still live after the reset")
	}
	wantError(t, e.post("/v1/login", loginBody("erin@example.com", "forgotten pw 1")), 401, "invalid_credentials")
	e.login("erin@example.com", "chosen anew 2")
	// Used once: refused after.
	wantError(t, e.post("/v1/password/reset", resetBody(tok, "chosen again 3")), 400, "invalid_reset_link")
	e.login("erin@example.com", "chosen anew 2")

	created, used := auditHas(t, buf, audit.EventResetLinkCreated), auditHas(t, buf, audit.EventResetLinkUsed)
	if len(created) != 1 || created[0]["actor"] != "admin" || created[0]["token_hash"] != hashPrefix(TokenHash(tok)) {
		t.Errorf("reset_link_created lines %v", created)
	}
	if len(used) != 2 || used[0]["result"] != "success" || used[1]["result"] != "failure" || used[1]["reason"] != "used" {
		t.Errorf("reset_link_used lines %v, want a success then a failure (used)", used)
	}
	noSecrets(t, buf, tok, "forgotten pw 1", "chosen anew 2", "chosen again 3")
}

func testResetLinkErrors(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, nil)
	e.addUser("finn@example.com", "finn password")
	if _, err := e.svc.CreateResetLink(t.Context(), "nobody@example.com"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("CreateResetLink(unknown) = %v, want ErrUnknownUser", err)
	}
	first, err := e.svc.CreateResetLink(t.Context(), "finn@example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	second, err := e.svc.CreateResetLink(t.Context(), "finn@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok := resetToken(t, second)
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"missing token", `{"new_password":"long enough 1"}`, 400, "invalid_request"},
		{"missing password", jsonString(map[string]string{"token": tok}), 400, "invalid_request"},
		{"short password", resetBody(tok, "short"), 400, "invalid_request"},
		{"unknown field", `{"token":"x","new_password":"long enough 1","email":"finn@example.com"}`, 400, "invalid_request"},
		{"malformed token", resetBody("not a token", "long enough 1"), 400, "invalid_reset_link"},
		{"unknown token", resetBody(newRefreshToken(), "long enough 1"), 400, "invalid_reset_link"},
		{"superseded link", resetBody(resetToken(t, first), "long enough 1"), 400, "invalid_reset_link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantError(t, e.post("/v1/password/reset", tt.body), tt.status, tt.code) })
	}
	// An hour after it was made, the link is dead.
	e.clock.Advance(time.Hour)
	wantError(t, e.post("/v1/password/reset", resetBody(tok, "long enough 1")), 400, "invalid_reset_link")
	e.login("finn@example.com", "finn password") // unchanged
	var reasons []string
	for _, l := range auditHas(t, buf, audit.EventResetLinkUsed) {
		reasons = append(reasons, l["reason"].(string))
	}
	for _, want := range []string{"malformed", "unknown", "expired"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("reset_link_used reasons %v lack %q", reasons, want)
		}
	}
	noSecrets(t, buf, tok, resetToken(t, first), "long enough 1")
}

func testSetRolesRevokes(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, nil)
	e.addUser("gail@example.com", "gail password", "user")
	p := e.login("gail@example.com", "gail password")
	roles, n, err := e.svc.SetRoles(t.Context(), "gail@example.com", []string{" ops ", "admin", "ops"})
	if err != nil || n != 1 || !slices.Equal(roles, []string{"ops", "admin"}) {
		t.Fatalf("SetRoles = %v, %d, %v; want [ops admin], 1 session revoked", roles, n, err)
	}
	if e.live(p.AccessToken) {
		t.Error("a token with the old roles is still honoured")
	}
	c, err := e.svc.VerifyAccessToken(e.login("gail@example.com", "gail password").AccessToken, false)
	if err != nil || !slices.Equal(c.Roles, []string{"ops", "admin"}) {
		t.Errorf("new token roles %v (%v), want [ops admin]", c.Roles, err)
	}
	if _, _, err := e.svc.SetRoles(t.Context(), "gail@example.com", []string{"a,b"}); !errors.Is(err, ErrInvalidRole) {
		t.Errorf("SetRoles(a,b) = %v, want ErrInvalidRole", err)
	}
	if _, _, err := e.svc.SetRoles(t.Context(), "nobody@example.com", nil); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("SetRoles(unknown) = %v, want ErrUnknownUser", err)
	}
	lines := auditHas(t, buf, audit.EventRolesChanged)
	if len(lines) != 1 || lines[0]["actor"] != "admin" {
		t.Fatalf("roles_changed lines %v", lines)
	}
	if old, _ := lines[0]["old_roles"].([]any); len(old) != 1 || old[0] != "user" {
		t.Errorf("roles_changed old_roles %v, want [user]", lines[0]["old_roles"])
	}
}

func testSetPasswordAndDelete(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, nil)
	e.addUser("hugo@example.com", "hugo password")
	e.addUser("ivy@example.com", "ivy password")
	p := e.login("hugo@example.com", "hugo password")
	if _, err := e.svc.SetPassword(t.Context(), "hugo@example.com", "short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("SetPassword(short) = %v, want ErrWeakPassword", err)
	}
	n, err := e.svc.SetPassword(t.Context(), "hugo@example.com", "operator set 1")
	if err != nil || n != 1 || e.live(p.AccessToken) {
		t.Fatalf("SetPassword = %d, %v; session live %v; want 1 revoked", n, err, e.live(p.AccessToken))
	}
	q := e.login("hugo@example.com", "operator set 1")
	if err := e.svc.DisableUser(t.Context(), "hugo@example.com"); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.post("/v1/login", loginBody("hugo@example.com", "operator set 1")), 401, "invalid_credentials")
	if err := e.svc.EnableUser(t.Context(), "hugo@example.com"); err != nil {
		t.Fatal(err)
	}
	if e.live(q.AccessToken) {
		t.Error("enabling brought a revoked session back")
	}
	r := e.login("hugo@example.com", "operator set 1")
	users, err := e.svc.ListUsers(t.Context())
	if err != nil || len(users) != 2 || users[0].Email != "hugo@example.com" || users[1].Email != "ivy@example.com" {
		t.Fatalf("ListUsers = %v, %v", users, err)
	}
	n, err = e.svc.DeleteUser(t.Context(), "hugo@example.com")
	if err != nil || n != 1 || e.live(r.AccessToken) {
		t.Fatalf("DeleteUser = %d, %v; session live %v", n, err, e.live(r.AccessToken))
	}
	wantError(t, e.post("/v1/login", loginBody("hugo@example.com", "operator set 1")), 401, "invalid_credentials")
	wantError(t, e.post("/v1/refresh", refreshBody(r.RefreshToken)), 401, "invalid_grant")
	if _, err := e.svc.DeleteUser(t.Context(), "hugo@example.com"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("DeleteUser twice = %v, want ErrUnknownUser", err)
	}
	if users, _ := e.svc.ListUsers(t.Context()); len(users) != 1 {
		t.Errorf("ListUsers after delete: %d users, want 1", len(users))
	}
	for _, ev := range []string{audit.EventPasswordChanged, audit.EventUserDisabled, audit.EventUserEnabled, audit.EventUserDeleted} {
		if len(auditHas(t, buf, ev)) != 1 {
			t.Errorf("want one %s audit line", ev)
		}
	}
	noSecrets(t, buf, "operator set 1", "hugo password")
}

func testRehashAtLogin(t *testing.T, open func(testing.TB) Store) {
	// The operator raised the passes from 1 to 2 since the hash was made.
	e, _ := accountEnv(t, open, func(c *Config) { c.Password.Time = 2 })
	st := e.store.(store.Store)
	hash, err := HashPassword("rehash me please", testParams)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(t.Context(), store.User{Email: "jo@example.com", PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	e.login("jo@example.com", "rehash me please")
	got, _ := st.UserByID(t.Context(), u.ID)
	ph, err := parsePHC(got.PasswordHash)
	if err != nil || got.PasswordHash == hash || ph.params.Time != 2 {
		t.Fatalf("hash after login: t=%d (%v); want it upgraded to t=2", ph.params.Time, err)
	}
	if c := e.counter("vexen_issuer_password_rehashes_total"); c != 1 {
		t.Errorf("password_rehashes_total = %v, want 1", c)
	}
	// Already at the configured parameters: no second rehash.
	e.login("jo@example.com", "rehash me please")
	if again, _ := st.UserByID(t.Context(), u.ID); again.PasswordHash != got.PasswordHash {
		t.Error("a hash at the configured parameters was rehashed")
	}
}

// testResetMFA: the operator's reset removes the factor, the recovery codes and a
// pending second step, revokes every session, and the password alone signs in again.
func testResetMFA(t *testing.T, open func(testing.TB) Store) {
	e, buf := accountEnv(t, open, nil)
	id := e.addUser("mia@example.com", "mia password")
	p := e.login("mia@example.com", "mia password")
	_, codes := e.enrol(p)
	k := newSoftKey(t, "auth.example.com", "http://auth.example.com") // accountEnv's issuer
	e.registerPasskey(p, k, "key")
	pending := e.mfaToken("mia@example.com", "mia password")
	f, n, err := e.svc.ResetMFA(t.Context(), "mia@example.com")
	if err != nil || f != 2 || n != 1 {
		t.Fatalf("ResetMFA = %d factors, %d sessions, %v; want 2 (TOTP and a passkey), 1", f, n, err)
	}
	if _, err := e.passkeyLogin(k); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("a passkey after the reset: %v", err)
	}
	if e.live(p.AccessToken) {
		t.Error("a session survived the reset")
	}
	wantError(t, e.post(PathLoginMFA, mfaBody(pending, codes[0])), 401, "invalid_mfa_token")
	e.login("mia@example.com", "mia password") // no mfa_required any more
	if st, err := e.svc.Factors(t.Context(), id); err != nil || st.TOTP || st.Pending || st.RecoveryCodes != 0 {
		t.Errorf("factors after reset: %+v, %v", st, err)
	}
	if f, n, err := e.svc.ResetMFA(t.Context(), "mia@example.com"); err != nil || f != 0 || n != 1 {
		t.Errorf("ResetMFA again = %d, %d, %v; want 0 factors, 1 session", f, n, err)
	}
	if _, _, err := e.svc.ResetMFA(t.Context(), "nobody@example.com"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("ResetMFA(unknown) = %v, want ErrUnknownUser", err)
	}
	lines := auditHas(t, buf, audit.EventFactorRemoved)
	if len(lines) != 2 || lines[0]["actor"] != "admin" || lines[0]["factors"] != float64(2) {
		t.Fatalf("mfa_factor_removed lines %v", lines)
	}
	noSecrets(t, buf, codes...)
}
