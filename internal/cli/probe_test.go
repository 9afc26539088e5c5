package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := Probe(context.Background(), nil, srv.URL+"/readyz", &out); err != nil || ExitCode(err) != 0 {
		t.Fatalf("ready: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := Probe(context.Background(), nil, srv.URL+"/readyz", &out); ExitCode(err) != 1 {
		t.Fatalf("not ready: %v (exit %d), want exit 1", err, ExitCode(err))
	}
	if err := Probe(context.Background(), []string{srv.URL + "/nope"}, "http://127.0.0.1:1/", &out); ExitCode(err) != 1 {
		t.Fatalf("404: %v, want exit 1", err)
	}
	out.Reset()
	if err := Probe(context.Background(), []string{"--help"}, "http://127.0.0.1:1/readyz", &out); err != nil || !strings.Contains(out.String(), "Usage: healthcheck [URL]") {
		t.Fatalf("--help: %v, %q; want exit 0 and the usage on stdout", err, out.String())
	}
	for _, args := range [][]string{{"ftp://x/"}, {"a", "b"}, {"not a url"}} {
		if err := Probe(context.Background(), args, "http://127.0.0.1:1/", &out); ExitCode(err) != 2 {
			t.Errorf("%q: %v, want exit 2", args, err)
		}
	}
	if err := Probe(context.Background(), []string{"http://127.0.0.1:1/readyz"}, "", &out); ExitCode(err) != 1 {
		t.Fatalf("nothing listening: %v, want exit 1", err)
	}
}
