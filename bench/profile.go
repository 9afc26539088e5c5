package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/vexen/vexen-auth/bench/report"
)

// profileTop is how many entries by own time the report lists per profile.
const profileTop = 10

// profileFocus is, for each report.ProfileCategories row, the pprof -focus
// expression whose samples it counts: every sample with a frame in a matching
// function, once.
var profileFocus = map[string]string{
	"HTTP handler":                     `^github\.com/vexen/vexen-auth/pkg/verify\.\(\*handler\)\.ServeHTTP$|^net/http\.HandlerFunc\.ServeHTTP$`,
	"of it: Decide":                    `^github\.com/vexen/vexen-auth/pkg/verify\.\(\*Verifier\)\.Decide$`,
	"Redis (pkg/rediscache, go-redis)": `^github\.com/vexen/vexen-auth/pkg/rediscache\.|^github\.com/redis/go-redis/`,
	"metrics (client_golang)":          `^github\.com/prometheus/client_golang/`,
	"write syscalls":                   `^bufio\.\(\*Writer\)\.Flush$`,
	"read path":                        `^bufio\.\(\*Reader\)\.fill$`,
	"GC background marking":            `^runtime\.gcBgMarkWorker$`,
	"connection deadlines":             `^internal/poll\.setDeadlineImpl$`,
}

// profileShares runs `go tool pprof -top -focus` for each category and returns
// the share of the profile's samples each accounts for (absent: no sample).
func profileShares(ctx context.Context, goBin, bin, prof string) (map[string]float64, error) {
	out := map[string]float64{}
	for label, focus := range profileFocus {
		top, err := runCmd(ctx, "", nil, goBin, "tool", "pprof", "-top", "-nodecount=100000", "-focus="+focus, bin, prof)
		if err != nil {
			return nil, err
		}
		share, ok, err := focusShare(top)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		if ok {
			out[label] = share
		}
	}
	return out, nil
}

// focusShare reads "Showing nodes accounting for 1.20s, 29.9% of 4.01s total"
// from pprof -top output with every node shown; false when the focus matched
// no sample.
func focusShare(top string) (float64, bool, error) {
	if strings.Contains(top, "matched no samples") {
		return 0, false, nil
	}
	for line := range strings.SplitSeq(top, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Showing nodes accounting for ")
		if !ok {
			continue
		}
		_, after, ok := strings.Cut(rest, ", ")
		if !ok {
			break
		}
		p, _, _ := strings.Cut(after, " ")
		v, err := pct(p)
		return v, err == nil, err
	}
	return 0, false, fmt.Errorf("pprof -top: no summary line in %q", tail(top, 5))
}

// parsePprofTop reads `go tool pprof -top` output into a report.Profile with its
// top entries by flat time (Shares empty: profileShares fills them).
func parsePprofTop(server, out string) (report.Profile, error) {
	p := report.Profile{Server: server, Shares: map[string]float64{}}
	var entries []report.ProfileEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	inTable := false
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if !inTable {
			inTable = len(f) >= 5 && f[0] == "flat" && f[1] == "flat%"
			continue
		}
		// flat flat% sum% cum cum% name…
		if len(f) < 6 {
			continue
		}
		flat, err1 := pct(f[1])
		cum, err2 := pct(f[4])
		if err1 != nil || err2 != nil {
			return p, fmt.Errorf("pprof -top line %q: %v %v", line, err1, err2)
		}
		name := strings.Join(f[5:], " ")
		name = strings.TrimSuffix(name, " (inline)")
		entries = append(entries, report.ProfileEntry{Func: name, Flat: flat, Cum: cum})
	}
	if !inTable {
		return p, fmt.Errorf("pprof -top: no table in %q", tail(out, 5))
	}
	for i, e := range entries {
		if i < profileTop {
			p.Top = append(p.Top, e)
		}
	}
	return p, nil
}

func pct(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	return v / 100, err
}
