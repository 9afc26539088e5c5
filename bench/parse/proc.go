package parse

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// ProcRSS returns the resident set size, in bytes, from the text of /proc/PID/status
// (its VmRSS line, which the kernel prints in kB).
func ProcRSS(status string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse: VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse: VmRSS line %q: %w", sc.Text(), err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%w: no VmRSS in /proc status (a zombie or kernel thread?)", ErrNoResult)
}

// ProcStat is what the harness reads from /proc/PID/stat.
type ProcStat struct {
	PID   int
	Comm  string
	State byte
	PPID  int
	UTime uint64 // clock ticks in user mode
	STime uint64 // clock ticks in kernel mode
}

// ParseProcStat parses the one line of /proc/PID/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so the fields after it
// are found from the last ')'.
func ParseProcStat(line string) (ProcStat, error) {
	var ps ProcStat
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open <= 0 || end < open {
		return ps, fmt.Errorf("parse: /proc stat %q: no (comm)", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return ps, fmt.Errorf("parse: /proc stat pid: %w", err)
	}
	ps.PID, ps.Comm = pid, line[open+1:end]
	// Fields from 3 (state) on; utime and stime are fields 14 and 15 (1-based).
	f := strings.Fields(line[end+1:])
	if len(f) < 13 {
		return ps, fmt.Errorf("parse: /proc stat %q: %d fields after comm, want at least 13", line, len(f))
	}
	ps.State = f[0][0]
	if ps.PPID, err = strconv.Atoi(f[1]); err != nil {
		return ps, fmt.Errorf("parse: /proc stat ppid: %w", err)
	}
	if ps.UTime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return ps, fmt.Errorf("parse: /proc stat utime: %w", err)
	}
	if ps.STime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return ps, fmt.Errorf("parse: /proc stat stime: %w", err)
	}
	return ps, nil
}

// CPUTimes are one CPU's counters from /proc/stat, in clock ticks.
type CPUTimes struct {
	Busy  uint64 // user, nice, system, irq, softirq (guest time is included in user)
	Idle  uint64 // idle and iowait
	Steal uint64 // time the hypervisor ran something else while this CPU wanted to run
}

// ParseProcStatCPUs reads the per-CPU lines ("cpu0 …", "cpu1 …") of /proc/stat.
func ParseProcStatCPUs(stat string) (map[int]CPUTimes, error) {
	out := map[int]CPUTimes{}
	sc := bufio.NewScanner(strings.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || len(f[0]) <= 3 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("parse: /proc/stat line %q: want at least 8 counters", sc.Text())
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("parse: /proc/stat line %q: %w", sc.Text(), err)
			}
		}
		// user nice system idle iowait irq softirq steal
		out[n] = CPUTimes{Busy: v[0] + v[1] + v[2] + v[5] + v[6], Idle: v[3] + v[4], Steal: v[7]}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no per-CPU lines in /proc/stat", ErrNoResult)
	}
	return out, sc.Err()
}

// CPUList parses a taskset CPU list ("0", "0,2", "1-3") into CPU numbers.
func CPUList(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("parse: CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("parse: CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}
