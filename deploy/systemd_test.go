package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var systemdUnits = []struct{ unit, binary string }{
	{"vexen-issuer.service", "issuer"},
	{"vexen-verifier.service", "verifier"},
}

// maxExposure is the highest `systemd-analyze security` exposure level accepted.
const maxExposure = 2.0

// TestSystemdUnits runs `systemd-analyze verify` on both units (in a scratch root
// where their ExecStart binaries exist, so the check of the command line is real)
// and `systemd-analyze security --offline=true`, requiring an exposure of
// maxExposure or lower, and the hardening options a review looks for.
func TestSystemdUnits(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	dir := filepath.Join(repoRoot(t), "deploy", "systemd")
	exposureRE := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, u := range systemdUnits {
		t.Run(u.unit, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, u.unit))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"ExecStart=/usr/local/bin/" + u.binary,
				"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
				"SystemCallFilter=@system-service", "SystemCallArchitectures=native", "CapabilityBoundingSet=\n",
				"StateDirectory=vexen-auth", "ConfigurationDirectory=vexen-auth", "RestartPreventExitStatus=2",
			} {
				if !strings.Contains(string(body), want) {
					t.Errorf("%s lacks %q", u.unit, strings.TrimSpace(want))
				}
			}

			// verify: a root with the system's units (sysinit.target, …), this unit
			// installed and its binary in place.
			root := t.TempDir()
			for _, d := range []string{"etc/systemd/system", "usr/local/bin", "usr/lib/systemd"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			run(t, root, nil, "cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/"))
			if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", u.unit), body, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "usr/local/bin", u.binary), []byte("#!/bin/true\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			out := run(t, root, nil, analyze, "verify", "--man=false", "--root="+root, "/etc/systemd/system/"+u.unit)
			if strings.TrimSpace(out) != "" {
				// verify exits 0 on some warnings; any output is a finding.
				t.Errorf("systemd-analyze verify %s:\n%s", u.unit, out)
			}
			// And with the binary missing, verify must complain: the check above is live.
			os.Remove(filepath.Join(root, "usr/local/bin", u.binary))
			if out, err := runErr(root, nil, analyze, "verify", "--man=false", "--root="+root, "/etc/systemd/system/"+u.unit); err == nil && !strings.Contains(out, u.binary) {
				t.Errorf("systemd-analyze verify accepted %s without its binary: the check is not real\n%s", u.unit, out)
			}

			out = run(t, dir, nil, analyze, "security", "--offline=true", "--no-pager", "./"+u.unit)
			m := exposureRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level in:\n%s", out)
			}
			level, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: exposure %.1f", u.unit, level)
			if level > maxExposure {
				t.Errorf("%s: exposure %.1f, want <= %.1f\n%s", u.unit, level, maxExposure, out)
			}
		})
	}
}
