package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestAuditLogFile: with --audit-log the real verifier appends its denials and
// policy reloads to the file (created 0600), never the token; a second verifier on
// the same file appends.
func TestAuditLogFile(t *testing.T) {
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	pol := filepath.Join(dir, "policy.yaml")
	testenv.Must(t, os.WriteFile(pol, []byte("default: authenticated\n"), 0o644), "write policy")
	v := s.verifier("--audit-log", path, "--policy", pol)
	p := s.login("alice@example.com", "alice's password")
	wantStatus(t, v, p.AccessToken, 200)
	wantStatus(t, v, "", 401)
	wantStatus(t, v, p.AccessToken+"x", 401)
	testenv.Must(t, os.WriteFile(pol, []byte("default: [\n"), 0o644), "break policy")
	if err := v.ReloadPolicy(); err == nil {
		t.Fatal("a broken policy reloaded")
	}
	w := s.verifier("--audit-log", path)
	wantStatus(t, w, "", 401)

	b, err := os.ReadFile(path)
	testenv.Must(t, err, "read audit log")
	var events []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["audit"] != true {
			t.Fatalf("not an audit line: %q", sc.Text())
		}
		events = append(events, fmt.Sprintf("%v:%v%v", m["event"], m["reason"], m["result"]))
	}
	want := []string{"access_denied:no_tokenfailure", "access_denied:signaturefailure", "policy_reload:<nil>failure", "access_denied:no_tokenfailure"}
	if strings.Join(events, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v:\n%s", events, want, b)
	}
	if strings.Contains(string(b), p.AccessToken) {
		t.Fatalf("the audit log holds the access token:\n%s", b)
	}
	st, err := os.Stat(path)
	testenv.Must(t, err, "stat")
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("audit log mode %v, want 0600", st.Mode().Perm())
	}
}
