package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/bench/parse"
)

//go:embed pprof.go.txt
var pprofOverlay []byte

func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/go/bin"} {
		c := filepath.Join(dir, name)
		if st, serr := os.Stat(c); serr == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", err
}

// bins are the programs a run uses.
type bins struct {
	issuer, verifier string
	verifierProf     string // the verifier with a pprof listener (-profile only)
	self             string // this harness, for its helper subcommands
}

func (h *harness) build(ctx context.Context) error {
	o := h.o
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir := o.bin
	if dir == "" {
		dir = filepath.Join(h.work, "bin")
		t0 := time.Now()
		goBin, err := lookPath("go")
		if err != nil {
			return err
		}
		if _, err := runCmd(ctx, o.repo, nil, goBin, "build", "-o", dir+"/", "./cmd/issuer", "./cmd/verifier"); err != nil {
			return err
		}
		h.logf("built issuer and verifier in %s", time.Since(t0).Round(100*time.Millisecond))
	}
	h.bins = bins{issuer: filepath.Join(dir, "issuer"), verifier: filepath.Join(dir, "verifier"), self: self}
	for _, p := range []string{h.bins.issuer, h.bins.verifier} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("binary missing: %w", err)
		}
	}
	if o.profile != "" {
		// The same verifier, plus a file that serves net/http/pprof on
		// $VEXENBENCH_PPROF_LISTEN, added at build time with -overlay so that the
		// source tree is untouched.
		src := filepath.Join(h.work, "pprof.go")
		if err := os.WriteFile(src, pprofOverlay, 0o644); err != nil {
			return err
		}
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {
			filepath.Join(o.repo, "cmd", "verifier", "zz_vexenbench_pprof.go"): src,
		}})
		ovPath := filepath.Join(h.work, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
			return err
		}
		// Beside the profiles, so that `go tool pprof` finds the symbols later.
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
		h.bins.verifierProf = filepath.Join(o.profile, "verifier-pprof")
		goBin, err := lookPath("go")
		if err != nil {
			return err
		}
		if _, err := runCmd(ctx, o.repo, nil, goBin, "build", "-overlay", ovPath, "-o", h.bins.verifierProf, "./cmd/verifier"); err != nil {
			return err
		}
	}
	return nil
}

// runGoBench compiles each package's tests and runs its benchmarks pinned to the
// server CPU, before any service of the run starts.
func (h *harness) runGoBench(ctx context.Context) error {
	goBin, err := lookPath("go")
	if err != nil {
		return err
	}
	for pkg := range strings.SplitSeq(h.o.goBench, ",") {
		pkg = strings.TrimSpace(pkg)
		if pkg == "" {
			continue
		}
		t0 := time.Now()
		testBin := filepath.Join(h.work, "bin", strings.NewReplacer("/", "_", ".", "_").Replace(strings.Trim(pkg, "./"))+".test")
		out, err := runCmd(ctx, h.o.repo, nil, goBin, "test", "-c", "-o", testBin, pkg)
		if err != nil {
			return err
		}
		if _, err := os.Stat(testBin); err != nil {
			h.note("`%s`: no test binary (%s); no in-process benchmarks", pkg, strings.TrimSpace(out))
			continue
		}
		pkgDir := filepath.Join(h.o.repo, filepath.FromSlash(strings.TrimPrefix(pkg, "./")))
		out, err = runCmd(ctx, pkgDir, nil, "taskset", "-c", h.o.serverCPU, testBin,
			"-test.run", "^$", "-test.bench", ".", "-test.benchmem", "-test.benchtime", "500ms")
		if err != nil {
			return err
		}
		res, err := parse.ParseGoBench(out)
		if err != nil {
			return err
		}
		if len(res) == 0 {
			h.note("`%s` has no benchmarks yet", pkg)
		}
		for i := range res {
			if res[i].Pkg == "" {
				res[i].Pkg = pkg
			}
		}
		h.rep.GoBench = append(h.rep.GoBench, res...)
		h.logf("go test -bench %s: %d benchmarks in %s", pkg, len(res), time.Since(t0).Round(100*time.Millisecond))
	}
	return nil
}

// lscpuSummary keeps the lines of lscpu that describe the machine's speed.
func lscpuSummary(lscpu string) string {
	keep := []string{"Architecture", "Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Socket(s)",
		"CPU max MHz", "BogoMIPS", "Hypervisor vendor", "Virtualization type", "L1d cache", "L2 cache", "L3 cache"}
	var out []string
	for line := range strings.SplitSeq(lscpu, "\n") {
		k, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, want := range keep {
			if strings.TrimSpace(k) == want {
				out = append(out, strings.TrimRight(line, " "))
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
