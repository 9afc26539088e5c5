package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/bench/report"
	"github.com/vexen/vexen-auth/e2e"
)

// The peers: other forward-auth services, each validating the issuer's ES256 tokens
// through its own JWT/JWKS configuration, measured in the same run and against the
// same baselines as the verifier. scripts/bench.sh builds them into the tools
// cache (scripts/build-oauth2-proxy.sh, scripts/build-oathkeeper.sh).
const (
	oauth2ProxyVersion = "v7.15.6"
	oathkeeperVersion  = "v0.40.9"
)

// peer is one running peer and how to ask it.
type peer struct {
	name, version string
	p             *proc
	addr          string // its decision endpoint's host:port
	path          string // the path wrk asks for directly
	userHeader    string // the response header that carries the user ID
	// nginx: replacements of vexen-auth.conf that point the sample's auth
	// subrequest at this peer and read its identity headers.
	nginx []e2e.Replacement
}

// toolsDir is the tools cache the build scripts install into.
func toolsDir() string { return envOr("VEXEN_TOOLS", "/var/cache/vexen-auth/tools") }

// peerBinary finds a peer's binary in the tools cache.
func peerBinary(name, script string) (string, error) {
	bin := filepath.Join(toolsDir(), "bin", name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("peers: %s not found (scripts/%s builds it; scripts/bench.sh runs it): %w", bin, script, err)
	}
	return bin, nil
}

// startOAuth2Proxy runs oauth2-proxy as an auth_request endpoint (/oauth2/auth,
// 202 or 401) that accepts the issuer's access tokens as bearer JWTs: OIDC
// provider with the issuer as its issuer and the tokens' audience as client ID,
// discovery skipped for the issuer's JWKS URL (the issuer's discovery document has
// no authorization endpoint: it is not an OAuth authorization server), and
// --skip-jwt-bearer-tokens, which verifies a bearer JWT's signature, issuer,
// audience and expiry on every request (ES256 named: without discovery it
// would accept RS256 only). No cookie session is ever made, so the
// login and redeem URLs are never used. Request and auth logs are off, as the
// verifier's are (--log-level warn).
func (h *harness) startOAuth2Proxy(ctx context.Context, e *env) (*peer, error) {
	bin, err := peerBinary("oauth2-proxy", "build-oauth2-proxy.sh")
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	iss := e.issuerURL
	p, err := h.start("oauth2-proxy", h.o.serverCPU, nil, bin,
		"--http-address", addr,
		"--provider", "oidc",
		"--oidc-issuer-url", iss,
		"--skip-oidc-discovery",
		"--oidc-jwks-url", iss+"/.well-known/jwks.json",
		"--oidc-enabled-signing-alg", "ES256", // without discovery it assumes RS256
		"--login-url", iss+"/login",
		"--redeem-url", iss+"/v1/token",
		"--client-id", "vexen",
		"--client-secret", randomHex(16),
		"--cookie-secret", randomHex(16),
		"--email-domain", "*",
		"--skip-jwt-bearer-tokens",
		"--insecure-oidc-allow-unverified-email",
		"--set-xauthrequest",
		"--upstream", "static://200",
		"--request-logging=false",
		"--auth-logging=false",
	)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+addr+"/ping", 30*time.Second); err != nil {
		return nil, err
	}
	return &peer{name: "oauth2-proxy", version: oauth2ProxyVersion, p: p, addr: addr, path: "/oauth2/auth", userHeader: "X-Auth-Request-User",
		nginx: []e2e.Replacement{
			{Old: "proxy_pass http://vexen_verifier/auth;", New: "proxy_pass http://vexen_verifier/oauth2/auth;"},
			{Old: "$upstream_http_x_auth_user;", New: "$upstream_http_x_auth_request_user;"},
			{Old: "$upstream_http_x_auth_email;", New: "$upstream_http_x_auth_request_email;"},
			noSignin,
		}}, nil
}

// startOathkeeper runs ORY Oathkeeper's decision API (/decisions/…, 200 or 401)
// with one rule for every URL: the jwt authenticator with the issuer's JWKS URL,
// issuer, audience and ES256, the allow authorizer, and the header mutator
// setting X-Auth-User and X-Auth-Email (the verifier's names, so the nginx sample
// reads them unchanged). Its proxy port is configured but not used. Logs at error
// level (it logs every granted request at info).
func (h *harness) startOathkeeper(ctx context.Context, e *env) (*peer, error) {
	bin, err := peerBinary("oathkeeper", "build-oathkeeper.sh")
	if err != nil {
		return nil, err
	}
	api, err := freePort()
	if err != nil {
		return nil, err
	}
	proxy, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.work, "oathkeeper")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rules := []map[string]any{{
		"id":             "vexenbench",
		"match":          map[string]any{"url": "<http|https>://<.*>/<.*>", "methods": []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
		"authenticators": []map[string]any{{"handler": "jwt"}},
		"authorizer":     map[string]any{"handler": "allow"},
		"mutators":       []map[string]any{{"handler": "header"}},
	}}
	rulesFile := filepath.Join(dir, "rules.json")
	if err := writeJSON(rulesFile, rules); err != nil {
		return nil, err
	}
	apiHost, apiPort, _ := splitHostPort(api)
	proxyHost, proxyPort, _ := splitHostPort(proxy)
	cfg := map[string]any{
		"log": map[string]any{"level": "error"},
		"serve": map[string]any{
			"api":   map[string]any{"host": apiHost, "port": atoi(apiPort)},
			"proxy": map[string]any{"host": proxyHost, "port": atoi(proxyPort)},
		},
		"access_rules": map[string]any{"repositories": []string{"file://" + rulesFile}, "matching_strategy": "regexp"},
		"authenticators": map[string]any{"jwt": map[string]any{"enabled": true, "config": map[string]any{
			"jwks_urls":          []string{e.issuerURL + "/.well-known/jwks.json"},
			"trusted_issuers":    []string{e.issuerURL},
			"target_audience":    []string{"vexen"},
			"allowed_algorithms": []string{"ES256"},
		}}},
		"authorizers": map[string]any{"allow": map[string]any{"enabled": true}},
		"mutators": map[string]any{"header": map[string]any{"enabled": true, "config": map[string]any{"headers": map[string]string{
			"X-Auth-User":  "{{ print .Subject }}",
			"X-Auth-Email": "{{ print .Extra.email }}",
		}}}},
	}
	cfgFile := filepath.Join(dir, "config.json")
	if err := writeJSON(cfgFile, cfg); err != nil {
		return nil, err
	}
	p, err := h.start("oathkeeper", h.o.serverCPU, nil, bin, "serve", "--config", cfgFile)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+api+"/health/ready", 30*time.Second); err != nil {
		return nil, err
	}
	return &peer{name: "oathkeeper", version: oathkeeperVersion, p: p, addr: api, path: "/decisions" + nginxPath, userHeader: "X-Auth-User",
		nginx: []e2e.Replacement{
			// The decision API takes the original path from X-Forwarded-Uri, which
			// the sample sets.
			{Old: "proxy_pass http://vexen_verifier/auth;", New: "proxy_pass http://vexen_verifier/decisions;"},
			noSignin,
		}}, nil
}

// noSignin drops the sample's second ask of a refused request (the verifier's
// browser mode, which the peers do not have): nginx answers the peer's 401 as it is.
var noSignin = e2e.Replacement{Old: "error_page 401 = /_vexen/signin;", New: "# error_page 401: the peer's 401 as it is (vexenbench)"}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// badSignature returns tok with one character of its signature changed (in the
// middle, where every base64url character carries six bits of the signature).
func badSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + (len(tok)-strings.LastIndexByte(tok, '.'))/2
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// checkAnswers asks addr+path with a few users' tokens, then with one of them
// with a bad signature and with none: each valid token must get a 2xx naming its
// user in userHeader, the others a 401. A peer that lets anything through would
// otherwise be measured at its fastest.
func checkAnswers(ctx context.Context, name, addr, path, userHeader string, e *env) error {
	cl := &http.Client{Timeout: 10 * time.Second}
	ask := func(tok string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		return resp, nil
	}
	for i := range min(3, len(e.users)) {
		resp, err := ask(e.tokens[i])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if resp.StatusCode/100 != 2 || resp.Header.Get(userHeader) != e.users[i].id {
			return fmt.Errorf("%s: a valid token of user %s got %s with %s %q, want 2xx naming the user", name, e.users[i].id, resp.Status, userHeader, resp.Header.Get(userHeader))
		}
	}
	for what, tok := range map[string]string{"a token with a bad signature": badSignature(e.tokens[0]), "no token": ""} {
		resp, err := ask(tok)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("%s: %s got %s, want 401", name, what, resp.Status)
		}
	}
	return nil
}

// peersGroups measures each peer directly against the bare net/http server (the
// verifier's own baseline), then behind the repository's nginx sample (auth_request
// pointed at the peer) against the same nginx with auth_request off. Each peer's
// answers are checked first, directly and through nginx.
func (h *harness) peersGroups(ctx context.Context, e *env, bare target, app *proc, appAddr string) error {
	var peers []*peer
	for _, start := range []func(context.Context, *env) (*peer, error){h.startOAuth2Proxy, h.startOathkeeper} {
		p, err := start(ctx, e)
		if err != nil {
			return err
		}
		defer p.p.stop()
		if err := checkAnswers(ctx, p.name, p.addr, p.path, p.userHeader, e); err != nil {
			return err
		}
		peers = append(peers, p)
	}
	h.rep.Settings = append(h.rep.Settings, "peers: oauth2-proxy "+oauth2ProxyVersion+" (--provider oidc with the issuer as OIDC issuer and the tokens' audience as client ID, "+
		"--skip-oidc-discovery with the issuer's JWKS URL, --oidc-enabled-signing-alg ES256, --skip-jwt-bearer-tokens, --set-xauthrequest, request and auth logs off) asked at /oauth2/auth; "+
		"ORY Oathkeeper "+oathkeeperVersion+" (decision API /decisions/…, one rule for every URL: jwt authenticator with the issuer's jwks_urls, trusted_issuers, target_audience and ES256, "+
		"allow authorizer, header mutator setting X-Auth-User and X-Auth-Email; log level error); both built from the Go module proxy by scripts/build-oauth2-proxy.sh and scripts/build-oathkeeper.sh "+
		"and pinned to the server CPU. Each is checked before it is measured, directly and through nginx: three users' tokens get 2xx naming the user, a token with a changed signature and no token get 401. "+
		"Directly, wrk asks the peer's endpoint against the bare net/http baseline; behind nginx, the repository's sample with the auth subrequest's proxy_pass (and, for oauth2-proxy, the identity variables) "+
		"pointed at the peer and without the error_page 401 second ask (the peers have no browser mode), against the same nginx with auth_request off")
	loginTokens := func(int) string { return e.tokenFile }
	var direct []*subject
	for _, p := range peers {
		direct = append(direct, &subject{name: p.name, what: p.name + " " + p.version + " (JWT via the issuer's JWKS)",
			t: target{name: p.name, addr: p.addr, path: p.path, pids: []int{p.p.pid()}}, tokens: loginTokens})
	}
	baseRuns, err := h.group(ctx, "peers", h.wrkRunner, bare, e.tokenFile, direct)
	if err != nil {
		return err
	}
	if err := h.addScenarios(bare.name, baseRuns, direct); err != nil {
		return err
	}

	plain, plainAddr, err := h.startNginx(ctx, "nginx-plain-peers", peers[0].addr, appAddr, false)
	if err != nil {
		return err
	}
	defer plain.stop()
	var behind []*subject
	for _, p := range peers {
		n, addr, err := h.startNginx(ctx, "nginx-"+p.name, p.addr, appAddr, true, p.nginx...)
		if err != nil {
			return err
		}
		defer n.stop()
		// Through nginx the user reaches the application as X-Auth-User; the
		// bare server does not echo it, so the check is the status only, after
		// the direct check above named the user.
		if err := checkNginxStatus(ctx, "nginx → "+p.name, addr, e); err != nil {
			return err
		}
		behind = append(behind, &subject{name: "nginx + " + p.name, what: "nginx auth_request → " + p.name + " " + p.version,
			t: target{name: "nginx + " + p.name, addr: addr, path: nginxPath, pids: []int{n.pid(), p.p.pid(), app.pid()}}, tokens: loginTokens})
	}
	base := target{name: "nginx, auth_request off", addr: plainAddr, path: nginxPath, pids: []int{plain.pid(), app.pid()}}
	baseRuns, err = h.group(ctx, "nginx peers", h.wrkRunner, base, e.tokenFile, behind)
	if err != nil {
		return err
	}
	return h.addScenarios("nginx, auth_request off", baseRuns, behind)
}

// checkNginxStatus: through nginx, a valid token gets 200 and a bad signature 401.
func checkNginxStatus(ctx context.Context, name, addr string, e *env) error {
	cl := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct {
		tok  string
		want int
	}{{e.tokens[0], http.StatusOK}, {badSignature(e.tokens[0]), http.StatusUnauthorized}} {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+nginxPath, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.tok)
		resp, err := cl.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			return fmt.Errorf("%s: got %s, want %d", name, resp.Status, c.want)
		}
	}
	return nil
}

// peerTargets: the peers are measured, their answers checked, in the same run.
func (h *harness) peerTargets() []report.Target {
	if !h.o.has("peers") {
		return nil
	}
	tg := report.Target{Name: "oauth2-proxy " + oauth2ProxyVersion + " and Oathkeeper " + oathkeeperVersion + " measured in the same run, directly and behind nginx, answers checked (valid → 2xx with the user, bad signature → 401)", Unknown: true}
	var got []string
	for _, n := range []string{"oauth2-proxy", "oathkeeper", "nginx + oauth2-proxy", "nginx + oathkeeper"} {
		if s := h.scenario(n); s != nil {
			got = append(got, fmt.Sprintf("%s %.2f", n, s.Ratio()))
		}
	}
	if len(got) == 4 {
		tg = report.Target{Name: tg.Name, Measured: strings.Join(got, ", ") + " of their baselines", Met: true}
	}
	return []report.Target{tg}
}
