package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// Rotation test timings: short, so that the test sees several rotations and a
// retirement. The issuer's leeway (30 s) keeps a retired key in the JWKS longest.
const (
	rotEvery      = 3 * time.Second
	rotPrepublish = time.Second
	rotRescan     = 250 * time.Millisecond
	rotAccessTTL  = 2 * time.Second
	rotJWKSEvery  = 250 * time.Millisecond // the verifiers' --jwks-refresh
)

// TestKeyRotationTwoIssuers runs two issuer processes on one PostgreSQL database and
// one keys directory behind one URL (a round-robin proxy: a refresh or a logout lands
// on either), with scheduled rotation every 3s and a 1s prepublish, and two verifiers
// that loaded the JWKS before the first rotation. Tokens are minted continuously
// (logins and refreshes) and decided at once by both verifiers, and each worker's
// pinned token is decided again until it expires, across the rotations. Required:
// no valid token refused; every key in the JWKS at least ~the prepublish before its
// first token; one key per rotation (not one per replica); the two issuers' JWKS
// equal within a bounded delay; the first key leaves the JWKS once no token it
// signed can be live.
func TestKeyRotationTwoIssuers(t *testing.T) {
	testenv.Integration(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	rdb := testenv.SharedRedis(t)
	env := []string{
		"DATABASE_URL=" + testenv.PostgresURL(t),
		"REDIS_URL=" + rdb.URL,
		"REDIS_PREFIX=" + rdb.Prefix,
		"ISSUER_KEYS=" + keys,
		"LOG_FORMAT=json",
	}
	cmd := exec.Command(bins.issuer, "user", "add", "--email", adminUser.email, "--password-stdin")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(adminUser.password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("issuer user add: %v\n%s", err, out)
	}

	// One URL in front of both issuers, round robin.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lbURL := "http://" + ln.Addr().String()
	var backends []*url.URL
	var issuers []*proc
	for i := range 2 {
		a := addr(testenv.FreePort(t))
		u, _ := url.Parse("http://" + a)
		backends = append(backends, u)
		p := startProc(t, dir, fmt.Sprintf("issuer%d", i+1), env, bins.issuer,
			"--listen", a, "--issuer-url", lbURL, "--metrics-listen", addr(testenv.FreePort(t)),
			"--key-rotation", rotEvery.String(), "--key-prepublish", rotPrepublish.String(),
			"--key-rescan", rotRescan.String(), "--access-ttl", rotAccessTTL.String(),
			"--login-rate-ip", "100000/1m", "--refresh-rate-ip", "100000/1m")
		waitReady(t, p, u.String()+"/readyz", 20*time.Second)
		issuers = append(issuers, p)
	}
	var rr atomic.Uint64
	lb := &http.Server{Handler: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(backends[rr.Add(1)%2])
		r.Out.Host = r.In.Host
	}}, ReadHeaderTimeout: 5 * time.Second}
	go lb.Serve(ln)
	t.Cleanup(func() { lb.Close() })

	// The verifiers go without Redis: a token whose claims the issuer wrote to Redis
	// is allowed from there without a signature check, which would hide a key the
	// verifier lacks. Here every decision checks the signature against the JWKS.
	venv := []string{env[0], "LOG_FORMAT=json", "REDIS_URL="}
	var verifiers []string
	for i := range 2 {
		a := addr(testenv.FreePort(t))
		p := startProc(t, dir, fmt.Sprintf("verifier%d", i+1), venv, bins.verifier,
			"--listen", a, "--jwks-url", lbURL+"/.well-known/jwks.json", "--issuer", lbURL,
			"--jwks-refresh", rotJWKSEvery.String(), "--max-staleness", "250ms")
		waitReady(t, p, "http://"+a+"/readyz", 20*time.Second)
		verifiers = append(verifiers, "http://"+a+"/auth")
	}

	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	w := &rotationWatch{client: client, issuers: backends, firstSeen: map[string]time.Time{}, gone: map[string]time.Time{},
		start: start, done: make(chan struct{})}
	w.stopped.Add(1)
	go w.run()
	defer w.stop()

	// The load: 4 workers, each a login then refreshes, a logout every 15 rounds.
	var (
		mu        sync.Mutex
		firstUse  = map[string]time.Time{} // kid → the first token it signed, as the client got it
		lastUse   = map[string]time.Time{} // kid → the last one
		minted    atomic.Int64
		decisions atomic.Int64
		refused   atomic.Int64
		failures  []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("%v: ", time.Since(start).Round(time.Millisecond))+fmt.Sprintf(format, args...))
		}
	}
	api := func(path, bearer string, body any) (int, tokenPair) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(http.MethodPost, lbURL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			fail("POST %s: %v", path, err)
			return 0, tokenPair{}
		}
		defer resp.Body.Close()
		var tp tokenPair
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		_ = json.Unmarshal(b, &tp)
		if tp.AccessToken != "" {
			minted.Add(1)
			kid, _ := tokenKID(tp.AccessToken)
			mu.Lock()
			if _, ok := firstUse[kid]; !ok {
				firstUse[kid] = time.Now()
			}
			lastUse[kid] = time.Now()
			mu.Unlock()
		}
		return resp.StatusCode, tp
	}
	decide := func(token, what string) {
		for _, v := range verifiers {
			req, _ := http.NewRequest(http.MethodGet, v, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				fail("%s at %s: %v", what, v, err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			decisions.Add(1)
			if resp.StatusCode != http.StatusOK {
				refused.Add(1)
				kid, _ := tokenKID(token)
				fail("%s (kid %s) at %s: %d", what, kid, v, resp.StatusCode)
			}
		}
	}
	login := func() tokenPair {
		code, tp := api("/v1/login", "", map[string]string{"email": adminUser.email, "password": adminUser.password})
		if code != http.StatusOK {
			fail("login: %d", code)
		}
		return tp
	}
	var stopLoad atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pinned, pinnedAt := login(), time.Now()
			cur := login()
			for round := 1; !stopLoad.Load(); round++ {
				if cur.RefreshToken == "" {
					cur = login()
					continue
				}
				decide(cur.AccessToken, "fresh token")
				// The pinned token is decided until shortly before it expires, across
				// the rotations that happen meanwhile.
				if time.Since(pinnedAt) < rotAccessTTL-300*time.Millisecond {
					decide(pinned.AccessToken, "pinned token")
				} else {
					pinned, pinnedAt = login(), time.Now()
				}
				if round%15 == 0 {
					// Logout on one issuer, the refresh on the other (round robin):
					// the session is over on both.
					if code, _ := api("/v1/logout", "", map[string]string{"refresh_token": cur.RefreshToken}); code != http.StatusNoContent {
						fail("logout: %d", code)
					}
					if code, _ := api("/v1/refresh", "", map[string]string{"refresh_token": cur.RefreshToken}); code != http.StatusUnauthorized {
						fail("refresh after logout: %d, want 401", code)
					}
					cur = login()
					continue
				}
				code, next := api("/v1/refresh", "", map[string]string{"refresh_token": cur.RefreshToken})
				if code != http.StatusOK {
					fail("refresh: %d", code)
				}
				cur = next
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	// Run until the first key has left both JWKS (it signed until the second key
	// took over, ~3s in; then access TTL + rescan + leeway), at most 70s.
	first := w.firstKid()
	deadline := time.Now().Add(70 * time.Second)
	for time.Now().Before(deadline) && !w.isGone(first) {
		time.Sleep(100 * time.Millisecond)
	}
	stopLoad.Store(true)
	wg.Wait()
	w.stop()
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	for _, f := range failures {
		t.Error(f)
	}
	if !w.isGone(first) {
		t.Errorf("the first key %s is still in the JWKS after %v", first, elapsed)
	} else if expired := lastUse[first].Add(rotAccessTTL); w.gone[first].Before(expired) {
		t.Errorf("the first key left the JWKS at %v, before its last token expired (%v)", w.gone[first].Sub(start), expired.Sub(start))
	}
	// One key per rotation, not one per replica: each key signs for the rotation
	// period, so keys are made rotation apart (the first, which signed at once,
	// rotation - prepublish before the second).
	files, _ := filepath.Glob(filepath.Join(keys, "*.pem"))
	var kids []string
	for _, f := range files {
		kids = append(kids, strings.TrimSuffix(filepath.Base(f), ".pem"))
	}
	sort.Strings(kids)
	for i := 1; i < len(kids); i++ {
		a, _ := time.Parse("20060102T150405.000000000Z", kids[i-1][:15]+"."+kids[i-1][15:24]+"Z")
		b, _ := time.Parse("20060102T150405.000000000Z", kids[i][:15]+"."+kids[i][15:24]+"Z")
		want := rotEvery
		if i == 1 {
			want -= rotPrepublish
		}
		if gap := b.Sub(a); gap < want-300*time.Millisecond || gap > want+rotRescan+500*time.Millisecond {
			t.Errorf("keys %s and %s made %v apart, want ~%v", kids[i-1], kids[i], gap, want)
		}
	}
	// Every key was in a JWKS at least ~the prepublish before its first token.
	minLead := time.Duration(1 << 62)
	used := 0
	for kid, at := range firstUse {
		seen, ok := w.seenAt(kid)
		if !ok {
			t.Errorf("kid %s signed a token but never appeared in a JWKS", kid)
			continue
		}
		if kid == first {
			continue // the first key signs from the start
		}
		used++
		minLead = min(minLead, at.Sub(seen))
	}
	if used < 3 {
		t.Errorf("%d rotated keys signed tokens, want at least 3 rotations", used)
	}
	if minLead < rotPrepublish-rotRescan-100*time.Millisecond {
		t.Errorf("a key was in the JWKS only %v before its first token (prepublish %v)", minLead, rotPrepublish)
	}
	t.Logf("key rotation, 2 issuers + 2 verifiers, rotation %v, prepublish %v, access TTL %v, verifier --jwks-refresh %v, for %v:",
		rotEvery, rotPrepublish, rotAccessTTL, rotJWKSEvery, elapsed.Round(time.Millisecond))
	t.Logf("  %d tokens minted, %d decisions, %d refused (valid tokens); %d key files (%d rotated keys signed tokens)",
		minted.Load(), decisions.Load(), refused.Load(), len(kids), used)
	t.Logf("  shortest time a key was in the JWKS before its first token: %v", minLead.Round(time.Millisecond))
	t.Logf("  the two issuers' JWKS differed %d times, longest %v (polled every %v)", w.diffs, w.maxDiff.Round(time.Millisecond), rotPoll)
	t.Logf("  first key %s: last token %v after the start, expired %v later, key left the JWKS at %v (issuer leeway 30s)", first,
		lastUse[first].Sub(start).Round(time.Millisecond), rotAccessTTL, w.gone[first].Sub(start).Round(time.Millisecond))
}

const rotPoll = 10 * time.Millisecond

// rotationWatch polls both issuers' JWKS directly: when each kid first appeared,
// when it left both, and how long the two differed.
type rotationWatch struct {
	client  *http.Client
	issuers []*url.URL
	start   time.Time

	mu        sync.Mutex
	firstSeen map[string]time.Time
	gone      map[string]time.Time
	first     string
	diffs     int
	maxDiff   time.Duration
	done      chan struct{}
	stopOnce  sync.Once
	stopped   sync.WaitGroup
}

func (w *rotationWatch) run() {
	defer w.stopped.Done()
	var differSince time.Time
	for {
		select {
		case <-w.done:
			return
		case <-time.After(rotPoll):
		}
		var sets [][]string
		for _, u := range w.issuers {
			kids, err := w.fetch(u.String() + "/.well-known/jwks.json")
			if err != nil {
				continue
			}
			sets = append(sets, kids)
		}
		if len(sets) != 2 {
			continue
		}
		now := time.Now()
		w.mu.Lock()
		for _, s := range sets {
			for _, kid := range s {
				if _, ok := w.firstSeen[kid]; !ok {
					w.firstSeen[kid] = now
					if w.first == "" {
						w.first = kid
					}
				}
			}
		}
		for kid := range w.firstSeen {
			if _, ok := w.gone[kid]; !ok && !slices.Contains(sets[0], kid) && !slices.Contains(sets[1], kid) {
				w.gone[kid] = now
			}
		}
		if !slices.Equal(sets[0], sets[1]) {
			if differSince.IsZero() {
				differSince = now
				w.diffs++
			}
			w.maxDiff = max(w.maxDiff, now.Sub(differSince))
		} else {
			differSince = time.Time{}
		}
		w.mu.Unlock()
	}
}

func (w *rotationWatch) fetch(u string) ([]string, error) {
	resp, err := w.client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	sort.Strings(kids)
	return kids, nil
}

func (w *rotationWatch) stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		w.stopped.Wait()
	})
}

func (w *rotationWatch) firstKid() string {
	for range 200 {
		w.mu.Lock()
		k := w.first
		w.mu.Unlock()
		if k != "" {
			return k
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ""
}

func (w *rotationWatch) isGone(kid string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.gone[kid]
	return ok
}

func (w *rotationWatch) seenAt(kid string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.firstSeen[kid]
	return at, ok
}

// tokenKID is the kid of a compact JWS's protected header.
func tokenKID(token string) (string, error) {
	h, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", err
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	err = json.Unmarshal(b, &hdr)
	return hdr.Kid, err
}
