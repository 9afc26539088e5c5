// Package testenv gives integration tests the real servers they need: a fresh
// PostgreSQL database, a Redis key prefix of their own on the shared Redis, or a
// throwaway redis-server they may kill, restart and flush.
//
// The shared servers' addresses come from TEST_DATABASE_URL and TEST_REDIS_URL
// (defaults: postgres://postgres@127.0.0.1:5432/test?sslmode=disable and
// redis://127.0.0.1:6379/0). Under `go test -short` integration tests are skipped;
// otherwise an unreachable server fails the test loudly: it is never skipped.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const (
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedis    = "redis://127.0.0.1:6379/0"
)

// Integration skips t under -short and otherwise does nothing.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs real servers (skipped under -short)")
	}
}

// RandomName returns a short random lowercase identifier with the given prefix.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// PostgresURL creates a fresh database on the shared PostgreSQL server and returns
// its URL; the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	Integration(t)
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = defaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL unreachable at %s (set TEST_DATABASE_URL): %v", base, err)
	}
	defer conn.Close(context.Background())
	name := RandomName("vexen_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// SQLiteURL returns a sqlite: URL for a file in the test's temporary directory.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "vexen.db")
}

// Redis is a Redis server for a test, with a key prefix of the test's own.
type Redis struct {
	URL    string // redis://host:port/db
	Prefix string // unique per test: use it as the key prefix
	Client *redis.Client
	cmd    *exec.Cmd
	port   int
	dir    string
	args   []string // extra redis-server arguments (replicaof, cluster mode)
	conf   string   // a config file to start with instead of the flags (sentinels)
}

// SharedRedis returns the shared Redis with a unique key prefix; the test's keys
// are deleted when it ends. Tests must not FLUSH or stop this server.
func SharedRedis(t testing.TB) *Redis {
	t.Helper()
	Integration(t)
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = defaultRedis
	}
	r := &Redis{URL: u, Prefix: RandomName("vexentest:") + ":"}
	r.Client = mustClient(t, u)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := r.Client.Scan(ctx, 0, r.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			r.Client.Del(ctx, iter.Val())
		}
		r.Client.Close()
	})
	return r
}

func mustClient(t testing.TB, u string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("testenv: redis URL %q: %v", u, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testenv: Redis unreachable at %s (set TEST_REDIS_URL): %v", u, err)
	}
	return c
}

// StartRedis starts a throwaway redis-server on a free loopback port, without
// persistence. The test may Stop, Start and FLUSHALL it; it is killed at the end.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	Integration(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not installed (apt-get install redis-server): %v", err)
	}
	_ = bin
	r := &Redis{port: FreePort(t), dir: t.TempDir(), Prefix: ""}
	r.URL = "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0"
	r.Start(t)
	r.Client = mustClient(t, r.URL)
	t.Cleanup(func() {
		r.Client.Close()
		r.Stop(t)
	})
	return r
}

// Start (re)starts a throwaway server on its port and waits until it answers.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if r.cmd != nil {
		t.Fatal("testenv: redis already running")
	}
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--loglevel", "warning"}
	if r.conf != "" {
		args = []string{r.conf, "--sentinel"}
	}
	cmd := exec.Command("redis-server", append(args, r.args...)...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	r.cmd = cmd
	addr := "127.0.0.1:" + strconv.Itoa(r.port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testenv: redis-server on %s did not start", addr)
}

// Stop kills a throwaway server (as a crash would) and waits for it to exit.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Signal sends sig to a throwaway server (SIGSTOP pauses it, SIGCONT resumes it).
func (r *Redis) Signal(sig os.Signal) error {
	if r.cmd == nil {
		return fmt.Errorf("testenv: redis not running")
	}
	return r.cmd.Process.Signal(sig)
}

// Addr is host:port of the server.
func (r *Redis) Addr() string {
	u, _ := url.Parse(r.URL)
	return u.Host
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RequireBinary fails (never skips) the test when a program the test needs is missing.
func RequireBinary(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testenv: %s not found on PATH: %s", name, install)
	}
	return p
}

// WaitHTTP polls url until it answers any HTTP status or the timeout passes.
func WaitHTTP(t testing.TB, rawurl string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", hostPort(rawurl), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s did not come up within %v: %v", rawurl, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hostPort(rawurl string) string {
	if !strings.Contains(rawurl, "://") {
		return rawurl
	}
	u, err := url.Parse(rawurl)
	if err != nil {
		return rawurl
	}
	return u.Host
}

// Must fails the test on err.
func Must(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Buffer is a bytes.Buffer that a program's goroutines may write (a logger's
// output) while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
