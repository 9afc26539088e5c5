package chaos

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/e2e"
	"github.com/vexen/vexen-auth/internal/echo"
	"github.com/vexen/vexen-auth/internal/testenv"
)

// proc is a program of the cluster. A proc that exits without the harness having
// killed it is a crash, which fails the run.
type proc struct {
	name, bin string
	args, env []string
	log       string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // the harness killed it
	crashes  *[]string
	crashMu  *sync.Mutex
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = filepath.Dir(p.log)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.expected = cmd, done, false
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		crashed := !p.expected
		p.mu.Unlock()
		if crashed {
			p.crashMu.Lock()
			*p.crashes = append(*p.crashes, fmt.Sprintf("%s exited on its own at %s (%v); log tail:\n%s", p.name, time.Now().Format("15:04:05.000"), err, tailFile(p.log, 20)))
			p.crashMu.Unlock()
		}
		close(done)
	}()
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.mu.Lock()
	p.expected = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Signal(sig)
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cluster is the system under test.
type cluster struct {
	dir, keysDir, policyFile string
	issuerBin                string
	pg                       *testenv.Postgres
	pgProxy                  *testenv.Proxy
	redis                    *testenv.Redis
	redisProxy               *testenv.Proxy
	env                      []string // DATABASE_URL and REDIS_URL through the proxies, keys, argon2
	issuers                  []*proc
	issuerAddrs              []string
	verifiers                []*proc
	verifierAddrs            []string
	verifierModes            []string
	nginx                    *proc
	nginxAddr                string
	maxStale                 time.Duration

	crashMu sync.Mutex
	crashes []string
}

const (
	issuerURL  = "http://auth.example.com" // the iss claim of both issuers
	appHost    = "app.example.com"
	accessTTL  = 30 * time.Second
	grace      = 2 * time.Second
	argonFlags = "ARGON2_MEMORY=8192"
)

// buildPrograms builds cmd/issuer and cmd/verifier into dir.
func buildPrograms(t testing.TB, dir string) (issuer, verifier string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", dir+string(os.PathSeparator),
		"github.com/vexen/vexen-auth/cmd/issuer", "github.com/vexen/vexen-auth/cmd/verifier")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/issuer cmd/verifier: %v\n%s", err, out)
	}
	return filepath.Join(dir, "issuer"), filepath.Join(dir, "verifier")
}

const policyA = `default: authenticated
rules:
  - name: probes
    paths: [/healthz]
    action: public
  - name: admin
    paths: ["/admin/**"]
    action: authenticated
    roles: [admin]
`

// policyB differs from policyA only where the workload never goes.
const policyB = policyA + `  - name: reports
    paths: ["/reports/**"]
    action: deny
`

func startCluster(t *testing.T, maxStale time.Duration) *cluster {
	t.Helper()
	testenv.Integration(t)
	nginxBin := testenv.RequireBinary(t, "nginx", "run scripts/install-deps.sh (Debian's nginx, with auth_request)")
	testenv.RequireBinary(t, "redis-server", "run scripts/install-deps.sh")
	dir := t.TempDir()
	c := &cluster{dir: dir, keysDir: filepath.Join(dir, "keys"), policyFile: filepath.Join(dir, "policy.yaml"), maxStale: maxStale}
	issuerBin, verifierBin := buildPrograms(t, filepath.Join(dir, "bin"))
	c.issuerBin = issuerBin

	c.pg = testenv.StartPostgres(t)
	c.pgProxy = testenv.StartProxy(t, "127.0.0.1:"+strconv.Itoa(c.pg.Port))
	c.redis = testenv.StartRedis(t)
	c.redisProxy = testenv.StartProxy(t, c.redis.Addr())
	c.env = []string{
		"DATABASE_URL=postgres://postgres@" + c.pgProxy.Addr() + "/postgres?sslmode=disable",
		"REDIS_URL=redis://" + c.redisProxy.Addr() + "/0",
		"ISSUER_KEYS=" + c.keysDir,
		argonFlags, "ARGON2_TIME=1", "ARGON2_THREADS=1",
		"LOG_FORMAT=json", "LOG_LEVEL=warn",
	}
	if err := os.WriteFile(c.policyFile, []byte(policyA), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range append(append(append([]*proc{}, c.issuers...), c.verifiers...), c.nginx) {
			if p != nil {
				p.kill()
			}
		}
		if t.Failed() {
			for _, p := range append(append([]*proc{}, c.issuers...), c.verifiers...) {
				t.Logf("--- %s (last 15 lines) ---\n%s", p.name, tailFile(p.log, 15))
			}
		}
	})
	// The schema and the first key.
	if out, err := c.cli("migrate"); err != nil {
		t.Fatalf("issuer migrate: %v\n%s", err, out)
	}

	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &echo.Handler{}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(upstream)
	t.Cleanup(func() { srv.Close() })

	newProc := func(name, bin string, args ...string) *proc {
		return &proc{name: name, bin: bin, args: args, env: c.env, log: filepath.Join(dir, name+".log"), crashes: &c.crashes, crashMu: &c.crashMu}
	}
	for i := 0; i < 2; i++ {
		a := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		p := newProc(fmt.Sprintf("issuer-%d", i+1), issuerBin, "--listen", a, "--issuer-url", issuerURL,
			"--keys", c.keysDir, "--key-prepublish", "2s", "--access-ttl", accessTTL.String(), "--refresh-grace", grace.String(),
			"--login-rate-ip", "1000000/1s", "--login-rate-account", "1000000/1s", "--refresh-rate-ip", "1000000/1s",
			"--metrics-listen=", "--allowed-redirect-hosts", appHost, "--audit-log", filepath.Join(dir, fmt.Sprintf("issuer-%d.audit", i+1)))
		p.start(t)
		c.issuers, c.issuerAddrs = append(c.issuers, p), append(c.issuerAddrs, a)
	}
	for i, a := range c.issuerAddrs {
		c.waitOK(t, c.issuers[i], "http://"+a+"/readyz")
	}
	for i := 0; i < 3; i++ {
		mode := "push"
		if i == 2 {
			mode = "strict"
		}
		a := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		p := newProc(fmt.Sprintf("verifier-%d", i+1), verifierBin, "--listen", a,
			"--jwks-url", "http://"+c.issuerAddrs[i%2]+"/.well-known/jwks.json", "--issuer", issuerURL,
			"--revocation", mode, "--max-staleness", maxStale.String(), "--leeway", "1s",
			"--policy", c.policyFile, "--shutdown-delay", "1ms", "--shutdown-timeout", "1s",
			"--audit-log", filepath.Join(dir, fmt.Sprintf("verifier-%d.audit", i+1)))
		p.start(t)
		c.verifiers, c.verifierAddrs, c.verifierModes = append(c.verifiers, p), append(c.verifierAddrs, a), append(c.verifierModes, mode)
	}
	for i, a := range c.verifierAddrs {
		c.waitOK(t, c.verifiers[i], "http://"+a+"/readyz")
	}
	c.startNginx(t, nginxBin, upstream.Addr().String())
	return c
}

// cli runs an issuer subcommand against the cluster's store and Redis.
func (c *cluster) cli(args ...string) ([]byte, error) {
	return c.cliIn("", args...)
}

func (c *cluster) cliIn(stdin string, args ...string) ([]byte, error) {
	cmd := exec.Command(c.issuerBin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd.CombinedOutput()
}

func (c *cluster) waitOK(t testing.TB, p *proc, url string) {
	t.Helper()
	if err := waitStatus(url, 200, 60*time.Second); err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, tailFile(p.log, 30))
	}
}

func waitStatus(url string, want int, timeout time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %d within %v (last: %s)", url, want, timeout, last)
}

// startNginx runs the repository's nginx/nginx.conf with its includes, rendered
// with the cluster's addresses: the three verifiers and the two issuers as the
// members of their upstream blocks.
func (c *cluster) startNginx(t *testing.T, bin, upstream string) {
	t.Helper()
	prefix, err := os.MkdirTemp("", "vexen-chaos-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	for _, d := range []string{"", "conf", "logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(filepath.Join(prefix, d), 0o755)
	}
	servers := func(addrs []string) string {
		var b strings.Builder
		for i, a := range addrs {
			if i > 0 {
				b.WriteString("\n        ")
			}
			b.WriteString("server " + a + ";")
		}
		return b.String()
	}
	c.nginxAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	repl := []e2e.Replacement{
		{Old: "pid /run/nginx.pid;", New: "pid " + filepath.Join(prefix, "logs", "nginx.pid") + ";"},
		{Old: "/var/log/nginx/", New: filepath.Join(prefix, "logs") + "/"},
		{Old: "/var/lib/nginx/", New: filepath.Join(prefix, "temp") + "/"},
		{Old: "server 127.0.0.1:8081;", New: servers(c.verifierAddrs)},
		{Old: "server 127.0.0.1:9000;", New: "server " + upstream + ";"},
		{Old: "server 127.0.0.1:8080;", New: servers(c.issuerAddrs)},
		{Old: "listen 80;", New: "listen " + c.nginxAddr + ";"},
		{Old: "worker_processes auto;", New: "worker_processes 1;"},
	}
	if os.Geteuid() != 0 {
		repl = append(repl, e2e.Replacement{Old: "user www-data;", New: ""})
	}
	files := map[string][]e2e.Replacement{"nginx.conf": repl, "vexen-auth.conf": nil, "vexen-auth-headers.conf": nil}
	for name, r := range files {
		if err := e2e.RenderFile(filepath.Join(prefix, "conf", name), filepath.Join("..", "nginx", name), r...); err != nil {
			t.Fatal(err)
		}
	}
	c.nginx = &proc{name: "nginx", bin: bin, log: filepath.Join(c.dir, "nginx.log"), crashes: &c.crashes, crashMu: &c.crashMu,
		args: []string{"-p", prefix + "/", "-c", filepath.Join("conf", "nginx.conf"), "-e", filepath.Join("logs", "error.log"), "-g", "daemon off;"}}
	c.nginx.start(t)
	if err := waitStatus("http://"+c.nginxAddr+"/", 401, 30*time.Second); err != nil {
		t.Fatalf("nginx: %v\n%s", err, tailFile(filepath.Join(prefix, "logs", "error.log"), 30))
	}
}

// restart starts a killed program again and waits until it is ready.
func (c *cluster) restart(t testing.TB, p *proc, readyURL string) {
	t.Helper()
	p.start(t)
	c.waitOK(t, p, readyURL)
}
