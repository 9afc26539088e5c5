package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// issuerCLI runs the real issuer binary's subcommand against the stack's database
// and Redis (as an operator would on the host), with stdin, and returns its output.
func (s *stack) issuerCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bins.issuer, args...)
	cmd.Dir = s.dir
	cmd.Env = append(append(os.Environ(), s.env...), "ISSUER_URL="+s.issuerURL, "AUDIT_LOG="+s.dir+"/audit.log")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("issuer %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// verifierStatus is the verifier's answer to a bearer token at /auth.
func (s *stack) verifierStatus(t *testing.T, access string) int {
	t.Helper()
	return send(t, "GET", "http://"+s.verifierAddr+"/auth", bearer(access), "").status
}

// denied waits (the revocation travels through Redis) until the verifier refuses
// access with 401; it fails the test after 2 s.
func (s *stack) denied(t *testing.T, what, access string) {
	t.Helper()
	if !waitFor(2*time.Second, func() bool { return s.verifierStatus(t, access) == http.StatusUnauthorized }) {
		t.Fatalf("%s: the verifier still answers %d, want 401", what, s.verifierStatus(t, access))
	}
}

// TestAccountLifecycle drives the account commands as an operator runs them (the
// real issuer binary, beside the running issuer and verifier) and the password
// change and reset through the issuer's API, and checks that every change reaches
// the verifier at once through the revocation path.
func TestAccountLifecycle(t *testing.T) {
	s := newStack(t, "app.example.com")
	bob := plainUser

	// A password change by the user: the other session ends, this one stays.
	a, b := s.login(t, bob), s.login(t, bob)
	if got := s.verifierStatus(t, b.AccessToken); got != http.StatusOK {
		t.Fatalf("verifier with a fresh token: %d, want 200", got)
	}
	body := `{"current_password":"` + bob.password + `","new_password":"changed by bob 1"}`
	if r := send(t, "POST", s.issuerURL+"/v1/password", with(bearer(a.AccessToken), "Content-Type", "application/json"), body); r.status != http.StatusNoContent {
		t.Fatalf("POST /v1/password: %d %s", r.status, r.body)
	}
	s.denied(t, "the other session after a password change", b.AccessToken)
	if got := s.verifierStatus(t, a.AccessToken); got != http.StatusOK {
		t.Errorf("the session that changed the password: %d, want 200", got)
	}
	bob.password = "changed by bob 1"

	// set-roles: tokens with the old roles stop at once; a new login carries the new.
	c := s.login(t, bob)
	out := s.issuerCLI(t, "", "user", "set-roles", "--email", bob.email, "--role", "ops", "--role", "dev")
	if !strings.Contains(out, "[ops,dev]") {
		t.Errorf("set-roles printed %q", out)
	}
	s.denied(t, "a token after set-roles", c.AccessToken)
	d := s.login(t, bob)
	r := send(t, "GET", "http://"+s.verifierAddr+"/auth", bearer(d.AccessToken), "")
	if r.status != http.StatusOK || r.header.Get("X-Auth-Roles") != "ops,dev" {
		t.Errorf("after set-roles: %d, X-Auth-Roles %q; want 200, ops,dev", r.status, r.header.Get("X-Auth-Roles"))
	}

	// disable / enable.
	s.issuerCLI(t, "", "user", "disable", "--email", bob.email)
	s.denied(t, "a token after disable", d.AccessToken)
	if r := send(t, "POST", s.issuerURL+"/v1/login", http.Header{"Content-Type": {"application/json"}},
		`{"email":"`+bob.email+`","password":"`+bob.password+`"}`); r.status != http.StatusUnauthorized {
		t.Errorf("login while disabled: %d, want 401", r.status)
	}
	if out := s.issuerCLI(t, "", "user", "enable", "--email", bob.email); !strings.Contains(out, "enabled") {
		t.Errorf("enable printed %q", out)
	}
	e := s.login(t, bob)

	// reset-link: printed for the operator; the link sets a password once.
	out = s.issuerCLI(t, "", "user", "reset-link", "--email", bob.email)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	link, err := url.Parse(lines[len(lines)-1])
	if err != nil || link.Path != "/reset" || !strings.HasPrefix(link.String(), s.issuerURL) {
		t.Fatalf("reset-link printed %q; want a %s/reset?token=… line", out, s.issuerURL)
	}
	tok := link.Query().Get("token")
	if r := send(t, "GET", link.String(), nil, ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `name="new_password"`) {
		t.Errorf("GET the reset link: %d; want the new-password form", r.status)
	}
	resetBody, _ := json.Marshal(map[string]string{"token": tok, "new_password": "reset by link 2"})
	if r := send(t, "POST", s.issuerURL+"/v1/password/reset", http.Header{"Content-Type": {"application/json"}}, string(resetBody)); r.status != http.StatusNoContent {
		t.Fatalf("POST /v1/password/reset: %d %s", r.status, r.body)
	}
	s.denied(t, "a token after a reset", e.AccessToken)
	again, _ := json.Marshal(map[string]string{"token": tok, "new_password": "reset twice 3"})
	if r := send(t, "POST", s.issuerURL+"/v1/password/reset", http.Header{"Content-Type": {"application/json"}}, string(again)); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "invalid_reset_link") {
		t.Errorf("reset link used twice: %d %s; want 400 invalid_reset_link", r.status, r.body)
	}
	bob.password = "reset by link 2"

	// set-password from standard input.
	f := s.login(t, bob)
	if out := s.issuerCLI(t, "set by operator 4\n", "user", "set-password", "--email", bob.email, "--password-stdin"); !strings.Contains(out, "1 session(s) revoked") {
		t.Errorf("set-password printed %q", out)
	}
	s.denied(t, "a token after set-password", f.AccessToken)
	bob.password = "set by operator 4"
	g := s.login(t, bob)

	// list, then delete: every session ends and the user is gone.
	out = s.issuerCLI(t, "", "user", "list")
	if !strings.Contains(out, adminUser.email) || !strings.Contains(out, bob.email) || !strings.Contains(out, "ops,dev") {
		t.Errorf("user list:\n%s", out)
	}
	if out := s.issuerCLI(t, "", "user", "delete", "--email", bob.email); !strings.Contains(out, "deleted") {
		t.Errorf("delete printed %q", out)
	}
	s.denied(t, "a token after delete", g.AccessToken)
	if out := s.issuerCLI(t, "", "user", "list"); strings.Contains(out, bob.email) {
		t.Errorf("user list after delete still names %s:\n%s", bob.email, out)
	}

	// The audit log has each change and no secret.
	log, err := os.ReadFile(s.dir + "/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"roles_changed", "user_disabled", "user_enabled", "reset_link_created", "password_changed", "user_deleted"} {
		if !strings.Contains(string(log), `"event":"`+ev+`"`) {
			t.Errorf("the CLI's audit log lacks %s", ev)
		}
	}
	for _, secret := range []string{tok, "set by operator 4", "reset by link 2"} {
		if strings.Contains(string(log), secret) {
			t.Errorf("the audit log holds a secret (%.6s…)", secret)
		}
	}
}
