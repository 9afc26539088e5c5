package parse

import (
	"math"
	"reflect"
	"testing"
)

const metricsText = `# HELP vexen_verifier_cache_requests_total Cache lookups.
# TYPE vexen_verifier_cache_requests_total counter
vexen_verifier_cache_requests_total{layer="local",result="hit"} 1.5e+06
vexen_verifier_cache_requests_total{layer="local",result="miss"} 120
vexen_verifier_cache_requests_total{layer="redis",result="hit"} 100
vexen_verifier_cache_requests_total{layer="redis",result="miss"} 20
vexen_verifier_decisions_total{decision="allow",reason="ok"} 1500100
vexen_verifier_decisions_total{decision="deny",reason="revoked"} 3
weird{msg="a \"quoted\" \\ value\nnext", other = "x"} 1 1712345678000
go_memstats_heap_inuse_bytes 4.2e+07
up +Inf
`

func TestParseMetrics(t *testing.T) {
	ss, err := ParseMetrics(metricsText)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 9 {
		t.Fatalf("got %d samples, want 9: %+v", len(ss), ss)
	}
	w := ss[6]
	wantLabels := map[string]string{"msg": "a \"quoted\" \\ value\nnext", "other": "x"}
	if w.Name != "weird" || !reflect.DeepEqual(w.Labels, wantLabels) || w.Value != 1 {
		t.Errorf("escaped sample = %+v", w)
	}
	if ss[7].Labels != nil || ss[7].Value != 4.2e7 {
		t.Errorf("unlabelled sample = %+v", ss[7])
	}
	if !math.IsInf(ss[8].Value, 1) {
		t.Errorf("+Inf = %v", ss[8].Value)
	}
	tests := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"vexen_verifier_cache_requests_total", map[string]string{"layer": "local", "result": "hit"}, 1.5e6},
		{"vexen_verifier_cache_requests_total", map[string]string{"layer": "redis"}, 120},
		{"vexen_verifier_cache_requests_total", nil, 1.5e6 + 240},
		{"vexen_verifier_decisions_total", map[string]string{"decision": "allow"}, 1500100},
		{"vexen_verifier_decisions_total", map[string]string{"decision": "error"}, 0},
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		if got := ss.Sum(tt.name, tt.match); got != tt.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
	if !ss.Has("go_memstats_heap_inuse_bytes") || ss.Has("absent") {
		t.Error("Has is wrong")
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, bad := range []string{
		"novalue",
		`x{a="1"`,
		`x{a="1} 2`,
		`x{a=1} 2`,
		`x{a="\q"} 2`,
		"x 1 2 3",
		"x one",
	} {
		if _, err := ParseMetrics(bad); err == nil {
			t.Errorf("ParseMetrics(%q): no error", bad)
		}
	}
}
