// Package cli holds the wiring both binaries share: logging setup, the metrics
// registry, HTTP servers with every timeout set, graceful shutdown and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vexen/vexen-auth/pkg/store"
)

// UsageError is bad configuration: the program prints it on one line and exits 2
// before opening any port.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage wraps err as a UsageError (nil stays nil).
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// ExitCode maps an error to the process exit status: 0 ok, 2 bad configuration or
// a database schema newer than the binary (store.ErrSchemaTooNew), 1 otherwise.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue), errors.Is(err, store.ErrSchemaTooNew):
		return 2
	default:
		return 1
	}
}

// Logger builds the process logger: JSON when format is "json", text otherwise;
// level "" means info. No control character, bidirectional control or invalid UTF-8
// from any string reaches the log raw: the text handler quotes such strings itself
// (strconv.Quote: the escapes safetext.Escape writes), the JSON handler escapes C0
// controls only (not DEL, C1 or bidirectional controls), so it is wrapped in SafeHandler.
func Logger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level // "" is info
	if err := lv.UnmarshalText([]byte(level)); level != "" && err != nil {
		return nil, fmt.Errorf("invalid LOG_LEVEL %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(SafeHandler(slog.NewJSONHandler(w, opts))), nil
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("invalid LOG_FORMAT %q (want json or text)", format)
	}
}

// Registry returns a fresh Prometheus registry with the Go and process collectors.
// The Go collector adds go_gc_heap_live_bytes (the heap the last GC kept) to its
// defaults: the verifier's cache is sized against it (bench/ reports the heap per
// cached session from it; go_memstats_heap_inuse_bytes includes garbage).
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// WithMetrics serves reg at /metrics (GET and HEAD) and everything else with h. It
// compares one path instead of running a ServeMux, so the decision endpoint behind
// it pays nothing for the routing.
func WithMetrics(h http.Handler, reg *prometheus.Registry) http.Handler {
	return &metricsRouter{next: h, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})}
}

// MetricsServer returns a server (every timeout set, as NewServer) for a private
// metrics listener: reg at /metrics, 404 for anything else.
func MetricsServer(reg *prometheus.Registry, log *slog.Logger) *http.Server {
	return NewServer(WithMetrics(http.NotFoundHandler(), reg), ServerOptions{}, log)
}

type metricsRouter struct{ next, metrics http.Handler }

func (m *metricsRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		m.next.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	m.metrics.ServeHTTP(w, r)
}

// ServerOptions are the limits of an HTTP server; zero fields take the defaults shown.
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // 5s
	ReadTimeout       time.Duration // 15s
	WriteTimeout      time.Duration // 15s
	IdleTimeout       time.Duration // 120s
	MaxHeaderBytes    int           // 16 KiB
}

// NewServer returns an http.Server with every timeout set explicitly (a zero
// timeout in net/http means none).
func NewServer(h http.Handler, o ServerOptions, log *slog.Logger) *http.Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 5*time.Second)
	def(&o.ReadTimeout, 15*time.Second)
	def(&o.WriteTimeout, 15*time.Second)
	def(&o.IdleTimeout, 120*time.Second)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listen opens a TCP listener; the error names the setting.
func Listen(setting, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", setting, addr, err)
	}
	return ln, nil
}

// Serve runs srv on ln in the background and reports its end on the returned
// channel; with srv.TLSConfig set (ServerTLS) it serves HTTPS (HTTP/2 and 1.1).
func Serve(srv *http.Server, ln net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig.GetCertificate
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	return done
}

// Shutdown stops srv gracefully within timeout, then closes what is left.
func Shutdown(srv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return err
	}
	return nil
}
