package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/echo"
	"github.com/vexen/vexen-auth/internal/testenv"
)

// proc is a program a test started; it is stopped when the test ends, and its
// output is shown when the test failed.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	mu   sync.Mutex
	err  error // exit status, once done is closed
}

// startProc starts bin with args and env (added to this process's environment)
// in its own process group, its output going to a file in dir.
func startProc(t testing.TB, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir // nothing lands in the source tree
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s output (last 40 lines) ---\n%s", name, p.tail(40))
		}
	})
	return p
}

// stop sends SIGTERM and waits; after 10 s it kills the process group.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop within 10s of SIGTERM; killing it", p.name)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls url until it answers 200, failing the test if p exits first
// or timeout passes.
func waitReady(t testing.TB, p *proc, url string, timeout time.Duration) {
	t.Helper()
	waitReadyWith(t, &http.Client{Timeout: time.Second}, p, url, timeout)
}

// waitReadyWith is waitReady with the client c (a TLS client, say).
func waitReadyWith(t testing.TB, c *http.Client, p *proc, url string, timeout time.Duration) {
	t.Helper()
	pollStatus(t, c, p, url, timeout, "ready", func(code int) bool { return code == http.StatusOK })
}

// pollStatus GETs url with c until done accepts the status (the process p must
// not exit meanwhile), failing the test after timeout with p's last lines.
func pollStatus(t testing.TB, c *http.Client, p *proc, url string, timeout time.Duration, what string, done func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if exited, err := p.exited(); exited {
			t.Fatalf("%s exited while starting (%v):\n%s", p.name, err, p.tail(40))
		}
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if done(resp.StatusCode) {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not %s at %s within %v (last: %s):\n%s", p.name, what, url, timeout, last, p.tail(40))
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// user is an account the stack created.
type user struct {
	email, password string
	roles           []string
}

var (
	adminUser = user{"ada@example.test", "correct horse battery", []string{"admin", "dev"}}
	plainUser = user{"bob@example.test", "staple battery horse", nil}
)

// stack is a real issuer and verifier (SQLite, the shared Redis under a key prefix
// of its own) and the echo upstream, for one proxy test.
type stack struct {
	dir       string
	issuerURL string // http://127.0.0.1:P (or http://localhost:P: newStackAt)
	// issuerAddr is the issuer's listen address, 127.0.0.1:P, for the proxies.
	issuerAddr string
	// issuerMetricsAddr is the issuer's --metrics-listen, 127.0.0.1:P: the only
	// place it serves /metrics.
	issuerMetricsAddr string
	verifierAddr      string // 127.0.0.1:P
	upstreamAddr      string // 127.0.0.1:P
	loginURL          string
	keysDir           string
	echo              *echo.Handler
	issuer            *proc
	verifier          *proc
	env               []string
}

// newStack starts the issuer, creates adminUser and plainUser, starts the verifier
// (browser redirects to the issuer's /login for redirectHost) and the echo upstream.
func newStack(t *testing.T, redirectHost string, verifierArgs ...string) *stack {
	t.Helper()
	return newStackTLS(t, redirectHost, nil, verifierArgs...)
}

// newStackTLS is newStack with, when pki is not nil, the verifier serving TLS and
// requiring client certificates (pki.args).
func newStackTLS(t *testing.T, redirectHost string, pki *verifierPKI, verifierArgs ...string) *stack {
	t.Helper()
	return newStackWith(t, redirectHost, pki, nil, verifierArgs...)
}

// newStackWith is newStackTLS with issuerArgs, when not nil, giving more issuer
// flags once its URL is known (a providers file whose clients name that URL, say).
func newStackWith(t *testing.T, redirectHost string, pki *verifierPKI, issuerArgs func(issuerURL string) []string, verifierArgs ...string) *stack {
	t.Helper()
	return newStackAt(t, "127.0.0.1", redirectHost, pki, issuerArgs, verifierArgs...)
}

// newStackAt is newStackWith with the issuer's public URL on host (it still
// listens on 127.0.0.1): "localhost" for passkeys, whose RP ID cannot be an IP
// address.
func newStackAt(t *testing.T, host, redirectHost string, pki *verifierPKI, issuerArgs func(issuerURL string) []string, verifierArgs ...string) *stack {
	t.Helper()
	testenv.Integration(t)
	dir := t.TempDir()
	rdb := testenv.SharedRedis(t)
	s := &stack{dir: dir, keysDir: filepath.Join(dir, "keys"), echo: &echo.Handler{}}
	s.env = []string{
		"DATABASE_URL=sqlite:" + filepath.Join(dir, "vexen.db"),
		"REDIS_URL=" + rdb.URL,
		"REDIS_PREFIX=" + rdb.Prefix,
		// Denials are logged at debug level with the method and host the verifier
		// understood: the method tests read them (verifierSaw).
		"LOG_LEVEL=debug",
		"LOG_FORMAT=json",
		// The subcommands (user add) read the keys directory too.
		"ISSUER_KEYS=" + filepath.Join(dir, "keys"),
	}

	// The upstream application.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.upstreamAddr = ln.Addr().String()

	// Users first (this also creates the schema), then the issuer.
	for _, u := range []user{adminUser, plainUser} {
		args := []string{"user", "add", "--email", u.email, "--password-stdin"}
		for _, r := range u.roles {
			args = append(args, "--role", r)
		}
		cmd := exec.Command(bins.issuer, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), s.env...)
		cmd.Stdin = strings.NewReader(u.password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("issuer user add %s: %v\n%s", u.email, err, out)
		}
	}
	issuerPort := testenv.FreePort(t)
	issuerAddr := addr(issuerPort)
	s.issuerAddr = issuerAddr
	s.issuerURL = "http://" + net.JoinHostPort(host, strconv.Itoa(issuerPort))
	s.loginURL = s.issuerURL + "/login"
	s.issuerMetricsAddr = addr(testenv.FreePort(t))
	args := []string{"--listen", issuerAddr, "--issuer-url", s.issuerURL, "--keys", s.keysDir,
		"--allowed-redirect-hosts", redirectHost, "--metrics-listen", s.issuerMetricsAddr}
	if issuerArgs != nil {
		args = append(args, issuerArgs(s.issuerURL)...)
	}
	s.issuer = startProc(t, dir, "issuer", s.env, bins.issuer, args...)
	waitReady(t, s.issuer, s.issuerURL+"/readyz", 20*time.Second)

	s.verifierAddr = addr(testenv.FreePort(t))
	if pki != nil {
		verifierArgs = append(pki.args(), verifierArgs...)
	}
	s.verifier = startProc(t, dir, "verifier", s.env, bins.verifier, append([]string{
		"--listen", s.verifierAddr,
		"--jwks-url", s.issuerURL + "/.well-known/jwks.json",
		"--issuer", s.issuerURL,
		"--login-url", s.loginURL,
		"--allowed-redirect-hosts", redirectHost,
		"--max-staleness", "250ms"}, verifierArgs...)...)
	if pki != nil {
		waitReadyWith(t, pki.client(), s.verifier, "https://"+s.verifierAddr+"/readyz", 20*time.Second)
		return s
	}
	waitReady(t, s.verifier, "http://"+s.verifierAddr+"/readyz", 20*time.Second)
	return s
}

// tokenPair is the issuer's login answer.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// login signs u in at the issuer's API and returns the token pair.
func (s *stack) login(t testing.TB, u user) tokenPair {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": u.email, "password": u.password})
	resp, err := http.Post(s.issuerURL+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("login %s: %v", u.email, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %s: %s", u.email, resp.Status, b)
	}
	var tp tokenPair
	if err := json.Unmarshal(b, &tp); err != nil || tp.AccessToken == "" {
		t.Fatalf("login %s: bad answer %s (%v)", u.email, b, err)
	}
	return tp
}

// logout revokes the session of access at the issuer.
func (s *stack) logout(t testing.TB, access string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuerURL+"/v1/logout", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("logout: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("logout: %s: %s", resp.Status, b)
	}
}

// claims are the access-token claims the tests compare the identity headers with.
type claims struct {
	Sub   string   `json:"sub"`
	Sid   string   `json:"sid"`
	Email string   `json:"email"`
	Roles []string `json:"roles"`
	AMR   []string `json:"amr"`
}

// decodeClaims reads a JWT's payload without verifying it (the verifier does that).
func decodeClaims(t testing.TB, token string) claims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Sub == "" || c.Sid == "" {
		t.Fatalf("token without sub or sid: %s", b)
	}
	return c
}

// expiredCopy re-signs token's claims with the issuer's own signing key (from
// its keys directory), with exp, iat and nbf moved two hours into the past: a
// token that is correct in every way but its lifetime.
func (s *stack) expiredCopy(t testing.TB, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Alg, Kid string
	}
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Kid == "" {
		t.Fatalf("token header %s: %v", hb, err)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(pb, &payload); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour).Unix()
	payload["iat"], payload["nbf"], payload["exp"] = past-900, past-900, past
	pb, _ = json.Marshal(payload)
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(pb)

	pemBytes, err := os.ReadFile(filepath.Join(s.keysDir, hdr.Kid+".pem"))
	if err != nil {
		t.Fatalf("issuer key for kid %s: %v", hdr.Kid, err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("key %s.pem is not PEM", hdr.Kid)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signJWS(hdr.Alg, key, []byte(signing))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func signJWS(alg string, key any, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if alg != "ES256" {
			break
		}
		r, sv, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		sv.FillBytes(sig[32:])
		return sig, nil
	case ed25519.PrivateKey:
		if alg != "EdDSA" {
			break
		}
		return ed25519.Sign(k, data), nil
	case *rsa.PrivateKey:
		if alg != "RS256" {
			break
		}
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	}
	return nil, fmt.Errorf("cannot sign %s with a %T", alg, key)
}

// tamper flips one bit in the middle of the token's signature.
func tamper(token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitProxy polls url without credentials until the proxy answers 401: it is
// listening, has loaded its routes and reaches the verifier.
func waitProxy(t testing.TB, p *proc, url string, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if done, err := p.exited(); done {
			t.Fatalf("%s exited while starting (%v):\n%s", p.name, err, p.tail(40))
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s did not answer 401 within %v (last: %s):\n%s", p.name, url, timeout, last, p.tail(40))
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// verifierSaw returns the methods of the denied requests for host that the
// verifier logged (at debug level: the method and host it understood from the
// proxy's headers), in order.
func (s *stack) verifierSaw(t testing.TB, host string) []string {
	t.Helper()
	b, err := os.ReadFile(s.verifier.log)
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec struct {
			Host   string `json:"host"`
			Method string `json:"method"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			continue
		}
		if rec.Host == host && rec.Reason != "" {
			methods = append(methods, rec.Method)
		}
	}
	return methods
}
