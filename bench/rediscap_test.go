package main

import (
	"context"
	"math"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseRedisStats(t *testing.T) {
	info := "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\r\n# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:0.250001\r\nused_cpu_sys_children:9.0\r\n\r\n" +
		"# Commandstats\r\ncmdstat_mget:calls=12,usec=40,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=300,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n"
	s, err := parseRedisStats(info)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1750001 * time.Microsecond; s.cpu != want {
		t.Errorf("cpu = %v, want %v (user + sys of the server, not its children)", s.cpu, want)
	}
	if s.memory != 1<<20 {
		t.Errorf("memory = %d, want 1 MiB", s.memory)
	}
	if s.calls["mget"] != 12 || s.calls["info"] != 3 || len(s.calls) != 2 {
		t.Errorf("calls = %v", s.calls)
	}
	if _, err := parseRedisStats("used_memory:1\r\nused_cpu_user:0.1\r\n"); err == nil {
		t.Error("an answer without used_cpu_sys parsed")
	}
}

// TestDelta: the INFO call that read the second sample is not the operation's.
func TestDelta(t *testing.T) {
	before := redisStats{cpu: time.Second, calls: map[string]int64{"info": 5, "mget": 10, "set": 3}}
	after := redisStats{cpu: 3 * time.Second, calls: map[string]int64{"info": 6, "mget": 30, "set": 3, "exec": 2}}
	d := delta(before, after)
	if d.cpu != 2*time.Second {
		t.Errorf("cpu = %v", d.cpu)
	}
	if len(d.calls) != 2 || d.calls["mget"] != 20 || d.calls["exec"] != 2 {
		t.Errorf("calls = %v, want mget 20, exec 2 (no info, no unchanged set)", d.calls)
	}
}

func TestFit(t *testing.T) {
	a, b := fit([]float64{0, 4, 16, 48}, []float64{5, 7, 13, 29})
	if math.Abs(a-5) > 1e-9 || math.Abs(b-0.5) > 1e-9 {
		t.Errorf("fit = %v + %v x, want 5 + 0.5 x", a, b)
	}
}

// TestRedisCapacity runs a small measurement on a throwaway redis-server and checks
// the command counts, which do not depend on the machine: a verifier's lookup is one
// MGET, a first sight one MGET and one EVALSHA (whose EXISTS and SET Redis counts
// too; the first EVALSHA of a connection-less script cache is refused and sent again
// as EVAL), a logout one MULTI/EXEC with one PUBLISH, an idle feed 4 PINGs (and 4 INFOs) a second.
func TestRedisCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	if _, err := lookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is required (apt-get install redis-server): %v", err)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Log("no taskset: not pinned")
	}
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := redisCapacity(ctx, []string{"-ops", "300", "-rounds", "1", "-events", "100", "-subscribers", "0,3", "-idle", "1s"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\| lookup \| [0-9.]+ µs \| \d+ \| 1\.00 \| MGET 1\.00 \| -?\d+ B \|`),
		regexp.MustCompile(`(?m)^\| first sight \| .*\| (EVAL 0\.\d\d, )?EVALSHA 1\.00, EXISTS 1\.00, MGET 1\.00, SET 1\.00 \|`),
		regexp.MustCompile(`(?m)^\| logout \| .*\| DEL 2\.00, EXEC 1\.00, MULTI 1\.00, PUBLISH 1\.00, SET 1\.00, SREM 1\.00 \|`),
		regexp.MustCompile(`(?m)^\| 3 \| [0-9.]+ µs \|`),
		// 4 a second, 3 or 4 in a 1s window.
		regexp.MustCompile(`(?m)^\| [0-9.]+ µs \| [68]\.\d\d \| INFO ([34])\.\d\d, PING ([34])\.\d\d \|`),
	} {
		if !want.MatchString(report) {
			t.Errorf("report does not match %s:\n%s", want, report)
		}
	}
}
