package main

import (
	"math"
	"regexp"
	"testing"

	"github.com/vexen/vexen-auth/bench/report"
)

const pprofTopSample = `File: verifier-pprof
Type: cpu
Duration: 6s, Total samples = 5.30s (88.33%)
Showing nodes accounting for 5.30s, 100% of 5.30s total
      flat  flat%   sum%        cum   cum%
     2.50s 47.17% 47.17%      2.50s 47.17%  internal/runtime/syscall/linux.Syscall6
     0.20s  3.77% 50.94%      0.20s  3.77%  net/textproto.validHeaderValueByte (inline)
     0.10s  1.89% 52.83%      1.90s 35.85%  bufio.(*Writer).Flush
     0.05s  0.94% 53.77%      0.40s  7.55%  github.com/vexen/vexen-auth/pkg/verify.(*handler).ServeHTTP
     0.02s  0.38% 54.15%      0.20s  3.77%  github.com/vexen/vexen-auth/pkg/verify.(*Verifier).Decide
     0.01s  0.19% 54.34%      0.30s  5.66%  github.com/vexen/vexen-auth/pkg/rediscache.(*Cache).Lookup
     0.01s  0.19% 54.53%      0.10s  1.89%  github.com/vexen/vexen-auth/pkg/rediscache.(*batcher).drain
         0     0% 54.53%      1.10s 20.75%  bufio.(*Reader).fill
`

func TestParsePprofTop(t *testing.T) {
	p, err := parsePprofTop("verifier (cached)", pprofTopSample)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if len(p.Top) != 8 || p.Top[0].Func != "internal/runtime/syscall/linux.Syscall6" || !near(p.Top[0].Flat, 0.4717) || p.Top[1].Func != "net/textproto.validHeaderValueByte" {
		t.Errorf("top = %+v", p.Top)
	}
	if _, err := parsePprofTop("x", "no table here"); err == nil {
		t.Error("output without a table parsed")
	}
}

func TestProfileCategoriesFocus(t *testing.T) {
	for _, c := range report.ProfileCategories {
		if _, err := regexp.Compile(profileFocus[c.Label]); err != nil || profileFocus[c.Label] == "" {
			t.Errorf("category %q: focus %q: %v", c.Label, profileFocus[c.Label], err)
		}
	}
	if len(profileFocus) != len(report.ProfileCategories) {
		t.Errorf("%d focus expressions for %d categories", len(profileFocus), len(report.ProfileCategories))
	}
	re := regexp.MustCompile(profileFocus["HTTP handler"])
	for _, name := range []string{"github.com/vexen/vexen-auth/pkg/verify.(*handler).ServeHTTP", "net/http.HandlerFunc.ServeHTTP"} {
		if !re.MatchString(name) {
			t.Errorf("HTTP handler does not match %s", name)
		}
	}
}

func TestFocusShare(t *testing.T) {
	v, ok, err := focusShare("Type: cpu\nActive filters:\n   focus=x\nShowing nodes accounting for 1.20s, 29.93% of 4.01s total\n      flat  flat%")
	if err != nil || !ok || math.Abs(v-0.2993) > 1e-9 {
		t.Errorf("focusShare = %v %v %v", v, ok, err)
	}
	if _, ok, err := focusShare("Type: cpu\nFocus expression matched no samples\n"); ok || err != nil {
		t.Errorf("no samples: %v %v", ok, err)
	}
	if _, _, err := focusShare("garbage"); err == nil {
		t.Error("garbage parsed")
	}
}
