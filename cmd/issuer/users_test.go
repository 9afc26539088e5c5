package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/pkg/store"
	"github.com/vexen/vexen-auth/pkg/store/sqlite"
)

// TestUserCommands: the account commands' answers and exit codes (1: the command
// failed, e.g. no such user; 2: a usage error).
func TestUserCommands(t *testing.T) {
	c := newCLI(t)
	c.env["ISSUER_URL"] = "https://auth.example.com"
	if code, _, errs := c.run("first password 1\n", "user", "add", "--email", "kim@example.com", "--role", "dev", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %q", code, errs)
	}
	tests := []struct {
		stdin string
		args  []string
		code  int
		out   string // in stdout (code 0) or stderr
	}{
		{"", []string{"user", "list"}, 0, "kim@example.com"},
		{"", []string{"user", "enable"}, 2, "--email is required"},
		{"", []string{"user", "enable", "--email", "nobody@example.com"}, 1, "no user with email nobody@example.com"},
		{"", []string{"user", "delete", "--email", "nobody@example.com"}, 1, "no user"},
		{"", []string{"user", "reset-link", "--email", "nobody@example.com"}, 1, "no user"},
		{"", []string{"user", "reset-mfa", "--email", "nobody@example.com"}, 1, "no user"},
		{"", []string{"user", "reset-mfa"}, 2, "--email is required"},
		{"", []string{"user", "set-roles", "--email", "nobody@example.com", "--role", "x"}, 1, "no user"},
		{"", []string{"user", "set-roles", "--email", "kim@example.com", "--role", "a b"}, 2, "invalid role"},
		{"", []string{"user", "set-password", "--email", "kim@example.com"}, 2, "--password-stdin is required"},
		{"", []string{"user", "set-password", "--email", "kim@example.com", "--password-stdin"}, 2, "empty password"},
		{"short\n", []string{"user", "set-password", "--email", "kim@example.com", "--password-stdin"}, 2, "too short"},
		{"", []string{"user", "list", "extra"}, 2, "unexpected argument"},
		{"", []string{"user", "set-roles", "--email", "kim@example.com", "--role", "ops", "--role", " admin "}, 0, "roles of kim@example.com set to [ops,admin]; 0 session(s) revoked"},
		{"second password 2\n", []string{"user", "set-password", "--email", "KIM@example.com", "--password-stdin"}, 0, "password of KIM@example.com set"},
		{"", []string{"user", "reset-link", "--email", "kim@example.com"}, 0, "https://auth.example.com/reset?token="},
		{"", []string{"user", "reset-mfa", "--email", "kim@example.com"}, 0, "second factors of kim@example.com removed (0); 0 session(s) revoked"},
		{"", []string{"user", "disable", "--email", "kim@example.com"}, 0, "disabled"},
		{"", []string{"user", "list"}, 0, "disabled"},
		{"", []string{"user", "enable", "--email", "kim@example.com"}, 0, "user kim@example.com enabled"},
		{"", []string{"user", "delete", "--email", "kim@example.com"}, 0, "user kim@example.com deleted; 0 session(s) revoked"},
		{"", []string{"user", "delete", "--email", "kim@example.com"}, 1, "no user"},
	}
	for _, tt := range tests {
		code, out, errs := c.run(tt.stdin, tt.args...)
		got := out
		if tt.code != 0 {
			got = errs
		}
		if code != tt.code || !strings.Contains(got, tt.out) {
			t.Errorf("issuer %s: exit %d, stdout %q, stderr %q; want exit %d with %q", strings.Join(tt.args, " "), code, out, errs, tt.code, tt.out)
		}
	}
	// The reset link is alone on the last line of standard output; the audit log
	// (standard error for admin commands) records it without the token.
	if code, _, errs := c.run("third password 3\n", "user", "add", "--email", "lee@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %q", code, errs)
	}
	code, out, errs := c.run("", "user", "reset-link", "--email", "lee@example.com")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	_, tok, ok := strings.Cut(lines[len(lines)-1], "https://auth.example.com/reset?token=")
	if code != 0 || !ok || len(tok) != 43 {
		t.Fatalf("reset-link: exit %d, stdout %q; want the link on the last line", code, out)
	}
	if !strings.Contains(errs, `"event":"reset_link_created"`) || strings.Contains(errs, tok) {
		t.Errorf("audit log on stderr: %q; want reset_link_created without the token", errs)
	}
}

// TestUserResetMFA: reset-mfa removes the user's factor (the store holds none after)
// and writes mfa_factor_removed with actor admin to the audit log.
func TestUserResetMFA(t *testing.T) {
	c := newCLI(t)
	if code, _, errs := c.run("first password 1\n", "user", "add", "--email", "ola@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %q", code, errs)
	}
	ctx := t.Context()
	st, err := sqlite.Open(ctx, c.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, "ola@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutPendingTOTP(ctx, store.TOTP{UserID: u.ID, Secret: []byte("sealed"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.ConfirmTOTP(ctx, u.ID, 1, []string{"h1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, out, errs := c.run("", "user", "reset-mfa", "--email", "ola@example.com")
	if code != 0 || !strings.Contains(out, "second factors of ola@example.com removed (1)") {
		t.Fatalf("reset-mfa: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := st.TOTP(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TOTP after reset-mfa: %v, want none", err)
	}
	if !strings.Contains(errs, `"event":"mfa_factor_removed"`) || !strings.Contains(errs, `"actor":"admin"`) {
		t.Errorf("audit log on stderr: %q; want mfa_factor_removed by admin", errs)
	}
}
