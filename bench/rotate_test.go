package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vexen/vexen-auth/bench/parse"
	"github.com/vexen/vexen-auth/bench/tokens"
	"github.com/vexen/vexen-auth/internal/testenv"
)

// tokenCounter is a server that counts how often it saw each bearer token.
type tokenCounter struct {
	mu   sync.Mutex
	seen map[string]int
	deny string
}

func (c *tokenCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c.mu.Lock()
	c.seen[tok]++
	c.mu.Unlock()
	if tok == c.deny {
		w.WriteHeader(http.StatusUnauthorized)
	}
}

// runWrk runs wrk with rotate.lua for one second.
func runWrk(t *testing.T, wrk, url string, toks []string, threads int) parse.Wrk {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "rotate.lua")
	if err := os.WriteFile(script, rotateLua, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tokens.txt")
	if err := tokens.WriteFile(file, toks); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(wrk, "-t", fmt.Sprint(threads), "-c", "8", "-d", "1s", "--latency", "-s", script, url, "--", file, fmt.Sprint(threads)).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	w, err := parse.ParseWrk(string(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !w.Exact {
		t.Fatalf("rotate.lua printed no summary line:\n%s", out)
	}
	return w
}

// TestRotateScript proves what the cold scenario relies on: rotate.lua sends every
// token of its file at most once until the file runs out, across wrk threads, and
// counts the requests that repeated one.
func TestRotateScript(t *testing.T) {
	testenv.Integration(t)
	wrk := testenv.RequireBinary(t, "wrk", "run scripts/install-deps.sh")

	t.Run("every token new", func(t *testing.T) {
		srv := &tokenCounter{seen: map[string]int{}}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		toks := make([]string, 500_000) // far more than a second of requests here
		for i := range toks {
			toks[i] = fmt.Sprintf("tok-%07d", i)
		}
		w := runWrk(t, wrk, ts.URL+"/auth", toks, 2)
		if w.Repeats != 0 {
			t.Errorf("repeats = %d, want 0", w.Repeats)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for tok, n := range srv.seen {
			if n > 1 {
				t.Fatalf("token %q sent %d times", tok, n)
			}
		}
		if int64(len(srv.seen)) < w.Requests {
			t.Errorf("server saw %d distinct tokens, wrk completed %d requests", len(srv.seen), w.Requests)
		}
		if w.Requests < 100 || w.Failures() != 0 {
			t.Errorf("wrk: %d requests, %d failures", w.Requests, w.Failures())
		}
	})

	t.Run("a short file repeats and is counted", func(t *testing.T) {
		srv := &tokenCounter{seen: map[string]int{}, deny: "tok-3"}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		toks := []string{"tok-0", "tok-1", "tok-2", "tok-3"}
		w := runWrk(t, wrk, ts.URL+"/auth", toks, 1)
		if w.Requests < 100 {
			t.Fatalf("only %d requests", w.Requests)
		}
		// Everything after the first four requests repeated a token.
		if w.Repeats < w.Requests-4 || w.Repeats > w.Requests+8 {
			t.Errorf("repeats = %d for %d requests over 4 tokens", w.Repeats, w.Requests)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.seen) != 4 {
			t.Errorf("server saw tokens %v, want the file's 4", srv.seen)
		}
		// One request in four was refused, and wrk counted it.
		if d := float64(w.Non2xx) / float64(w.Requests); d < 0.2 || d > 0.3 {
			t.Errorf("non-2xx = %d of %d, want about a quarter", w.Non2xx, w.Requests)
		}
	})
}
