package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad providers file stops the issuer before it opens a port: exit 2, one line
// naming the provider and the problem.
func TestBadProvidersFileExitsTwo(t *testing.T) {
	dir := t.TempDir()
	const good = "  - id: corp\n    issuer: https://sso.example.com\n    client_id: vexen\n    client_secret: s\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "providers: []\n", "no providers"},
		{"bad id", "providers:\n  - id: Corp!\n    issuer: https://sso.example.com\n    client_id: v\n    client_secret: s\n", `provider Corp!: id`},
		{"no issuer", "providers:\n  - id: corp\n    client_id: v\n    client_secret: s\n", "provider corp: issuer"},
		{"no client_id", "providers:\n  - id: corp\n    issuer: https://sso.example.com\n    client_secret: s\n", "provider corp: client_id"},
		{"no secret", "providers:\n  - id: corp\n    issuer: https://sso.example.com\n    client_id: v\n", "provider corp: client_secret"},
		{"missing secret file", "providers:\n  - id: corp\n    issuer: https://sso.example.com\n    client_id: v\n    client_secret_file: " + filepath.Join(dir, "nope") + "\n", "provider corp: client_secret_file"},
		{"duplicate", "providers:\n" + good + good, "provider corp: id listed twice"},
		{"no openid scope", "providers:\n" + good + "    scopes: [email]\n", "provider corp: scopes"},
		{"roles without claim", "providers:\n" + good + "    roles: {a: b}\n", "provider corp: roles needs roles_claim"},
		{"bad role", "providers:\n" + good + "    default_roles: [\"a,b\"]\n", "provider corp: roles"},
		{"unknown key", "providers:\n" + good + "    client_sercet: x\n", "client_sercet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml")
			if err := os.WriteFile(f, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newCLI(t)
			code, _, stderr := c.run("", "--providers", f)
			if code != 2 || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", code, stderr, tt.want)
			}
		})
	}
	c := newCLI(t)
	if code, _, stderr := c.run("", "--password-login=false"); code != 2 || !strings.Contains(stderr, "password-login") {
		t.Errorf("--password-login=false without providers: exit %d, %q", code, stderr)
	}
}
