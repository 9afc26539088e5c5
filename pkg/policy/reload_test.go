package policy

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestReloader: a good file is put in force, a broken one leaves the old policy in
// force and is counted as an error; Watch notices a change by itself.
func TestReloader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // as config management replaces files
			t.Fatal(err)
		}
	}
	write("default: authenticated\n")
	var cur atomic.Pointer[Policy]
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cur.Store(first)
	reg := prometheus.NewRegistry()
	r, err := NewReloader(path, first, func(p *Policy) { cur.Store(p) }, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(result string) float64 {
		c := r.ok
		if result == "error" {
			c = r.bad
		}
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}

	write("default: deny\n")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if cur.Load().Default().Action != Deny || count("ok") != 1 {
		t.Fatalf("after a good reload: default %v, ok %v", cur.Load().Default().Action, count("ok"))
	}
	good := cur.Load()
	write("default: deny\nrules:\n  - action: maybe\n")
	if err := r.Reload(); err == nil {
		t.Fatal("a broken file reloaded")
	}
	if cur.Load() != good || count("error") != 1 {
		t.Fatalf("after a broken reload: policy changed (%v) or error count %v", cur.Load() != good, count("error"))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || cur.Load() != good || count("error") != 2 {
		t.Fatalf("missing file: %v, error count %v", err, count("error"))
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Watch(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	write("rules:\n  - name: w\n    action: deny\n")
	deadline := time.Now().Add(5 * time.Second)
	for len(cur.Load().Rules()) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload the changed file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "vexen_verifier_policy_reloads_total" || len(mfs[0].GetMetric()) != 2 {
		t.Fatalf("exported: %v, %v", mfs, err)
	}
}

// TestReloaderSeesEditBeforeStart: a file edited between the start's Load and
// NewReloader is reloaded by the first poll.
func TestReloaderSeesEditBeforeStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("default: authenticated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("default: deny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[Policy]
	cur.Store(first)
	r, err := NewReloader(path, first, func(p *Policy) { cur.Store(p) }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Watch(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for cur.Load().Default().Action != Deny {
		if time.Now().After(deadline) {
			t.Fatal("the edit made before the reloader started was never loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
