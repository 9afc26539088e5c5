package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A --config file sets every setting by its long flag name, repeatable flags as
// YAML lists; the environment wins over it and a flag over both.
func TestVerifierConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "verifier.yaml")
	writeFile(t, conf, `listen: ":18081"
revocation: strict
max-staleness: 3s
trusted-proxies: [10.0.0.0/8, 192.0.2.1]
rule:
  - "* /ops ops,admin"
  - "a.example.com /x *"
no-local-cache: true
first-sight-session-check: true
max-header-bytes: 8192
`)
	secret := filepath.Join(dir, "jwt-secret")
	writeFile(t, secret, strings.Repeat("k", 32)+"\n")
	env := map[string]string{"VERIFIER_MAX_STALENESS": "4s", "JWT_SECRET_KEY_FILE": secret}
	m := NewMain()
	if err := m.ParseFlags([]string{"--config", conf, "--max-header-bytes", "9000"}, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	if m.Listen != ":18081" || m.Config.Revocation != "strict" || !m.Config.NoLocalCache {
		t.Errorf("file values not applied: listen %q revocation %q no-local-cache %v", m.Listen, m.Config.Revocation, m.Config.NoLocalCache)
	}
	if !m.Config.FirstSightSessionCheck {
		t.Error("first-sight-session-check from the file not applied")
	}
	if got := strings.Join(m.Config.Rules, "|"); got != "* /ops ops,admin|a.example.com /x *" {
		t.Errorf("rules %q", got)
	}
	if len(m.Config.TrustedProxies) != 2 {
		t.Errorf("trusted proxies %v", m.Config.TrustedProxies)
	}
	if m.Config.MaxStaleness != 4*time.Second {
		t.Errorf("max-staleness %v: the environment (4s) should win over the file (3s)", m.Config.MaxStaleness)
	}
	if m.MaxHeaderBytes != 9000 {
		t.Errorf("max-header-bytes %d: the flag (9000) should win over the file (8192)", m.MaxHeaderBytes)
	}
	if m.Config.Secret != strings.Repeat("k", 32) {
		t.Errorf("JWT_SECRET_KEY_FILE not read (or its newline kept): %d bytes", len(m.Config.Secret))
	}
}

func TestVerifierBadConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		return p
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"unknown key", nil, []string{"--config", file("a.yaml", "revocation: push\nrevocaton: strict\n")}, []string{"a.yaml:2", `"revocaton"`, "unknown key"}},
		{"bad value", map[string]string{"VEXEN_CONFIG": file("b.yaml", "revocation: sometimes\n")}, nil, []string{"VERIFIER_REVOCATION"}},
		{"wrong type", nil, []string{"--config", file("c.yaml", "max-staleness: [1s]\n")}, []string{"c.yaml:1", `"max-staleness"`, "single value"}},
		{"bad rule in list", nil, []string{"--config", file("d.yaml", "rule: [only-one-field]\n")}, []string{"rule"}},
		{"unknown DATABASE_URL scheme", map[string]string{"DATABASE_URL": "mysql://u:hunter2@h/db"}, nil, []string{"DATABASE_URL", `"mysql"`}},
		{"REDIS_URL and REDIS_URL_FILE", map[string]string{"REDIS_URL": "redis://:hunter2@h:6379", "REDIS_URL_FILE": file("r", "redis://:hunter2@h:6379\n")}, nil, []string{"REDIS_URL_FILE"}},
		{"unreadable JWT_SECRET_KEY_FILE", map[string]string{"JWT_SECRET_KEY_FILE": filepath.Join(dir, "none")}, nil, []string{"JWT_SECRET_KEY_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, &errb)
			stderr := errb.String()
			if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("stderr prints a secret: %q", stderr)
			}
		})
	}
}

// Every subcommand answers --help with its own usage on stdout, exit 0.
func TestVerifierSubcommandHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"--help"}, []string{"Usage: verifier [flags]", "-config", "VEXEN_CONFIG", "JWT_SECRET_KEY_FILE"}, ""},
		{[]string{"policy", "--help"}, []string{"verifier policy check FILE", "verifier policy explain"}, ""},
		{[]string{"policy", "check", "--help"}, []string{"Usage: verifier policy check FILE"}, "explain"},
		{[]string{"policy", "explain", "--help"}, []string{"Usage: verifier policy explain", "-location-roles"}, "policy check"},
		{[]string{"healthcheck", "--help"}, []string{"Usage: healthcheck [URL]", "8081/readyz"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			env := map[string]string{"VEXEN_CONFIG": "/nonexistent/help-works-anyway.yaml"}
			code := run(context.Background(), tt.args, func(k string) string { return env[k] }, &out, &errb)
			if code != 0 || errb.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.not != "" && strings.Contains(out.String(), tt.not) {
				t.Errorf("output mentions %q:\n%s", tt.not, out.String())
			}
		})
	}
}

// The README's configuration-file example is a valid verifier configuration.
func TestReadmeConfigExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n# /etc/vexen/verifier.yaml")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no verifier.yaml example")
	}
	conf := filepath.Join(t.TempDir(), "verifier.yaml")
	writeFile(t, conf, "#"+block) // the rest of the opening comment line
	m := NewMain()
	if err := m.ParseFlags([]string{"--config", conf}, nil); err != nil {
		t.Fatalf("README example: %v", err)
	}
	if m.Config.Revocation != "strict" || len(m.Config.Rules) != 2 || m.Config.Issuer != "https://auth.example.com" {
		t.Fatalf("README example read as revocation %q, rules %q, issuer %q", m.Config.Revocation, m.Config.Rules, m.Config.Issuer)
	}
}
