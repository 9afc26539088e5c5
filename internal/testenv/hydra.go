package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Hydra is a throwaway ORY Hydra v2 (an OpenID provider) on free loopback ports,
// with an in-memory database, and its login and consent app: the test itself,
// which accepts every login and consent request for the identity set with SetUser.
// The binary comes from scripts/build-hydra.sh ($VEXEN_TOOLS/bin/hydra, or PATH).
type Hydra struct {
	Issuer string // the public URL, e.g. http://127.0.0.1:41234/ (Hydra's issuer ends with /)
	Admin  string // the admin URL, without trailing slash

	app *httptest.Server
	mu  sync.Mutex
	usr HydraUser
}

// HydraUser is who the login app signs in, and what the ID token says of them.
type HydraUser struct {
	Subject       string
	Email         string
	EmailVerified bool
	Groups        []string // the "groups" claim; nil: none
}

// HydraClient is an OAuth2 client registered at Hydra.
type HydraClient struct {
	ID, Secret string
}

// StartHydra starts Hydra and its login and consent app; both end with the test.
func StartHydra(t testing.TB) *Hydra {
	t.Helper()
	Integration(t)
	bin := hydraBinary(t)
	h := &Hydra{}
	h.app = httptest.NewServer(http.HandlerFunc(h.serveApp))
	t.Cleanup(h.app.Close)
	pub, adm := FreePort(t), FreePort(t)
	h.Issuer = "http://127.0.0.1:" + strconv.Itoa(pub) + "/"
	h.Admin = "http://127.0.0.1:" + strconv.Itoa(adm)
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Env = append(os.Environ(),
		"DSN=memory",
		"SERVE_PUBLIC_PORT="+strconv.Itoa(pub), "SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_ADMIN_PORT="+strconv.Itoa(adm), "SERVE_ADMIN_HOST=127.0.0.1",
		"URLS_SELF_ISSUER="+h.Issuer,
		"URLS_LOGIN="+h.app.URL+"/login", "URLS_CONSENT="+h.app.URL+"/consent", "URLS_LOGOUT="+h.app.URL+"/logout",
		"SECRETS_SYSTEM=vexen-auth-test-secret-0123456789",
		"OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES=public",
		"LOG_LEVEL=warn",
	)
	log := &Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start hydra: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("hydra log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.Admin + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("testenv: hydra exited at start:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: hydra not ready within 60s:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Hydra makes its signing keys (RSA 4096) on first use, which can take many
	// seconds on a busy machine: make them now, not inside a test's sign-in.
	c := &http.Client{Timeout: time.Minute}
	deadline = time.Now().Add(3 * time.Minute)
	for {
		resp, err := c.Get(h.Issuer + ".well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: hydra JWKS: %v\n%s", err, log.String())
		}
		time.Sleep(time.Second)
	}
}

func hydraBinary(t testing.TB) string {
	t.Helper()
	tools := os.Getenv("VEXEN_TOOLS")
	if tools == "" {
		tools = "/var/cache/vexen-auth/tools"
	}
	if p := filepath.Join(tools, "bin", "hydra"); fileExists(p) {
		return p
	}
	return RequireBinary(t, "hydra", "run scripts/build-hydra.sh (builds ORY Hydra into $VEXEN_TOOLS/bin)")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// SetUser sets who the next logins sign in as.
func (h *Hydra) SetUser(u HydraUser) {
	h.mu.Lock()
	h.usr = u
	h.mu.Unlock()
}

func (h *Hydra) user() HydraUser {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.usr
}

// CreateClient registers a confidential client for the authorization code flow.
func (h *Hydra) CreateClient(t testing.TB, redirectURI, backchannelURI, postLogoutURI string) HydraClient {
	t.Helper()
	body := map[string]any{
		"client_secret":              "secret-" + RandomName(""),
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid email profile",
		"redirect_uris":              []string{redirectURI},
		"token_endpoint_auth_method": "client_secret_basic",
	}
	if backchannelURI != "" {
		body["backchannel_logout_uri"] = backchannelURI
		body["backchannel_logout_session_required"] = true
	}
	if postLogoutURI != "" {
		body["post_logout_redirect_uris"] = []string{postLogoutURI}
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.admin(t, http.MethodPost, "/admin/clients", body, &out)
	if out.ClientID == "" {
		t.Fatal("testenv: hydra created a client without client_id")
	}
	return HydraClient{ID: out.ClientID, Secret: out.ClientSecret}
}

// Logout signs the browser out at the provider (its /oauth2/sessions/logout, the
// logout app accepting): Hydra then sends a back-channel logout token to every
// client the browser's provider session signed in to.
func (h *Hydra) Logout(t testing.TB, browser *http.Client) {
	t.Helper()
	resp, err := browser.Get(h.Issuer + "oauth2/sessions/logout")
	if err != nil {
		t.Fatalf("testenv: hydra logout: %v", err)
	}
	resp.Body.Close()
}

func (h *Hydra) admin(t testing.TB, method, path string, in, out any) {
	t.Helper()
	if err := h.adminErr(method, path, in, out); err != nil {
		t.Fatalf("testenv: hydra admin: %v", err)
	}
}

func (h *Hydra) adminErr(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.Admin+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// serveApp is the login, consent and logout app: it accepts every request.
func (h *Hydra) serveApp(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var redirect struct {
		RedirectTo string `json:"redirect_to"`
	}
	var err error
	switch r.URL.Path {
	case "/login":
		ch := url.QueryEscape(q.Get("login_challenge"))
		u := h.user()
		err = h.adminErr(http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+ch,
			map[string]any{"subject": u.Subject, "remember": true, "remember_for": 3600}, &redirect)
	case "/consent":
		ch := url.QueryEscape(q.Get("consent_challenge"))
		var req struct {
			Scope    []string `json:"requested_scope"`
			Audience []string `json:"requested_access_token_audience"`
		}
		if err = h.adminErr(http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+ch, nil, &req); err != nil {
			break
		}
		u := h.user()
		idt := map[string]any{"email": u.Email, "email_verified": u.EmailVerified}
		if u.Groups != nil {
			idt["groups"] = u.Groups
		}
		err = h.adminErr(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+ch,
			map[string]any{"grant_scope": req.Scope, "grant_access_token_audience": req.Audience,
				"session": map[string]any{"id_token": idt}}, &redirect)
	case "/logout":
		ch := url.QueryEscape(q.Get("logout_challenge"))
		err = h.adminErr(http.MethodPut, "/admin/oauth2/auth/requests/logout/accept?logout_challenge="+ch, nil, &redirect)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, redirect.RedirectTo, http.StatusFound)
}
