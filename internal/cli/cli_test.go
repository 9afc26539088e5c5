package cli

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestWithMetricsRoutesOnlyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "vexen_test_total", Help: "t"})
	reg.MustRegister(c)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	h := WithMetrics(app, reg)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/metrics", 200, "vexen_test_total 0"},
		{"POST", "/metrics", 405, ""},
		{"GET", "/auth", 299, ""},
		{"POST", "/auth/x", 299, ""},
		{"GET", "/metrics/x", 299, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, rec.Code, rec.Body.String())
		}
	}
}

func TestExitCodes(t *testing.T) {
	if ExitCode(nil) != 0 || ExitCode(errors.New("x")) != 1 || ExitCode(Usage(errors.New("x"))) != 2 || Usage(nil) != nil {
		t.Fatal("exit codes")
	}
}

func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		format, level string
		ok            bool
	}{{"json", "info", true}, {"", "debug", true}, {"text", "warn", true}, {"xml", "info", false}, {"json", "loud", false}} {
		_, err := Logger(nil, tc.format, tc.level)
		if (err == nil) != tc.ok {
			t.Errorf("%q %q: %v", tc.format, tc.level, err)
		}
	}
}
