package parse

import (
	"errors"
	"fmt"
	"testing"
)

func TestProcRSS(t *testing.T) {
	status := "Name:\tverifier\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmRSS:\t   20200 kB\nRssAnon:\t 15000 kB\n"
	got, err := ProcRSS(status)
	if err != nil {
		t.Fatal(err)
	}
	if got != 20200*1024 {
		t.Errorf("ProcRSS = %d, want %d", got, 20200*1024)
	}
	if _, err := ProcRSS("Name:\tkthreadd\n"); !errors.Is(err, ErrNoResult) {
		t.Errorf("no VmRSS: err = %v, want ErrNoResult", err)
	}
	if _, err := ProcRSS("VmRSS:\t 12 MB\n"); err == nil {
		t.Error("unit MB: no error")
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		line string
		want ProcStat
	}{
		{
			"8155 (cat) R 8147 8147 18835 0 -1 4194304 98 0 0 0 7 3 0 0 20 0 1 0 123771 3133440 355 18446744073709551615",
			ProcStat{PID: 8155, Comm: "cat", State: 'R', PPID: 8147, UTime: 7, STime: 3},
		},
		{
			"42 (nginx: worker (1) ) S 41 41 41 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 1 0 100 1000 10",
			ProcStat{PID: 42, Comm: "nginx: worker (1) ", State: 'S', PPID: 41, UTime: 1234, STime: 567},
		},
	}
	for _, tt := range tests {
		got, err := ParseProcStat(tt.line)
		if err != nil {
			t.Errorf("ParseProcStat(%q): %v", tt.line, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseProcStat = %+v, want %+v", got, tt.want)
		}
	}
	for _, bad := range []string{"", "12 cat R 1", "x (cat) R 1 1 1 0 -1 0 0 0 0 0 1 1", "1 (cat) R 1 1"} {
		if _, err := ParseProcStat(bad); err == nil {
			t.Errorf("ParseProcStat(%q): no error", bad)
		}
	}
}

func TestParseProcStatCPUs(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 60 2 30 500 10 2 1 4 0 0\ncpu1 40 3 20 500 10 1 1 3 0 0\nintr 12345\nctxt 999\n"
	got, err := ParseProcStatCPUs(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]CPUTimes{0: {Busy: 60 + 2 + 30 + 2 + 1, Idle: 510, Steal: 4}, 1: {Busy: 40 + 3 + 20 + 1 + 1, Idle: 510, Steal: 3}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseProcStatCPUs = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"intr 1\n", "cpu0 1 2 3\n", "cpu0 1 2 3 4 5 6 x 8\n"} {
		if _, err := ParseProcStatCPUs(bad); err == nil {
			t.Errorf("ParseProcStatCPUs(%q): no error", bad)
		}
	}
}

func TestCPUList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "1": {1}, "0,2": {0, 2}, "1-3": {1, 2, 3}, "0, 4-5": {0, 4, 5}} {
		got, err := CPUList(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("CPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "3-1", "1-"} {
		if _, err := CPUList(bad); err == nil {
			t.Errorf("CPUList(%q): no error", bad)
		}
	}
}
