package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL server of a test's own (initdb and pg_ctl into
// a temporary directory, trust authentication), which the test may stop (as a
// crash would) and start again. Commits are synchronous, so a stop loses none;
// fsync is off, since the operating system does not crash. The machine's
// PostgreSQL service is never touched. It is stopped and removed when the test
// ends.
type Postgres struct {
	URL  string // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
	Port int

	bin  string // directory of initdb, pg_ctl
	dir  string // data directory
	cred *syscall.Credential
}

// pgBinDir finds the directory of pg_ctl: $PG_BIN, the PATH, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout).
func pgBinDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("pg_ctl not found (set PG_BIN or apt-get install postgresql)")
}

// StartPostgres runs initdb into a new temporary directory and starts the server
// on a free loopback port. PostgreSQL refuses to run as root: as root, the
// directory is given to the postgres user and the server runs as that user.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	Integration(t)
	bin, err := pgBinDir()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	base, err := os.MkdirTemp("", "vexen-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Postgres{bin: bin, dir: filepath.Join(base, "data"), Port: FreePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: running as root needs a postgres user for the server: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(base, 0o755)
	}
	t.Cleanup(func() {
		p.pgctl("stop", "-m", "immediate", "-w")
		os.RemoveAll(base)
	})
	if out, err := p.run("initdb", "-D", p.dir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.URL = "postgres://postgres@127.0.0.1:" + strconv.Itoa(p.Port) + "/postgres?sslmode=disable"
	p.Start(t)
	return p
}

func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = filepath.Dir(p.dir)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd.CombinedOutput()
}

func (p *Postgres) pgctl(args ...string) ([]byte, error) {
	return p.run("pg_ctl", append([]string{"-D", p.dir}, args...)...)
}

// Start starts the (stopped) server and waits until it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c full_page_writes=off -c max_connections=200", p.Port)
	if out, err := p.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(filepath.Dir(p.dir), "postgres.log"), "-o", opts); err != nil {
		t.Fatalf("testenv: pg_ctl start: %v\n%s\n%s", err, out, p.LogTail(20))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, p.URL)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: PostgreSQL on port %d not reachable: %v", p.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once (pg_ctl stop -m immediate: no shutdown
// checkpoint, clients cut, crash recovery at the next start).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := p.pgctl("stop", "-m", "immediate", "-w"); err != nil {
		t.Fatalf("testenv: pg_ctl stop: %v\n%s", err, out)
	}
}

// LogTail returns the last n lines of the server's log.
func (p *Postgres) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(p.dir), "postgres.log"))
	return tail(string(b), n)
}
