package chaos

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	mrand "math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vexen/vexen-auth/internal/echo"
)

// recorder collects the history.
type recorder struct {
	mu  sync.Mutex
	ops []Op
}

func (r *recorder) add(o Op) {
	r.mu.Lock()
	o.Seq = len(r.ops) + 1
	r.ops = append(r.ops, o)
	r.mu.Unlock()
}

func (r *recorder) history() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// session is what the workload knows of one session, from the issuer's answers.
type session struct {
	sid, sub  string
	access    string
	exp       time.Time
	older     []string // earlier access tokens of the session (still its own)
	refresh   string
	used      []usedRefresh
	revokedAt time.Time // a revocation answered success
	uncertain bool      // a call that may have changed it went unanswered
}

type usedRefresh struct {
	token string
	at    time.Time
}

func (s *session) class(now time.Time) Class {
	switch {
	case s.uncertain:
		return Uncertain
	case !s.revokedAt.IsZero():
		return Revoked
	}
	return Live
}

// account is one simulated user.
type account struct {
	email    string
	sessions []*session
}

const password = "chaos horse battery staple"

// workload drives the users.
type workload struct {
	c    *cluster
	rec  *recorder
	hc   *http.Client
	seed int64

	mu    sync.Mutex
	all   []*session // every session ever opened, for the final checks
	nUser int
}

func newWorkload(c *cluster, seed int64) *workload {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	return &workload{c: c, rec: &recorder{}, seed: seed, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// newAccount adds a user with `issuer user add`.
func (w *workload) newAccount() (*account, error) {
	w.mu.Lock()
	w.nUser++
	email := fmt.Sprintf("user%d@chaos.test", w.nUser)
	w.mu.Unlock()
	if out, err := w.c.cliIn(password+"\n", "user", "add", "--email", email, "--password-stdin"); err != nil {
		return nil, fmt.Errorf("user add %s: %v: %s", email, err, out)
	}
	return &account{email: email}, nil
}

// call does one HTTP request and records it.
type answer struct {
	status int
	err    string
	body   []byte
	header http.Header
}

func (w *workload) do(req *http.Request) answer {
	resp, err := w.hc.Do(req)
	if err != nil {
		return answer{err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{err: err.Error()}
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header}
}

// issuer sends an API request to the issuers through nginx.
func (w *workload) issuer(path, bearer string, body any) answer {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+w.c.nginxAddr+path, r)
	req.Host = "auth.example.com"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return w.do(req)
}

type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

type claims struct {
	Sub string `json:"sub"`
	Sid string `json:"sid"`
	Exp int64  `json:"exp"`
}

func decode(token string) (claims, error) {
	var c claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("not a JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(b, &c)
	return c, err
}

func (w *workload) login(a *account, kind string) *session {
	o := Op{Kind: kind, User: a.email, Via: "issuer", Class: Live, Start: time.Now()}
	ans := w.issuer("/v1/login", "", map[string]string{"email": a.email, "password": password})
	o.End, o.Status, o.Err = time.Now(), ans.status, ans.err
	var s *session
	if ans.status == 200 {
		var p pair
		if err := json.Unmarshal(ans.body, &p); err == nil {
			if c, err := decode(p.AccessToken); err == nil {
				s = &session{sid: c.Sid, sub: c.Sub, access: p.AccessToken, exp: time.Unix(c.Exp, 0), refresh: p.RefreshToken}
				o.Sid = c.Sid
			}
		}
		if s == nil {
			o.Status, o.Err = 0, "unreadable token pair: "+string(ans.body)
		}
	}
	w.rec.add(o)
	if s != nil && kind == "login" {
		a.sessions = append(a.sessions, s)
		w.mu.Lock()
		w.all = append(w.all, s)
		w.mu.Unlock()
	}
	return s
}

// use sends token for s (nil: a token of no session) through nginx or to one
// verifier directly, and records what came back.
func (w *workload) use(rng *mrand.Rand, a *account, s *session, token string, class Class, exp time.Time) {
	via := "nginx"
	if n := rng.Intn(10); n < 4 {
		via = fmt.Sprintf("verifier-%d", n%3+1)
	}
	w.useVia(via, a, s, token, class, exp)
}

func (w *workload) useVia(via string, a *account, s *session, token string, class Class, exp time.Time) {
	o := Op{Kind: "use", User: a.email, Class: class, Exp: exp, Via: via}
	if s != nil {
		o.Sid = s.sid
		o.RevokedAt = s.revokedAt
		o.Want = s.sub + "/" + s.sid
	}
	path := fmt.Sprintf("/app/%s/page?n=%d", strings.SplitN(a.email, "@", 2)[0], time.Now().UnixNano()%1000)
	var req *http.Request
	if via == "nginx" {
		req, _ = http.NewRequest(http.MethodGet, "http://"+w.c.nginxAddr+path, nil)
		req.Host = appHost
	} else {
		var i int
		fmt.Sscanf(via, "verifier-%d", &i)
		req, _ = http.NewRequest(http.MethodGet, "http://"+w.c.verifierAddrs[i-1]+"/auth", nil)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", path)
		req.Header.Set("X-Original-Host", appHost)
		req.Header.Set("X-Forwarded-Proto", "http")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	o.Start = time.Now()
	ans := w.do(req)
	o.End, o.Status, o.Err = time.Now(), ans.status, ans.err
	if ans.status >= 200 && ans.status < 300 {
		if via == "nginx" {
			if r, err := echo.Decode(bytes.NewReader(ans.body)); err == nil {
				o.Identity = r.Header.Get("X-Auth-User") + "/" + r.Header.Get("X-Auth-Session")
			} else {
				o.Identity = fmt.Sprintf("the application was not reached: %q", ans.body[:min(len(ans.body), 200)])
			}
		} else {
			o.Identity = ans.header.Get("X-Auth-User") + "/" + ans.header.Get("X-Auth-Session")
		}
	}
	w.rec.add(o)
}

// revoked marks s revoked at t (the earliest success counts).
func revoked(s *session, t time.Time) {
	if s.revokedAt.IsZero() {
		s.revokedAt = t
	}
}

// run is one user's life until ctx ends.
func (w *workload) run(ctx context.Context, id int, a *account) {
	rng := mrand.New(mrand.NewSource(w.seed + int64(id)*7919))
	for ctx.Err() == nil {
		time.Sleep(time.Duration(20+rng.Intn(80)) * time.Millisecond)
		live := a.live()
		if len(live) == 0 || (len(live) < 3 && rng.Intn(20) == 0) {
			w.login(a, "login")
			continue
		}
		s := live[rng.Intn(len(live))]
		now := time.Now()
		switch r := rng.Intn(1000); {
		case r < 500: // use the current or an older token of a session
			t := s
			if rng.Intn(5) == 0 && len(a.sessions) > 0 {
				t = a.sessions[rng.Intn(len(a.sessions))]
			}
			token, exp := t.access, t.exp
			if len(t.older) > 0 && rng.Intn(4) == 0 {
				token = t.older[rng.Intn(len(t.older))]
				c, _ := decode(token)
				exp = time.Unix(c.Exp, 0)
			}
			class := t.class(now)
			if class == Live && now.After(exp) {
				class = Expired
			}
			w.use(rng, a, t, token, class, exp)
		case r < 600: // refresh (a token close to exp is refreshed first)
			w.refresh(a, s)
		case r < 630: // replay a refresh token used more than the grace ago
			for _, u := range s.used {
				if now.Sub(u.at) > grace+time.Second {
					w.replay(rng, a, s, u.token)
					break
				}
			}
		case r < 680: // log out, then try the token again at once
			w.logout(rng, a, s)
		case r < 695: // log out everywhere
			w.logoutAll(rng, a, s)
		case r < 700: // disabled by an administrator; the user is replaced
			if w.disable(rng, a) {
				b, err := w.newAccount()
				for err != nil && ctx.Err() == nil {
					time.Sleep(500 * time.Millisecond)
					b, err = w.newAccount()
				}
				if err != nil {
					return
				}
				a = b
			}
		case r < 800:
			token, class := forge(rng, s.access)
			w.use(rng, a, nil, token, class, time.Time{})
		case r < 850:
			token, err := w.expiredCopy(s.access)
			if err != nil {
				continue
			}
			c, _ := decode(token)
			w.use(rng, a, nil, token, Expired, time.Unix(c.Exp, 0))
		case r < 870:
			w.use(rng, a, nil, "", NoToken, time.Time{})
		default:
			class := s.class(now)
			if now.After(s.exp) {
				class = Expired
			}
			w.use(rng, a, s, s.access, class, s.exp)
		}
		if time.Until(s.exp) < 5*time.Second && s.class(time.Now()) == Live {
			w.refresh(a, s)
		}
	}
}

// live returns the sessions the user may still act on.
func (a *account) live() []*session {
	var l []*session
	for _, s := range a.sessions {
		if s.revokedAt.IsZero() && !s.uncertain {
			l = append(l, s)
		}
	}
	return l
}

func (w *workload) refresh(a *account, s *session) {
	o := Op{Kind: "refresh", User: a.email, Sid: s.sid, Class: s.class(time.Now()), Via: "issuer", Start: time.Now()}
	ans := w.issuer("/v1/refresh", "", map[string]string{"refresh_token": s.refresh})
	o.End, o.Status, o.Err = time.Now(), ans.status, ans.err
	switch {
	case ans.status == 200:
		var p pair
		c, err := claims{}, json.Unmarshal(ans.body, &p)
		if err == nil {
			c, err = decode(p.AccessToken)
		}
		if err != nil || c.Sid != s.sid {
			o.Status, o.Err = 0, fmt.Sprintf("refresh answered a pair of another session or unreadable (%v)", err)
			s.uncertain = true
			break
		}
		s.used = append(s.used, usedRefresh{s.refresh, o.End})
		s.older = append(s.older, s.access)
		s.access, s.refresh, s.exp = p.AccessToken, p.RefreshToken, time.Unix(c.Exp, 0)
	case ans.status == 401 && o.Class == Live:
		// A violation (the checker says so); the session is lost to the workload.
		s.uncertain = true
	default:
		s.uncertain = true // rotated or not: unknown
	}
	w.rec.add(o)
}

func (w *workload) replay(rng *mrand.Rand, a *account, s *session, token string) {
	o := Op{Kind: "replay", User: a.email, Sid: s.sid, Via: "issuer", Start: time.Now()}
	ans := w.issuer("/v1/refresh", "", map[string]string{"refresh_token": token})
	o.End, o.Status, o.Err = time.Now(), ans.status, ans.err
	w.rec.add(o)
	switch {
	case ans.status == 401:
		revoked(s, o.End) // reuse detection revoked the session
		w.use(rng, a, s, s.access, s.class(time.Now()), s.exp)
	default:
		s.uncertain = true
	}
}

func (w *workload) logout(rng *mrand.Rand, a *account, s *session) {
	o := Op{Kind: "logout", User: a.email, Sid: s.sid, Class: Live, Via: "issuer", Start: time.Now()}
	var ans answer
	if rng.Intn(2) == 0 || time.Until(s.exp) < 2*time.Second {
		ans = w.issuer("/v1/logout", "", map[string]string{"refresh_token": s.refresh})
	} else {
		ans = w.issuer("/v1/logout", s.access, nil)
	}
	o.End, o.Status, o.Err = time.Now(), ans.status, ans.err
	w.rec.add(o)
	if ans.status == 204 {
		revoked(s, o.End)
	} else {
		s.uncertain = true
	}
	for i := rng.Intn(3); i >= 0; i-- {
		w.use(rng, a, s, s.access, s.class(time.Now()), s.exp)
	}
}

func (w *workload) logoutAll(rng *mrand.Rand, a *account, s *session) {
	o := Op{Kind: "logout-all", User: a.email, Sid: s.sid, Class: Live, Via: "issuer", Start: time.Now()}
	if time.Until(s.exp) < 2*time.Second {
		return
	}
	ans := w.issuer("/v1/logout-all", s.access, nil)
	o.End, o.Status, o.Err = time.Now(), ans.status, ans.err
	w.rec.add(o)
	for _, x := range a.sessions {
		if ans.status == 204 {
			revoked(x, o.End)
		} else if x.revokedAt.IsZero() {
			x.uncertain = true
		}
	}
	for _, x := range a.sessions {
		if time.Now().Before(x.exp) && rng.Intn(2) == 0 {
			w.use(rng, a, x, x.access, x.class(time.Now()), x.exp)
		}
	}
}

// disable runs `issuer user disable`; it reports whether the account is done for.
func (w *workload) disable(rng *mrand.Rand, a *account) bool {
	o := Op{Kind: "disable", User: a.email, Class: Live, Via: "cli", Start: time.Now()}
	out, err := w.c.cli("user", "disable", "--email", a.email)
	o.End = time.Now()
	if err != nil {
		o.Err = fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	w.rec.add(o)
	for _, x := range a.sessions {
		if err == nil {
			revoked(x, o.End)
		} else if x.revokedAt.IsZero() {
			x.uncertain = true
		}
	}
	for _, x := range a.sessions {
		if time.Now().Before(x.exp) {
			w.use(rng, a, x, x.access, x.class(time.Now()), x.exp)
		}
	}
	if err == nil {
		w.login(a, "login-disabled")
	}
	return true
}

// forge returns a token that no issuer signed, made from a real one.
func forge(rng *mrand.Rand, token string) (string, Class) {
	parts := strings.Split(token, ".")
	switch rng.Intn(4) {
	case 0: // one bit of the signature flipped
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if len(sig) > 0 {
			sig[rng.Intn(len(sig))] ^= 1 << uint(rng.Intn(8))
		}
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig), Forged
	case 1: // alg none
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
		return h + "." + parts[1] + ".", Forged
	case 2: // claims changed (another user), signature kept
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m["sub"] = "someone-else"
		b, _ = json.Marshal(m)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2], Forged
	default: // signed by a key of our own, under the issuer's kid
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		signing := parts[0] + "." + parts[1]
		sig, err := signES256(key, []byte(signing))
		if err != nil {
			return "x", Forged
		}
		return signing + "." + base64.RawURLEncoding.EncodeToString(sig), Forged
	}
}

func signES256(key *ecdsa.PrivateKey, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

// expiredCopy re-signs token's claims with the issuer's own key (from the keys
// directory) with its whole lifetime moved an hour into the past.
func (w *workload) expiredCopy(token string) (string, error) {
	parts := strings.Split(token, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg != "ES256" {
		return "", fmt.Errorf("header %s: %v", hb, err)
	}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err := json.Unmarshal(pb, &m); err != nil {
		return "", err
	}
	exp := time.Now().Add(-time.Hour).Unix()
	m["exp"], m["iat"], m["nbf"] = exp, exp-int64(accessTTL/time.Second), exp-int64(accessTTL/time.Second)
	pb, _ = json.Marshal(m)
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(pb)
	pemBytes, err := os.ReadFile(filepath.Join(w.c.keysDir, hdr.Kid+".pem"))
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", fmt.Errorf("%s.pem: not PEM", hdr.Kid)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return "", fmt.Errorf("not an ECDSA key")
	}
	sig, err := signES256(ek, []byte(signing))
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
