package issue

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzLoginRequest: whatever the body and Content-Type, the login endpoint answers
// 200 with a token pair or a 4xx in the contract's error shape; never a 5xx, never a
// panic.
func FuzzLoginRequest(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"email":"fz@example.com","password":"fz-password"}`},
		{"application/json", `{"email":"fz@example.com","password":"wrong"}`},
		{"application/json; charset=utf-8", `{"email":"x","password":"y"}  `},
		{"application/json", `{"email":"fz@example.com","password":"fz-password"}{}`},
		{"application/json", `{"EMAIL":"fz@example.com","password":"fz-password"}`},
		{"application/json", `{"email":null,"password":["a"]}`},
		{"application/json", "\xff\xfe{}"},
		{"text/plain", `{}`},
		{"", ``},
	} {
		f.Add(seed.ct, seed.body)
	}
	e := newEnv(f, newMemStore(), func(c *Config, _ *Deps) { c.LoginRate = unthrottled })
	e.addUser("fz@example.com", "fz-password")
	f.Fuzz(func(t *testing.T, ct, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/login", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		e.svc.Handler().ServeHTTP(w, req)
		switch {
		case w.Code == http.StatusOK:
			var p TokenPair
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.AccessToken == "" {
				t.Fatalf("200 without a token pair: %s", w.Body)
			}
		case w.Code >= 400 && w.Code < 500:
			var b errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error == "" || b.Description == "" {
				t.Fatalf("%d without the error shape: %s", w.Code, w.Body)
			}
		default:
			t.Fatalf("status %d for Content-Type %q body %q: %s", w.Code, ct, body, w.Body)
		}
	})
}

// FuzzVerifyAccessToken: arbitrary strings never verify (nor panic); a token that does
// verify names a session and a subject.
func FuzzVerifyAccessToken(f *testing.F) {
	e := newEnv(f, newMemStore(), nil)
	m, err := e.svc.mint("sid", "uid", "f@example.com", nil, e.clock.Now(), tokenExtras{AMR: []string{"pwd"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{m.access, tamper(m.access), "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		"eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJIUzI1NiJ9.e30.AAAA", strings.Repeat("A", 100)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := e.svc.VerifyAccessToken(tok, true)
		if err != nil {
			return
		}
		// Only our token verifies: the same three segments (base64url may spell the
		// same bytes in more than one way; the bytes must be ours).
		got, want := strings.Split(tok, "."), strings.Split(m.access, ".")
		if len(got) != 3 {
			t.Fatalf("accepted %q", tok)
		}
		for i := range 3 {
			g, err1 := b64url.DecodeString(got[i])
			w, err2 := b64url.DecodeString(want[i])
			if err1 != nil || err2 != nil || string(g) != string(w) {
				t.Fatalf("accepted a token we did not mint: %q → %+v", tok, c)
			}
		}
		if c.SessionID == "" || c.Subject == "" {
			t.Fatalf("accepted without sid/sub: %+v", c)
		}
	})
}

// FuzzClientIP: any X-Forwarded-For yields a valid address: the peer's, or one taken
// from the header when the peer is trusted.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []string{"", "1.2.3.4", "1.2.3.4, 10.0.0.1", "junk", ",,,", "[::1]:80", "::ffff:1.2.3.4", "1.2.3.4:5"} {
		f.Add("127.0.0.1:1000", seed)
		f.Add("198.51.100.1:1000", seed)
	}
	e := newEnv(f, newMemStore(), nil)
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := e.svc.clientIP(r)
		peer, err := netip.ParseAddrPort(remote)
		if err != nil {
			return // an unparseable peer yields the zero Addr or a bare address; nothing to assert
		}
		if !got.IsValid() {
			t.Fatalf("invalid client address for peer %s, XFF %q", remote, xff)
		}
		if !e.svc.isTrusted(peer.Addr().Unmap()) && got != peer.Addr().Unmap() {
			t.Fatalf("untrusted peer %s: client %s taken from XFF %q", remote, got, xff)
		}
	})
}

// FuzzPasskeyAnswer: whatever the browser posts as the answer to a passkey sign-in
// or registration, the issuer refuses it with ErrPasskeyRefused (or ErrInvalidRequest
// for the name); never another error, a session, a passkey or a panic. The seeds
// include real answers (their ceremonies are used up by then).
func FuzzPasskeyAnswer(f *testing.F) {
	e := newEnv(f, sqliteStore(f), func(c *Config, _ *Deps) { c.LoginRate = unthrottled })
	id := e.addUser("fzpk@example.com", "fzpk password")
	p := e.login("fzpk@example.com", "fzpk password")
	k := newSoftKey(f, pkRPID, pkOrigin)
	c := e.claims(p)
	opts, err := e.svc.BeginPasskeyRegistration(f.Context(), c)
	if err != nil {
		f.Fatal(err)
	}
	reg := k.register(opts)
	if _, err := e.svc.FinishPasskeyRegistration(f.Context(), c, "key", reg, pkIP); err != nil {
		f.Fatal(err)
	}
	f.Add(reg, false)
	opts, _ = e.svc.BeginPasskeyLogin(f.Context(), pkIP)
	good := k.assert(opts)
	if _, err := e.svc.FinishPasskeyLogin(f.Context(), PasskeyLoginRequest{Response: good, ClientIP: pkIP}); err != nil {
		f.Fatal(err)
	}
	f.Add(good, true)
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{}}`), true)
	f.Add([]byte(`{"response":{"clientDataJSON":"e30"}}`), false)
	f.Add([]byte("\xff"), true)
	f.Fuzz(func(t *testing.T, answer []byte, login bool) {
		if login {
			if _, err := e.svc.FinishPasskeyLogin(t.Context(), PasskeyLoginRequest{Response: answer, ClientIP: pkIP}); !errors.Is(err, ErrPasskeyRefused) {
				t.Fatalf("sign-in answer %q: %v", answer, err)
			}
			return
		}
		if _, err := e.svc.FinishPasskeyRegistration(t.Context(), c, "fuzzed", answer, pkIP); !errors.Is(err, ErrPasskeyRefused) {
			t.Fatalf("registration answer %q: %v", answer, err)
		}
		if list, _ := e.svc.Passkeys(t.Context(), id); len(list) != 1 {
			t.Fatalf("%d passkeys after a fuzzed registration", len(list))
		}
	})
}
