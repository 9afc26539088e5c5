package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestRuleFlagKeepsCommas is the regression test of issue 9: --rule "* /ops
// ops,admin" failed because the list flag split the rule at its comma, although
// --help documents ROLE[,ROLE].
func TestRuleFlagKeepsCommas(t *testing.T) {
	m := NewMain()
	if err := m.ParseFlags([]string{"--rule", "* /ops ops,admin", "--rule", "a.example.com /x *"}, nil); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	if got := strings.Join(m.Config.Rules, "|"); got != "* /ops ops,admin|a.example.com /x *" {
		t.Fatalf("rules %q", m.Config.Rules)
	}
	m = NewMain()
	env := map[string]string{"VERIFIER_RULES": "* /ops ops,admin; * /b b"}
	if err := m.ParseFlags(nil, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("ParseFlags (env): %v", err)
	}
	if got := strings.Join(m.Config.Rules, "|"); got != "* /ops ops,admin|* /b b" {
		t.Fatalf("rules from the environment %q", m.Config.Rules)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	testenv.Must(t, os.WriteFile(tmp, []byte(content), 0o644), "write")
	testenv.Must(t, os.Rename(tmp, path), "rename")
}

func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, `default: authenticated
rules:
  - name: health
    paths: [/healthz]
    action: public
  - name: admin
    hosts: [admin.example.com]
    action: authenticated
    roles: [admin]
    mfa: true
  - name: shadowed
    hosts: [admin.example.com]
    paths: [/x]
    action: deny
`)
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "rules:\n  - action: allow\n    pathz: [/x]\n")
	for _, tc := range []struct {
		args     []string
		code     int
		out, err []string
		notInOut []string
	}{
		{[]string{"policy", "check", good}, 0, []string{"good.yaml: ok: 3 rules, default authenticated"}, []string{"line 11: rule shadowed is never reached"}, nil},
		{[]string{"policy", "check", bad}, 2, nil, []string{"bad.yaml:2: action \"allow\"", "bad.yaml:3: unknown key \"pathz\""}, nil},
		{[]string{"policy", "check"}, 2, nil, []string{"want one FILE"}, nil},
		{[]string{"policy", "frobnicate"}, 2, nil, []string{"unknown command"}, nil},
		{[]string{"policy", "--help"}, 0, []string{"verifier policy check FILE", "verifier policy explain"}, nil, nil},
		{[]string{"policy", "explain", "--policy", good, "--host", "ADMIN.example.com:443", "--path", "/a/../b?q", "--roles", "dev,admin"}, 0,
			[]string{"read as:   GET admin.example.com /b", "rule:      admin (" + good + ":6, rule 2)", "no token:  unauthenticated (401)",
				"token (roles dev,admin, mfa false): second factor required"}, nil, nil},
		{[]string{"policy", "explain", "--policy", good, "--host", "admin.example.com", "--path", "/", "--roles", "admin", "--mfa"}, 0,
			[]string{"token (roles admin, mfa true): allow (200)"}, nil, nil},
		{[]string{"policy", "explain", "--policy", good, "--host", "app.example.com", "--path", "/healthz", "--location-roles", "ops"}, 0,
			[]string{"rule:      health", "location:  roles ops", "no token:  unauthenticated (401)"}, nil, nil},
		{[]string{"policy", "explain", "--policy", good, "--host", "app.example.com", "--path", "/x", "--method", "POST"}, 0,
			[]string{"rule:      default (no rule matched): authenticated"}, nil, nil},
		{[]string{"policy", "explain", "--policy", good, "--host", "admin.example.com..", "--path", "/"}, 0,
			[]string{"refused:   400 bad request: host"}, nil, []string{"rule:"}},
		{[]string{"policy", "explain", "--policy", good, "--path", "/"}, 2, nil, []string{"--host"}, nil},
		{[]string{"policy", "explain", "--policy", bad, "--host", "a", "--path", "/"}, 2, nil, []string{"bad.yaml:2:"}, nil},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, func(string) string { return "" }, &out, &errb)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stdout %q, stderr %q)", tc.args, code, tc.code, out.String(), errb.String())
		}
		for _, w := range tc.out {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%q: stdout %q lacks %q", tc.args, out.String(), w)
			}
		}
		for _, w := range tc.err {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%q: stderr %q lacks %q", tc.args, errb.String(), w)
			}
		}
		for _, w := range tc.notInOut {
			if strings.Contains(out.String(), w) {
				t.Errorf("%q: stdout %q has %q", tc.args, out.String(), w)
			}
		}
	}
}

// TestBadPolicyAtStart: a bad file stops the start with exit 2 and a
// line-numbered message, before any port is opened; --rule with --policy too.
func TestBadPolicyAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "policy.yaml")
	writeFile(t, bad, "default: authenticated\nrules:\n  - paths: [\"/a/**/b\"]\n    action: deny\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy", bad}, bad + ":3: path \"/a/**/b\""},
		{[]string{"--policy", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"--policy", bad, "--rule", "* / *"}, "cannot be combined"},
	} {
		var errb bytes.Buffer
		code := run(context.Background(), append(tc.args, "--listen", "127.0.0.1:0"), func(string) string { return "" }, io.Discard, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestPolicyReload: the real program with --policy; SIGHUP puts an edited file in
// force without dropping a request under light load; a broken file leaves the
// policy in force (the answer does not change) and counts an error; the file
// changing is noticed without a signal.
func TestPolicyReload(t *testing.T) {
	testenv.Integration(t)
	s := newStack(t, testenv.SQLiteURL(t), "", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	writeFile(t, file, "rules:\n  - name: ops\n    paths: [\"/ops/**\"]\n    action: deny\n")
	v := s.verifier("--policy", file)
	tok := s.login("bob@example.com", "bob's password").AccessToken
	ask := func(path string) int {
		req, _ := http.NewRequest("GET", "http://"+v.Addr()+"/auth", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Host", "app.example.com")
		req.Header.Set("X-Forwarded-Uri", path)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("request: %v", err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitStatus := func(path string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for ask(path) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s still not %d", path, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitStatus("/ops/x", 403)

	// Light load while the policy is swapped: every answer is 403 or 200, none fails.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failures, total atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if c := ask("/ops/x"); c != 403 && c != 200 {
					failures.Add(1)
				}
				total.Add(1)
			}
		})
	}
	writeFile(t, file, "rules:\n  - name: ops\n    paths: [\"/ops/**\"]\n    action: public\n")
	testenv.Must(t, syscall.Kill(os.Getpid(), syscall.SIGHUP), "SIGHUP")
	waitStatus("/ops/x", 200)
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 || total.Load() == 0 {
		t.Fatalf("%d of %d requests failed during the reload", failures.Load(), total.Load())
	}
	if !strings.Contains(metric(t, v, "vexen_verifier_policy_reloads_total"), `result="ok"} 1`) {
		t.Fatalf("reload not counted:\n%s", metric(t, v, "vexen_verifier_policy_reloads_total"))
	}

	// A broken file: refused, the answer stays, an error is counted.
	writeFile(t, file, "rules:\n  - name: ops\n    paths: [\"/ops/**\"]\n    action: deny\n    bogus: 1\n")
	if err := v.ReloadPolicy(); err == nil || !strings.Contains(err.Error(), ":5: unknown key \"bogus\"") {
		t.Fatalf("ReloadPolicy: %v", err)
	}
	if c := ask("/ops/x"); c != 200 {
		t.Fatalf("after a broken reload: %d, want 200 (the old policy)", c)
	}
	if !strings.Contains(metric(t, v, "vexen_verifier_policy_reloads_total"), `result="error"} 1`) {
		t.Fatalf("error not counted:\n%s", metric(t, v, "vexen_verifier_policy_reloads_total"))
	}

	// The file changing is enough.
	writeFile(t, file, "default: deny\n")
	waitStatus("/anything", 403)
	if !strings.Contains(metric(t, v, "vexen_verifier_decisions_total"), `rule="default"`) {
		t.Fatalf("no rule label:\n%s", metric(t, v, "vexen_verifier_decisions_total"))
	}
}
