package issue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/vexen/vexen-auth/pkg/store"
)

// rogue is a provider under the test's full control: discovery, JWKS and a token
// endpoint answering whatever ID token the test makes, so that every check of an ID
// token and a logout token is exercised against a token built to fail just that check.
// (The happy path runs against the real ORY Hydra: federate_test.go.)
type rogue struct {
	srv   *httptest.Server
	key   jwk.Key // the published signing key
	other jwk.Key // a key not in the JWKS
	mu    sync.Mutex
	next  func(nonce string) string // the ID token the token endpoint answers
	nonce string                    // the nonce of the last authorization request
}

func newKey(t testing.TB, kid string) jwk.Key {
	t.Helper()
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(pk)
	if err != nil {
		t.Fatal(err)
	}
	k.Set(jwk.KeyIDKey, kid)
	k.Set(jwk.AlgorithmKey, jwa.ES256)
	return k
}

func newRogue(t testing.TB) *rogue {
	r := &rogue{key: newKey(t, "k1"), other: newKey(t, "k2")}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch req.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{
				"issuer": r.srv.URL, "authorization_endpoint": r.srv.URL + "/auth", "token_endpoint": r.srv.URL + "/token",
				"jwks_uri": r.srv.URL + "/jwks", "end_session_endpoint": r.srv.URL + "/logout",
				"id_token_signing_alg_values_supported": []string{"ES256", "none", "HS256"},
			})
		case "/jwks":
			pub, _ := r.key.PublicKey()
			set := jwk.NewSet()
			set.AddKey(pub)
			json.NewEncoder(w).Encode(set)
		case "/token":
			r.mu.Lock()
			tok := r.next(r.nonce)
			r.mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": tok})
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// sign signs claims with key (nil: alg none, no signature).
func sign(t testing.TB, key jwk.Key, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	if key == nil {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return h + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, key.KeyID())
	b, err := jws.Sign(payload, jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const rogueClient = "vexen-client"

// fedHostileEnv is an issuer (real SQLite store) with the rogue provider as "rogue".
func fedHostileEnv(t testing.TB, mod func(*Provider)) (*env, *rogue) {
	r := newRogue(t)
	p := Provider{ID: "rogue", Name: "Rogue", Issuer: r.srv.URL, ClientID: rogueClient, ClientSecret: "s",
		Scopes: []string{"openid", "email"}, CreateUsers: true, RolesClaim: "groups",
		Roles: map[string]string{"admins": "admin"}, DefaultRoles: []string{"user"}}
	if mod != nil {
		mod(&p)
	}
	e := newEnv(t, sqliteStore(t), func(c *Config, d *Deps) {
		c.Providers = []Provider{p}
		c.StateSecret = "test-state-secret"
		d.Now = time.Now
	})
	return e, r
}

func (r *rogue) claims(nonce string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": r.srv.URL, "sub": "rogue-sub-1", "aud": rogueClient, "exp": now + 300, "iat": now,
		"nonce": nonce, "email": "mallory@example.com", "email_verified": true, "sid": "rsid-1", "groups": []string{"admins"}}
}

// flow runs /oidc/rogue/start, then the callback with the state it was given and
// the flow cookie; it returns the callback's answer.
func (e *env) rogueFlow(r *rogue, state func(string) string, cookie bool, extra ...*http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	w := e.do(request{method: http.MethodGet, path: "/oidc/rogue/start?rd=/"})
	if w.Code != http.StatusFound {
		e.t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" {
		e.t.Fatalf("authorization request without PKCE S256 or nonce: %s", loc)
	}
	r.mu.Lock()
	r.nonce = q.Get("nonce")
	r.mu.Unlock()
	st := q.Get("state")
	if state != nil {
		st = state(st)
	}
	req := httptest.NewRequest(http.MethodGet, "/oidc/rogue/callback?code=c&state="+url.QueryEscape(st), nil)
	if cookie {
		for _, c := range w.Result().Cookies() {
			req.AddCookie(c)
		}
	}
	for _, c := range extra {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	e.svc.Handler().ServeHTTP(rec, req)
	return rec
}

func TestFederatedCallbackHostile(t *testing.T) {
	good := func(r *rogue) func(string) string {
		return func(n string) string { return sign(t, r.key, r.claims(n)) }
	}
	with := func(r *rogue, mod func(map[string]any)) func(string) string {
		return func(n string) string {
			c := r.claims(n)
			mod(c)
			return sign(t, r.key, c)
		}
	}
	cases := []struct {
		name   string
		prov   func(*Provider)
		token  func(*rogue) func(string) string
		state  func(string) string
		nocook bool
		want   int
		result string
	}{
		{name: "good", token: good, want: http.StatusSeeOther, result: "success"},
		{name: "missing state cookie", token: good, nocook: true, want: http.StatusBadRequest, result: "invalid_state"},
		{name: "wrong state", token: good, state: func(s string) string { return s + "x" }, want: http.StatusBadRequest, result: "invalid_state"},
		{name: "empty state", token: good, state: func(string) string { return "" }, want: http.StatusBadRequest, result: "invalid_state"},
		{name: "nonce mismatch", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { c["nonce"] = "other-nonce" })
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "no nonce", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { delete(c, "nonce") })
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "other audience", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { c["aud"] = "someone-else" })
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "azp of another client", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { c["aud"] = []string{rogueClient, "b"}; c["azp"] = "b" })
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "other issuer", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { c["iss"] = "https://evil.example" })
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "expired", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) {
				c["exp"] = time.Now().Add(-time.Minute).Unix()
				c["iat"] = time.Now().Add(-2 * time.Minute).Unix()
			})
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "iat in the future", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "alg none", token: func(r *rogue) func(string) string {
			return func(n string) string { return sign(t, nil, r.claims(n)) }
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "key not in the JWKS", token: func(r *rogue) func(string) string {
			return func(n string) string { return sign(t, r.other, r.claims(n)) }
		}, want: http.StatusUnauthorized, result: "invalid_id_token"},
		{name: "email not verified", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { c["email_verified"] = false })
		}, want: http.StatusUnauthorized, result: "email_unverified"},
		{name: "no email", token: func(r *rogue) func(string) string {
			return with(r, func(c map[string]any) { delete(c, "email") })
		}, want: http.StatusUnauthorized, result: "email_unverified"},
		{name: "domain not allowed", prov: func(p *Provider) { p.AllowedDomains = []string{"corp.example"} },
			token: good, want: http.StatusForbidden, result: "domain_not_allowed"},
		{name: "unknown user without create_users", prov: func(p *Provider) { p.CreateUsers = false },
			token: good, want: http.StatusForbidden, result: "unknown_user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, r := fedHostileEnv(t, tc.prov)
			r.next = tc.token(r)
			w := e.rogueFlow(r, tc.state, !tc.nocook)
			if w.Code != tc.want {
				t.Fatalf("callback: %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
			if got := e.counter("vexen_issuer_oidc_logins_total", "provider", "rogue", "result", tc.result); got != 1 {
				t.Errorf("oidc_logins_total{result=%s} = %v, want 1", tc.result, got)
			}
			var access bool
			for _, c := range w.Result().Cookies() {
				if c.Name == e.svc.cfg.CookieName && c.Value != "" {
					access = true
				}
			}
			if access != (tc.want == http.StatusSeeOther) {
				t.Fatalf("access cookie set: %v, want %v", access, !access)
			}
			_, err := e.store.UserByEmail(t.Context(), "mallory@example.com")
			if created := err == nil; created != (tc.want == http.StatusSeeOther) {
				t.Fatalf("user created: %v (err %v)", created, err)
			}
		})
	}
}

// TestFederatedSignInRogue: the session a federated sign-in opens (claims idp, amr,
// mapped roles) and that a refresh keeps them.
func TestFederatedSessionClaims(t *testing.T) {
	e, r := fedHostileEnv(t, nil)
	r.next = func(n string) string { return sign(t, r.key, r.claims(n)) }
	w := e.rogueFlow(r, nil, true)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", w.Code, w.Body)
	}
	var at, rt string
	for _, c := range w.Result().Cookies() {
		switch c.Name {
		case e.svc.cfg.CookieName:
			at = c.Value
		case RefreshCookie:
			rt = c.Value
		}
	}
	check := func(tok string) {
		t.Helper()
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c Claims
		json.Unmarshal(raw, &c)
		if c.IdP != "rogue" || len(c.AMR) != 1 || c.AMR[0] != "fed" || strings.Join(c.Roles, ",") != "user,admin" {
			t.Fatalf("claims %+v: want idp rogue, amr [fed], roles user,admin", c)
		}
	}
	check(at)
	pair, err := e.svc.Refresh(t.Context(), RefreshRequest{RefreshToken: rt})
	if err != nil {
		t.Fatal(err)
	}
	check(pair.AccessToken)
	// The account the provider created has no password: the password form opens nothing.
	if _, err := e.svc.Login(t.Context(), LoginRequest{Email: "mallory@example.com", Password: "anything-at-all"}); !errorsIs(err, ErrInvalidCredentials) {
		t.Fatalf("password login of a federated-only account: %v", err)
	}

	// Roles follow the provider at the next sign-in.
	r.next = func(n string) string {
		c := r.claims(n)
		c["groups"] = []string{"staff"}
		return sign(t, r.key, c)
	}
	if w := e.rogueFlow(r, nil, true); w.Code != http.StatusSeeOther {
		t.Fatalf("second callback: %d", w.Code)
	}
	u, _ := e.store.UserByEmail(t.Context(), "mallory@example.com")
	if strings.Join(u.Roles, ",") != "user" {
		t.Fatalf("roles after the second sign-in: %v, want [user]", u.Roles)
	}
}

// TestBackchannelLogoutHostile: every bad logout token is 400 and revokes nothing;
// a good one revokes the session it names, once.
func TestBackchannelLogoutHostile(t *testing.T) {
	e, r := fedHostileEnv(t, nil)
	r.next = func(n string) string { return sign(t, r.key, r.claims(n)) }
	if w := e.rogueFlow(r, nil, true); w.Code != http.StatusSeeOther {
		t.Fatalf("callback: %d", w.Code)
	}
	u, _ := e.store.UserByEmail(t.Context(), "mallory@example.com")
	live := func() int {
		l, err := e.store.ListSessions(t.Context(), u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	if live() != 1 {
		t.Fatal("no live session after sign-in")
	}
	lt := func(mod func(map[string]any)) map[string]any {
		now := time.Now().Unix()
		c := map[string]any{"iss": r.srv.URL, "aud": rogueClient, "iat": now, "exp": now + 120,
			"jti": randomName(), "sid": "rsid-1", "sub": "rogue-sub-1",
			"events": map[string]any{backchannelEvent: map[string]any{}}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	post := func(tok string) int {
		w := e.do(request{method: http.MethodPost, path: "/oidc/rogue/backchannel-logout",
			body: "logout_token=" + url.QueryEscape(tok), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		if w.Code == http.StatusBadRequest && !strings.Contains(w.Body.String(), `"invalid_request"`) {
			t.Errorf("400 body %s, want invalid_request", w.Body)
		}
		return w.Code
	}
	bad := []struct {
		name string
		tok  string
	}{
		{"nonce present", sign(t, r.key, lt(func(c map[string]any) { c["nonce"] = "n" }))},
		{"no events", sign(t, r.key, lt(func(c map[string]any) { delete(c, "events") }))},
		{"other event", sign(t, r.key, lt(func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} }))},
		{"event not an object", sign(t, r.key, lt(func(c map[string]any) { c["events"] = map[string]any{backchannelEvent: "x"} }))},
		{"other audience", sign(t, r.key, lt(func(c map[string]any) { c["aud"] = "other" }))},
		{"other issuer", sign(t, r.key, lt(func(c map[string]any) { c["iss"] = "https://evil.example" }))},
		{"unknown key", sign(t, r.other, lt(nil))},
		{"alg none", sign(t, nil, lt(nil))},
		{"no jti", sign(t, r.key, lt(func(c map[string]any) { delete(c, "jti") }))},
		{"neither sub nor sid", sign(t, r.key, lt(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }))},
		{"expired", sign(t, r.key, lt(func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			c["iat"] = time.Now().Add(-2 * time.Minute).Unix()
		}))},
		{"iat too old", sign(t, r.key, lt(func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }))},
		{"not a JWT", "garbage"},
		{"empty", ""},
	}
	for _, b := range bad {
		if code := post(b.tok); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", b.name, code)
		}
	}
	if n := live(); n != 1 {
		t.Fatalf("a bad logout token revoked the session (%d live)", n)
	}
	// A token for another sid of the same provider revokes nothing, and is fine.
	if code := post(sign(t, r.key, lt(func(c map[string]any) { c["sid"] = "rsid-other" }))); code != http.StatusOK {
		t.Fatalf("other sid: %d", code)
	}
	if live() != 1 {
		t.Fatal("a logout token for another sid revoked the session")
	}
	good := sign(t, r.key, lt(nil))
	if code := post(good); code != http.StatusOK {
		t.Fatalf("good logout token: %d", code)
	}
	if n := live(); n != 0 {
		t.Fatalf("%d sessions live after the back-channel logout", n)
	}
	if code := post(good); code != http.StatusBadRequest {
		t.Fatalf("replayed logout token: %d, want 400", code)
	}
	if got := e.counter("vexen_issuer_oidc_backchannel_logouts_total", "provider", "rogue", "result", "replayed"); got != 1 {
		t.Errorf("replayed counter %v", got)
	}
	if got := e.counter("vexen_issuer_revocations_total", "reason", "other"); got != 0 {
		t.Errorf("revocation counted as other: %v", got)
	}
	st, _ := e.store.(store.Store).ListSessions(t.Context(), u.ID, time.Now())
	_ = st
}

// TestFederatedSignInEndsPreviousSession: a browser that signs in through a
// provider while it holds a refresh cookie ends that session (its refresh token is
// overwritten and could not be revoked from the browser again), as a password
// sign-in does.
func TestFederatedSignInEndsPreviousSession(t *testing.T) {
	e, r := fedHostileEnv(t, nil)
	r.next = func(n string) string { return sign(t, r.key, r.claims(n)) }
	first := e.rogueFlow(r, nil, true)
	if first.Code != http.StatusSeeOther {
		t.Fatalf("first callback: %d %s", first.Code, first.Body)
	}
	var refresh *http.Cookie
	for _, c := range first.Result().Cookies() {
		if c.Name == RefreshCookie {
			refresh = c
		}
	}
	if refresh == nil {
		t.Fatal("the first sign-in set no refresh cookie")
	}
	if w := e.rogueFlow(r, nil, true, refresh); w.Code != http.StatusSeeOther {
		t.Fatalf("second callback: %d %s", w.Code, w.Body)
	}
	u, err := e.store.UserByEmail(t.Context(), "mallory@example.com")
	if err != nil {
		t.Fatal(err)
	}
	live, err := e.store.ListSessions(t.Context(), u.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 {
		t.Fatalf("%d live sessions after signing in twice in one browser, want 1 (the previous one ended)", len(live))
	}
}

func randomName() string { return base64.RawURLEncoding.EncodeToString(randomBytes(12)) }

// TestPasswordLoginOff: --password-login=false leaves only the provider buttons.
func TestPasswordLoginOff(t *testing.T) {
	e, _ := fedHostileEnv(t, nil)
	e.svc.cfg.NoPasswordLogin = true
	w := e.do(request{method: http.MethodGet, path: "/login"})
	if body := w.Body.String(); w.Code != http.StatusOK || strings.Contains(body, `name="password"`) || !strings.Contains(body, "Sign in with Rogue") {
		t.Fatalf("login page %d:\n%s", w.Code, body)
	}
	e.addUser("p@example.com", "password-1")
	if w := e.post("/v1/login", `{"email":"p@example.com","password":"password-1"}`); w.Code != http.StatusForbidden {
		t.Fatalf("POST /v1/login: %d, want 403", w.Code)
	}
}
