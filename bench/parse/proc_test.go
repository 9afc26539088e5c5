package parse

import (
	"errors"
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
