package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vexen/vexen-auth/bench/parse"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// proc is a child process the harness started; its output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set when done is closed
}

// start runs argv as a child named name, pinned to the CPUs in cpus (taskset -c)
// unless cpus is empty, with env added to the harness's environment. The process
// is stopped by the harness's cleanup if the caller does not stop it first.
func (h *harness) start(name, cpus string, env []string, argv ...string) (*proc, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	logPath := filepath.Join(h.work, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv(os.Environ(), env)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C to the harness must not reach the children
	// before the harness stops them in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	h.defer_(func() { p.stop() })
	return p, nil
}

// pid is the process id (taskset execs the program, so it is the program's).
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 10s, then kills.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail returns the last lines of the process's log, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers 200, the process exits, or timeout passes.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	cl := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited (%v) before %s answered; its log:\n%s", p.name, p.err, url, p.logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := cl.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s not ready after %v (last: %s); its log:\n%s", p.name, url, timeout, last, p.logTail())
}

// waitTCP waits until addr accepts connections.
func waitTCP(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited (%v); its log:\n%s", p.name, p.err, p.logTail())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s not accepting connections after %v; its log:\n%s", p.name, addr, timeout, p.logTail())
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// treeCPU returns the CPU time (user + system) used so far by each root process and
// all of its descendants (nginx's workers), summed.
func treeCPU(roots ...int) (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	stats := map[int]parse.ProcStat{}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		st, err := parse.ParseProcStat(string(b))
		if err != nil {
			return 0, err
		}
		stats[pid] = st
		children[st.PPID] = append(children[st.PPID], pid)
	}
	var ticks uint64
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		if st, ok := stats[pid]; ok {
			ticks += st.UTime + st.STime
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		if _, ok := stats[r]; !ok {
			return 0, fmt.Errorf("process %d is gone", r)
		}
		walk(r)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rss returns the resident set size of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parse.ProcRSS(string(b))
}

// scrape fetches and parses a Prometheus endpoint.
func scrape(ctx context.Context, url string) (parse.Samples, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	return parse.ParseMetrics(string(b))
}

// runCmd runs argv to completion and returns its combined output.
func runCmd(ctx context.Context, dir string, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = childEnv(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, tail(string(out), 20))
		}
		return string(out), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return string(out), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runLoad runs a load generator to completion and returns its standard output and
// the CPU time it used; standard error is included in the error when it fails.
func runLoad(ctx context.Context, argv ...string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = childEnv(os.Environ(), nil)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return stdout.String(), cpu, fmt.Errorf("%s: %w\n%s%s", strings.Join(argv, " "), err, tail(stdout.String(), 10), tail(stderr.String(), 20))
	}
	return stdout.String(), cpu, nil
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

// cpuCounters sums the busy and steal time of the given CPUs so far.
func cpuCounters(cpus []int) (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	all, err := parse.ParseProcStatCPUs(string(b))
	if err != nil {
		return 0, 0, err
	}
	var bt, st uint64
	for _, c := range cpus {
		t, ok := all[c]
		if !ok {
			return 0, 0, fmt.Errorf("no CPU %d in /proc/stat", c)
		}
		bt += t.Busy
		st += t.Steal
	}
	return time.Duration(bt) * time.Second / clockTicks, time.Duration(st) * time.Second / clockTicks, nil
}
