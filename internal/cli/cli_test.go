package cli

import (
	"errors"
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"
	"log/slog"
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

func TestMetricsServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "vexen_test_total", Help: "t"}))
	srv := MetricsServer(reg, slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Errorf("a timeout is unset: %+v", srv)
	}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{{"/metrics", 200, "vexen_test_total 0"}, {"/", 404, ""}, {"/v1/login", 404, ""}, {"/healthz", 404, ""}} {
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("GET %s: %d %q", tc.path, rec.Code, rec.Body.String())
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

func TestOpenBackends(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/v.db"
	b, err := OpenBackends(t.Context(), BackendOptions{DatabaseURL: db, RedisURL: "redis://127.0.0.1:1/0"})
	if err != nil || b.Logger == nil || b.Store == nil || b.Redis == nil {
		t.Fatalf("%+v, %v", b, err)
	}
	b.Store.Close()
	b.Redis.Close()
	for name, o := range map[string]BackendOptions{
		"log format": {LogFormat: "xml", DatabaseURL: db},
		"redis url":  {DatabaseURL: db, RedisURL: "redis://[::1"},
	} {
		b, err := OpenBackends(t.Context(), o)
		if ExitCode(err) != 2 {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
		if b.Store != nil {
			b.Store.Close()
		}
	}
	if _, err := OpenBackends(t.Context(), BackendOptions{DatabaseURL: "mysql://x"}); err == nil || ExitCode(err) == 2 {
		t.Errorf("unknown store scheme: %v", err)
	}
}

// TestRegistryHeapLive: the registry exports the live heap beside the memstats
// (the benchmark's memory breakdown reads it).
func TestRegistryHeapLive(t *testing.T) {
	mfs, err := Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"go_gc_heap_live_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines"} {
		if !have[name] {
			t.Errorf("no %s", name)
		}
	}
}
