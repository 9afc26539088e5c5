package issue

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzBackchannelLogout: whatever the body of a back-channel logout, the answer is
// 200 or a 4xx in the contract's error shape, never a 5xx or a panic, and a body
// that is not a token signed by the provider ends no session.
func FuzzBackchannelLogout(f *testing.F) {
	e, r := fedHostileEnv(f, nil)
	r.next = func(n string) string { return sign(f, r.key, r.claims(n)) }
	if w := e.rogueFlow(r, nil, true); w.Code != http.StatusSeeOther {
		f.Fatalf("callback: %d", w.Code)
	}
	u, err := e.store.UserByEmail(f.Context(), "mallory@example.com")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": r.srv.URL, "aud": rogueClient, "iat": now, "exp": now + 3600,
			"jti": randomName(), "sid": "rsid-1", "sub": "rogue-sub-1",
			"events": map[string]any{backchannelEvent: map[string]any{}}}
		mod(c)
		return c
	}
	form := "application/x-www-form-urlencoded"
	for _, tok := range []string{
		sign(f, r.key, claims(func(c map[string]any) { c["sid"] = "rsid-other" })), // good, another session
		sign(f, r.key, claims(func(c map[string]any) { c["nonce"] = "n" })),
		sign(f, r.other, claims(func(map[string]any) {})), // a key not in the JWKS
		sign(f, nil, claims(func(map[string]any) {})),     // alg none
		"garbage", "", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..",
	} {
		f.Add(form, "logout_token="+url.QueryEscape(tok))
	}
	f.Add("application/json", `{"logout_token":"x"}`)
	f.Add(form, "logout_token=a&logout_token=b")
	f.Add(form, "%zz")
	f.Fuzz(func(t *testing.T, ct, body string) {
		req := httptest.NewRequest(http.MethodPost, "/oidc/rogue/backchannel-logout", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		e.svc.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("status %d for %q %q: %s", w.Code, ct, body, w.Body)
		}
		l, err := e.store.ListSessions(t.Context(), u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 {
			t.Fatalf("body %q ended the session (%d live)", body, len(l))
		}
	})
}

// FuzzFederatedCallback: a callback with any query and any flow cookie but the pair
// the issuer handed out is refused with 4xx: never a session, never a 5xx.
func FuzzFederatedCallback(f *testing.F) {
	e, r := fedHostileEnv(f, nil)
	r.next = func(n string) string { return sign(f, r.key, r.claims(n)) }
	start := e.do(request{method: http.MethodGet, path: "/oidc/rogue/start?rd=/"})
	if start.Code != http.StatusFound {
		f.Fatalf("start: %d", start.Code)
	}
	loc, _ := url.Parse(start.Header().Get("Location"))
	state := loc.Query().Get("state")
	r.mu.Lock()
	r.nonce = loc.Query().Get("nonce")
	r.mu.Unlock()
	var cookie *http.Cookie
	for _, c := range start.Result().Cookies() {
		cookie = c
	}
	if cookie == nil {
		f.Fatal("start set no flow cookie")
	}
	f.Add("code=c&state="+url.QueryEscape(state+"x"), cookie.Value)
	f.Add("code=c&state="+url.QueryEscape(state), cookie.Value[:len(cookie.Value)-2])
	f.Add("code=c&state="+url.QueryEscape(state), "")
	f.Add("error=access_denied&state="+url.QueryEscape(state), cookie.Value)
	f.Add("state=&code=", "")
	f.Add("code=c&state=%zz", "x")
	f.Fuzz(func(t *testing.T, query, value string) {
		if query == "code=c&state="+url.QueryEscape(state) && value == cookie.Value {
			t.Skip("the pair the issuer handed out")
		}
		req := httptest.NewRequest(http.MethodGet, "/oidc/rogue/callback", nil)
		req.URL.RawQuery = query
		if value != "" {
			req.AddCookie(&http.Cookie{Name: cookie.Name, Value: value})
		}
		w := httptest.NewRecorder()
		e.svc.Handler().ServeHTTP(w, req)
		if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("status %d for %q cookie %q", w.Code, query, value)
		}
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 && c.Value != "" && c.Name != cookie.Name {
				t.Fatalf("cookie %s set for %q cookie %q", c.Name, query, value)
			}
		}
	})
}
