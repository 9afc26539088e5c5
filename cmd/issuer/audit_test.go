package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/testenv"
)

func readAudit(t testing.TB, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["audit"] != true {
			continue // an operational line
		}
		out = append(out, m)
	}
	return out
}

// TestAdminCommandsAudit: each admin command writes its event to --audit-log
// (AUDIT_LOG), a file created 0600 and appended to by every run; no password in it.
func TestAdminCommandsAudit(t *testing.T) {
	const pw = "admin-typed-secret-pw"
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	c.env["AUDIT_LOG"] = path
	steps := []struct {
		stdin string
		args  []string
		event string
	}{
		{pw + "\n", []string{"user", "add", "--email", "dan@example.com", "--role", "ops", "--password-stdin"}, "user_added"},
		{"", []string{"sessions", "revoke", "--email", "dan@example.com"}, "session_revoked"},
		{"", []string{"user", "disable", "--email", "dan@example.com"}, "user_disabled"},
		{"", []string{"keys", "rotate"}, "key_rotated"},
	}
	for i, s := range steps {
		code, out, errs := c.run(s.stdin, s.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d %q %q", s.args, code, out, errs)
		}
		if strings.Contains(out, `"audit"`) || strings.Contains(errs, `"audit"`) {
			t.Errorf("%v: audit line on stdout/stderr although AUDIT_LOG is set: %q %q", s.args, out, errs)
		}
		b, err := os.ReadFile(path)
		testenv.Must(t, err, "read audit log")
		got := readAudit(t, string(b))
		if len(got) != i+1 {
			t.Fatalf("after %v: %d audit lines, want %d (appended):\n%s", s.args, len(got), i+1, b)
		}
		if op, _ := got[i]["operator"].(string); op == "" || got[i]["via"] != "cli" {
			t.Errorf("%v: operator %v via %v, want the OS user via cli", s.args, got[i]["operator"], got[i]["via"])
		}
		if ev := got[i]["event"]; ev != s.event || got[i]["actor"] != "admin" {
			t.Errorf("%v: line %v, want event %s by admin", s.args, got[i], s.event)
		}
		if s.event != "key_rotated" && got[i]["email"] != "dan@example.com" {
			t.Errorf("%v: email %v", s.args, got[i]["email"])
		}
		if s.event == "key_rotated" && (got[i]["key_id"] == nil || got[i]["result"] != "success") {
			t.Errorf("keys rotate: %v", got[i])
		}
	}
	st, err := os.Stat(path)
	testenv.Must(t, err, "stat")
	if st.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), pw) {
		t.Errorf("the audit log holds the password:\n%s", b)
	}

	// Without AUDIT_LOG an admin command audits to stderr, its answer alone on stdout.
	delete(c.env, "AUDIT_LOG")
	code, out, errs := c.run("", "sessions", "revoke", "--email", "dan@example.com")
	if code != 0 || strings.Contains(out, `"audit"`) || len(readAudit(t, errs)) != 1 {
		t.Fatalf("sessions revoke without AUDIT_LOG: %d stdout %q stderr %q", code, out, errs)
	}

	// An audit log that cannot be opened is one line and exit 2.
	c.env["AUDIT_LOG"] = filepath.Join(t.TempDir(), "missing", "audit.log")
	if code, _, errs := c.run("", "keys", "rotate"); code != 2 || !strings.Contains(errs, "AUDIT_LOG") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("unopenable AUDIT_LOG: exit %d %q", code, errs)
	}
}

// TestServeAuditsToStdout: issuer serve writes sign-in events to its stdout by
// default, apart from the operational log on stderr, without the password.
func TestServeAuditsToStdout(t *testing.T) {
	const pw = "serve-secret-password"
	c := newCLI(t)
	if code, _, errs := c.run(pw+"\n", "user", "add", "--email", "erin@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	m := NewMain()
	s := m.flags("issuer", func(k string) string { return c.env[k] })
	testenv.Must(t, s.Parse([]string{"--listen", "127.0.0.1:0", "--metrics-listen", ""}), "parse")
	testenv.Must(t, m.validate(), "validate")
	stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
	m.Stdout, m.Stderr = stdout, stderr
	testenv.Must(t, m.Run(context.Background()), "run")
	defer m.Close()

	for _, p := range []string{pw, "wrong-password-x"} {
		resp, err := http.Post("http://"+m.Addr()+"/v1/login", "application/json",
			strings.NewReader(`{"email":"erin@example.com","password":"`+p+`"}`))
		testenv.Must(t, err, "login")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	got := readAudit(t, stdout.String())
	if len(got) != 2 || got[0]["result"] != "success" || got[1]["reason"] != "wrong_password" || got[0]["client_ip"] != "127.0.0.1" {
		t.Fatalf("audit lines on stdout: %v\n%s", got, stdout.String())
	}
	if len(readAudit(t, stderr.String())) != 0 {
		t.Errorf("audit lines in the operational log: %s", stderr.String())
	}
	if strings.Contains(stdout.String(), pw) || strings.Contains(stdout.String(), "wrong-password-x") {
		t.Errorf("a password reached the audit log: %s", stdout.String())
	}
}
