package load

import (
	"log"
	"net/http"
	"time"
)

// baselineUser is the one header the baseline answers with, rendered once as the
// verifier renders its identity headers once per token.
var baselineUser = []string{"baseline"}

// Baseline returns the reference handler: it reads the Authorization header and
// answers 200 with one header (X-Auth-User) when there is one, 401 otherwise. It is
// what "a bare Go net/http server" costs, to compare the verifier with.
func Baseline() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header()["X-Auth-User"] = baselineUser
		w.WriteHeader(http.StatusOK)
	})
}

// NewBaselineServer returns an http.Server for h with the verifier's limits
// (cmd/verifier: 5s read, 5s write, 5s read-header, 120s idle, 16 KiB of headers), so
// that both pay for the same deadline bookkeeping.
func NewBaselineServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errorLog,
	}
}
