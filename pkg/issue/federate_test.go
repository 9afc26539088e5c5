package issue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// fedIssuer is a Service served on a real loopback port with real providers
// (ORY Hydra), each with its OAuth2 client registered for this issuer.
type fedIssuer struct {
	*env
	base string
}

func startFedIssuer(t *testing.T, st Store, hydras map[string]*testenv.Hydra, order []string, mod func(*Provider)) *fedIssuer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var ps []Provider
	for _, id := range order {
		h := hydras[id]
		pre := base + "/oidc/" + id
		c := h.CreateClient(t, pre+"/callback", pre+"/backchannel-logout", pre+"/logged-out")
		p := Provider{ID: id, Name: "Hydra " + id, Issuer: h.Issuer, ClientID: c.ID, ClientSecret: Secret(c.Secret),
			CreateUsers: true, RolesClaim: "groups", Roles: map[string]string{"admins": "admin"}, DefaultRoles: []string{"user"}}
		if mod != nil {
			mod(&p)
		}
		ps = append(ps, p)
	}
	e := newEnv(t, st, func(c *Config, d *Deps) {
		c.IssuerURL = base
		c.Providers = ps
		c.StateSecret = "fed-test-secret"
		d.Now = time.Now
	})
	srv := &http.Server{Handler: e.svc.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &fedIssuer{env: e, base: base}
}

// browser is a cookie-keeping HTTP client that follows redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func cookie(c *http.Client, u, name string) string {
	pu, _ := url.Parse(u)
	for _, k := range c.Jar.Cookies(pu) {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}

func jwtClaims(t *testing.T, tok string, v any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// signIn runs a browser through the login page's button for provider id and
// returns the access token it ends with and the provider's sid.
func (fi *fedIssuer) signIn(t *testing.T, c *http.Client, id, email string) (Claims, string) {
	t.Helper()
	resp, body := get(t, c, fi.base+"/login?rd="+url.QueryEscape(fi.base+"/"))
	start := "/oidc/" + id + "/start?rd="
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, start) {
		t.Fatalf("login page (%d) has no button for %s:\n%s", resp.StatusCode, id, body)
	}
	resp, body = get(t, c, fi.base+start+url.QueryEscape(fi.base+"/"))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != fi.base+"/" || !strings.Contains(body, email) {
		t.Fatalf("sign-in with %s ended at %s (%d):\n%s", id, resp.Request.URL, resp.StatusCode, body)
	}
	var claims Claims
	jwtClaims(t, cookie(c, fi.base+"/", fi.svc.cfg.CookieName), &claims)
	idc := cookie(c, fi.base+PathLogout, fedLogoutCookie)
	pid, idt, _ := strings.Cut(idc, "~")
	if pid != id || idt == "" {
		t.Fatalf("RP-initiated logout cookie %q: want %s~ID token", idc, id)
	}
	var ic struct {
		SID string `json:"sid"`
	}
	jwtClaims(t, idt, &ic)
	if ic.SID == "" {
		t.Fatal("the provider's ID token has no sid")
	}
	return claims, ic.SID
}

func (fi *fedIssuer) waitRevoked(t *testing.T, sid string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := fi.store.SessionState(t.Context(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if revoked := !st.RevokedAt.IsZero(); revoked == want {
			return
		} else if !want || time.Now().After(deadline) {
			t.Fatalf("session %s revoked: %v, want %v", sid, revoked, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFederatedHydra: two real providers (ORY Hydra) at once, on SQLite and
// PostgreSQL: buttons, sign-in through each, claims and mapped roles, then the
// provider ends one session by back-channel logout (only that one is revoked), and
// an RP-initiated logout through the provider's end_session_endpoint.
func TestFederatedHydra(t *testing.T) {
	testenv.Integration(t)
	hydras := map[string]*testenv.Hydra{"corp": testenv.StartHydra(t), "partner": testenv.StartHydra(t)}
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) {
			fi := startFedIssuer(t, rs.open(t), hydras, []string{"corp", "partner"}, nil)
			hydras["corp"].SetUser(testenv.HydraUser{Subject: "alice-sub", Email: "alice@example.com", EmailVerified: true, Groups: []string{"admins", "x"}})
			alice := browser(t)
			ac, _ := fi.signIn(t, alice, "corp", "alice@example.com")
			if ac.IdP != "corp" || strings.Join(ac.AMR, ",") != "fed" || strings.Join(ac.Roles, ",") != "user,admin" {
				t.Fatalf("alice's access token: %+v", ac)
			}
			hydras["partner"].SetUser(testenv.HydraUser{Subject: "alice-sub", Email: "bob@example.com", EmailVerified: true})
			bob := browser(t)
			bc, _ := fi.signIn(t, bob, "partner", "bob@example.com")
			if bc.IdP != "partner" || strings.Join(bc.Roles, ",") != "user" {
				t.Fatalf("bob's access token: %+v", bc)
			}
			if ac.Subject == bc.Subject {
				t.Fatal("the same provider subject at two providers made one user")
			}
			// The provider ends alice's session: Hydra posts a logout token for
			// that sid to this issuer. Bob (same subject string, other provider) stays.
			hydras["corp"].Logout(t, alice)
			fi.waitRevoked(t, ac.SessionID, true)
			fi.waitRevoked(t, bc.SessionID, false)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				// Counted once the handler returns, just after the revocation.
				got := fi.counter("vexen_issuer_oidc_backchannel_logouts_total", "provider", "corp", "result", "success")
				if got == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("back-channel successes for corp: %v", got)
				}
			}
			if got := fi.counter("vexen_issuer_oidc_logins_total", "provider", "partner", "result", "success"); got != 1 {
				t.Fatalf("partner sign-ins: %v", got)
			}
			// Alice's browser now needs to sign in again (the silent refresh is refused).
			resp, body := get(t, alice, fi.base+"/")
			if resp.Request.URL.Path != PathLogin || !strings.Contains(body, "/oidc/corp/start") {
				t.Fatalf("after back-channel logout: %s (%d)", resp.Request.URL, resp.StatusCode)
			}

			// RP-initiated logout: bob signs out; the browser goes through the
			// provider's end_session_endpoint and back to rd.
			var via []string
			bob.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
				via = append(via, req.URL.Host+req.URL.Path)
				return nil
			}
			resp, _ = get(t, bob, fi.base+"/logout?rd="+url.QueryEscape(fi.base+"/login"))
			if resp.Request.URL.Path != PathLogin {
				t.Fatalf("sign-out ended at %s (via %v)", resp.Request.URL, via)
			}
			pu, _ := url.Parse(hydras["partner"].Issuer)
			if !strings.Contains(strings.Join(via, " "), pu.Host+"/oauth2/sessions/logout") {
				t.Fatalf("sign-out did not pass the provider's end_session_endpoint: %v", via)
			}
			fi.waitRevoked(t, bc.SessionID, true)
		})
	}
}

// TestFederatedProviderDown: a provider that is down at start does not stop the
// issuer; its button answers 503 until it is back.
func TestFederatedProviderDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	e := newEnv(t, sqliteStore(t), func(c *Config, d *Deps) {
		c.Providers = []Provider{{ID: "down", Name: "Down", Issuer: "http://" + addr, ClientID: "c", ClientSecret: "s",
			Scopes: []string{"openid"}}}
		d.Now = time.Now
	})
	w := e.do(request{method: http.MethodGet, path: "/login"})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Sign in with Down") {
		t.Fatalf("login page %d", w.Code)
	}
	w = e.do(request{method: http.MethodGet, path: "/oidc/down/start?rd=/"})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "unavailable") {
		t.Fatalf("start with the provider down: %d %s", w.Code, w.Body)
	}
	_ = context.Background
}
