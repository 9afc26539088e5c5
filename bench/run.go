package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/bench/parse"
	"github.com/vexen/vexen-auth/bench/report"
)

//go:embed rotate.lua
var rotateLua []byte

// options are the flags of `vexenbench run`.
type options struct {
	repo, bin        string
	users            int
	duration, warmup time.Duration
	rounds           int
	conns, threads   int
	serverCPU        string
	loadCPU          string
	scenarios        []string
	openLoop         bool
	logouts          int
	memSessions      int
	goBench          string
	cachedBench      string
	out, chart       string
	postgres, redis  string
	profile          string
	quick, keep      bool
	userHash         string
	command          string
}

var allScenarios = []string{"cached", "redis", "cold", "cold-eddsa", "strict", "yardstick", "nginx", "grpc",
	"peers", // bench/peers.go
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("vexenbench run", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.StringVar(&o.bin, "bin", "", "directory holding already built issuer and verifier binaries (default: build them)")
	fs.IntVar(&o.users, "users", 10000, "users signed in through /v1/login; their tokens drive cached, redis, strict, nginx and grpc")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "length of each measured run (whole seconds); 8s keeps the whole run under 10 minutes on 2 cores")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unrecorded warm-up run per server before its group")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds per scenario (at least 3 for a median)")
	fs.IntVar(&o.conns, "connections", 64, "wrk -c: connections kept open")
	fs.IntVar(&o.threads, "threads", 1, "wrk -t: load generator threads (one per core it runs on)")
	fs.StringVar(&o.serverCPU, "server-cpu", "0", "taskset CPU list for every server-side process")
	fs.StringVar(&o.loadCPU, "load-cpu", "1", "taskset CPU list for the load generators")
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	fs.BoolVar(&o.openLoop, "open-loop", true, "measure p99 at 70% of the baseline's peak (open loop) for cached")
	fs.IntVar(&o.logouts, "logouts", 100, "revocation propagation: logouts to time across 3 verifiers (0 = skip)")
	fs.IntVar(&o.memSessions, "memory-sessions", 1_000_000, "memory: cached sessions to measure RSS with (0 = skip)")
	fs.StringVar(&o.goBench, "go-bench", "./pkg/verify/", "comma-separated packages whose Go benchmarks run first, pinned to the server CPU (empty = skip)")
	fs.StringVar(&o.cachedBench, "cached-bench", "(?i)cached", "regexp naming the in-process cached-decision benchmark among them")
	fs.StringVar(&o.out, "out", "", "write the Markdown report here (e.g. docs/benchmarks.md)")
	fs.StringVar(&o.chart, "chart", "", "write the PNG chart here (e.g. docs/benchmarks.png)")
	fs.StringVar(&o.postgres, "postgres", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server; a fresh database is created on it and dropped at the end")
	fs.StringVar(&o.redis, "redis", envOr("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis server; keys live under a random prefix, deleted at the end")
	fs.StringVar(&o.profile, "profile", "", "directory for CPU profiles of the verifier under cached and redis load (empty = none)")
	fs.BoolVar(&o.quick, "quick", false, "a short run to try the harness: 2000 users, 3s runs, 20 logouts, 100000 sessions (explicit flags win)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, token files, rendered configs)")
	fs.StringVar(&o.userHash, "user-hash", "bench", `argon2id cost of the users' password hashes: "bench" (m=1 MiB, t=1) or "production" (the issuer's default, ~35 ms a login)`)
	fs.StringVar(&o.command, "command", "", "the command line to print as the way to reproduce the report (default: this invocation)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("users", func() { o.users = 2000 })
		def("duration", func() { o.duration = 3 * time.Second })
		def("logouts", func() { o.logouts = 20 })
		def("memory-sessions", func() { o.memSessions = 100_000 })
	}
	o.scenarios = nil
	for s := range strings.SplitSeq(*scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	switch {
	case o.rounds < 1:
		return nil, errors.New("-rounds must be at least 1")
	case o.duration < time.Second || o.duration%time.Second != 0:
		return nil, errors.New("-duration must be whole seconds, at least 1s")
	case o.warmup%time.Second != 0:
		return nil, errors.New("-warmup must be whole seconds")
	case o.users < 1:
		return nil, errors.New("-users must be at least 1")
	case o.logouts > o.users:
		return nil, errors.New("-logouts cannot exceed -users (each logout revokes one signed-in session)")
	case o.userHash != "bench" && o.userHash != "production":
		return nil, errors.New(`-user-hash must be "bench" or "production"`)
	}
	for name, v := range map[string]string{"-server-cpu": o.serverCPU, "-load-cpu": o.loadCPU} {
		if _, err := parse.CPUList(v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if o.repo == "" {
		r, err := findRepo()
		if err != nil {
			return nil, err
		}
		o.repo = r
	}
	if o.command == "" {
		o.command = "go run ./bench run" + shellQuote(args)
	}
	return o, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// findRepo walks up from the working directory to the directory holding go.mod.
func findRepo() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no go.mod above the working directory; pass -repo")
		}
		d = parent
	}
}

func (o *options) has(s string) bool { return slices.Contains(o.scenarios, s) }

// harness is one run: its options, working directory, cleanups, and results.
type harness struct {
	o          *options
	work       string
	began      time.Time
	cleanups   []func()
	bins       bins
	serverCPUs []int // o.serverCPU parsed
	rep        *report.Report
	notes      []string
}

// defer_ registers a cleanup; they run last-in first-out when the run ends.
func (h *harness) defer_(f func()) { h.cleanups = append(h.cleanups, f) }

func (h *harness) cleanup() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}

// logf prints a progress line with the time since the start.
func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(h.began).Seconds(), fmt.Sprintf(format, args...))
}

func (h *harness) note(format string, args ...any) {
	h.notes = append(h.notes, fmt.Sprintf(format, args...))
}

func runMain(ctx context.Context, args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return errors.New("the benchmark needs Linux (/proc, taskset)")
	}
	cpus, _ := parse.CPUList(o.serverCPU) // checked by parseOptions
	h := &harness{o: o, began: time.Now(), serverCPUs: cpus}
	h.rep = &report.Report{Date: time.Now(), Command: o.command}
	work, err := os.MkdirTemp("", "vexenbench-")
	if err != nil {
		return err
	}
	h.work = work
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		return err
	}
	h.defer_(func() {
		if o.keep {
			h.logf("working directory kept: %s", work)
			return
		}
		os.RemoveAll(work)
	})
	defer h.cleanup()
	if err := h.run(ctx); err != nil {
		h.logf("failed: %v", err)
		if !o.keep {
			h.logf("(rerun with -keep to inspect the logs under the working directory)")
		}
		return err
	}
	return nil
}

func (h *harness) run(ctx context.Context) error {
	o := h.o
	if err := h.preflight(ctx); err != nil {
		return err
	}
	if err := h.build(ctx); err != nil {
		return err
	}
	if o.goBench != "" {
		if err := h.runGoBench(ctx); err != nil {
			return err
		}
	}
	env, err := h.setup(ctx)
	if err != nil {
		return err
	}
	if err := h.scenarios(ctx, env); err != nil {
		return err
	}
	if o.logouts > 0 {
		if err := h.revocation(ctx, env); err != nil {
			return err
		}
	}
	if o.memSessions > 0 {
		if err := h.memory(ctx, env); err != nil {
			return err
		}
	}
	h.finish()
	h.rep.Text(os.Stdout)
	if err := h.write(); err != nil {
		return err
	}
	h.logf("done in %s", time.Since(h.began).Round(time.Second))
	return nil
}

// write saves the Markdown report and the chart.
func (h *harness) write() error {
	o := h.o
	if o.chart != "" {
		f, err := os.Create(o.chart)
		if err != nil {
			return err
		}
		if err := h.rep.WriteChart(f); err != nil && !errors.Is(err, report.ErrNoData) {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if o.out != "" {
			if rel, err := filepath.Rel(filepath.Dir(o.out), o.chart); err == nil {
				h.rep.Chart = rel
			}
		}
		h.logf("chart written to %s", o.chart)
	}
	if o.out != "" {
		kept := keptSection(o.out)
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		h.rep.Markdown(f)
		if kept != "" {
			fmt.Fprint(f, "\n"+kept)
		}
		if err := f.Close(); err != nil {
			return err
		}
		h.logf("report written to %s", o.out)
	}
	return nil
}

// preflight checks the tools and records the machine.
func (h *harness) preflight(ctx context.Context) error {
	need := []string{"taskset", "wrk", "go"}
	if h.o.has("nginx") || h.o.has("peers") || h.o.has("yardstick") {
		need = append(need, "nginx")
	}
	for _, t := range need {
		if _, err := lookPath(t); err != nil {
			return fmt.Errorf("%s not found (scripts/install-deps.sh installs wrk and nginx): %w", t, err)
		}
	}
	if n := runtime.NumCPU(); n < 2 {
		log.Printf("warning: %d CPU: server and load generator share it; ratios will mean little", n)
	}
	out, err := runCmd(ctx, "", nil, "lscpu")
	if err != nil {
		return err
	}
	h.rep.Machine = lscpuSummary(out)
	return nil
}

// shellQuote renders args as a shell would need them typed, each after a space.
func shellQuote(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteByte(' ')
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// keptSection is the section scripts/policy-cost.sh wrote into the report (between
// its policy-cost markers), which a new report keeps at its end; "" when none.
func keptSection(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.Index(s, "<!-- policy-cost")
	end := "<!-- /policy-cost -->"
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return ""
	}
	return s[i:j+len(end)] + "\n"
}
