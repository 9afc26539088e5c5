package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// issuerHost is the issuer's host name in the sample configs.
const issuerHost = "auth.example.com"

// checkIssuerRoutes: through the proxy, the issuer's host serves the issuer's public
// paths (account page, sign-in and sign-out pages, the API, the well-known
// documents) and nothing else: /metrics (which the issuer serves only on its
// metrics listener), /healthz and /readyz are 404 at the proxy, also when asked for
// with dot segments below a routed prefix (issue 9, point 3).
func checkIssuerRoutes(t *testing.T, s *stack, base string) {
	do := func(t *testing.T, method, path, body string) (int, http.Header, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = issuerHost
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	public := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/.well-known/jwks.json", "", 200, `"keys"`},
		{"GET", "/.well-known/openid-configuration", "", 200, `"jwks_uri"`},
		{"GET", "/login?rd=%2F", "", 200, "<form"},
		{"GET", "/logout", "", 303, ""},
		{"GET", "/reset?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", 200, `name="new_password"`},
		{"POST", "/password", "", 303, ""},
		{"POST", "/v1/password/reset", `{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","new_password":"long enough 1"}`, 400, "invalid_reset_link"},
		{"GET", "/", "", 303, ""},
		{"POST", "/v1/login", `{"email":"` + plainUser.email + `","password":"` + plainUser.password + `"}`, 200, `"access_token"`},
		{"POST", "/v1/refresh", `{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, 401, "invalid_grant"},
	}
	for _, tt := range public {
		t.Run("routed "+tt.method+" "+tt.path, func(t *testing.T) {
			code, _, body := do(t, tt.method, tt.path, tt.body)
			if code != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%d %.120q; want %d with %q", code, body, tt.status, tt.contains)
			}
		})
	}

	private := []string{
		"/metrics", "/healthz", "/readyz",
		"/v1/../metrics", "/v1/%2e%2e/metrics", "/.well-known/..%2fmetrics", "/.well-known/%2e%2e/healthz",
		"/login/../readyz", "//metrics", "/METRICS", "/v2/login",
	}
	for _, path := range private {
		t.Run("not routed "+path, func(t *testing.T) {
			code, _, body := do(t, "GET", path, "")
			if code != http.StatusNotFound {
				t.Errorf("status %d, want 404 from the proxy; body %.120q", code, body)
			}
			for _, leak := range []string{"vexen_issuer_", "# HELP", `"status"`} {
				if strings.Contains(body, leak) {
					t.Errorf("body holds %q: %.200q", leak, body)
				}
			}
		})
	}

	// The metrics are there, on the issuer's private listener only.
	resp, err := http.Get("http://" + s.issuerMetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "vexen_issuer_logins_total") {
		t.Errorf("issuer metrics listener: %d, logins counter present %v", resp.StatusCode, strings.Contains(string(b), "vexen_issuer_logins_total"))
	}
}
