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
