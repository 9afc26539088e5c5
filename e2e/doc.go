// Package e2e holds the end-to-end tests of the sample proxy configurations in
// nginx/, traefik/ and caddy/: each sample, rendered with test ports by Render,
// runs in the real proxy (Debian's nginx; Caddy and Traefik built from the Go
// module proxy by scripts/build-caddy.sh and scripts/build-traefik.sh) in front of
// the real issuer and verifier (built from cmd/ once per run, started as processes
// on free ports, SQLite plus the shared Redis under a key prefix of their own) and
// an upstream that echoes the headers it got (internal/echo).
//
// The committed files are also checked as they are: nginx -t on nginx/, and caddy
// validate plus caddy fmt (no diff) on caddy/Caddyfile.
//
// For every proxy the tests prove:
//   - a valid token (Authorization header or the access-token cookie) reaches the
//     upstream with X-Auth-User, X-Auth-Email, X-Auth-Roles and X-Auth-Session
//     equal to the token's claims, and no X-Auth-Roles for a user without roles;
//   - identity headers a client forged, also under aliasing spellings (X_Auth_User,
//     X.Auth.User) that CGI-style frameworks read as the same variable, never reach
//     the upstream, with or without a valid token;
//   - a missing, malformed, badly signed, expired or revoked token gets the
//     verifier's 401 with exactly one WWW-Authenticate challenge, and the upstream
//     sees nothing;
//   - a browser's page navigation without a session is redirected to the issuer's
//     login page with the original URL (query included) as rd, while fetches and
//     API routes get 401, and a client cannot switch an API route to redirects;
//   - a POST is judged as a POST, whatever X-Forwarded-Method or X-Original-Method
//     the client sends;
//   - with the verifier stopped, the proxy answers 5xx and lets nothing through;
//   - on the issuer's host name (auth.example.com) the proxy routes only the
//     issuer's public paths (/, /login, /logout, /v1/*, /.well-known/*): /metrics,
//     /healthz and /readyz, also spelled with dot segments or encoded dots below a
//     routed prefix, are 404, while the issuer's metrics are on its private
//     --metrics-listen address (checkIssuerRoutes).
//
// TestBrowserSignIn drives Debian's headless Chromium (chromedp, a fresh profile)
// through nginx and Traefik: protected page → the issuer's sign-in form → a wrong
// password refused on the form → signed in, back on the original URL with the
// upstream seeing X-Auth-User (and never the refresh cookie) → silently signed in
// again once the access cookie is gone → signed out (the /logout link, the account
// page's button) with the session revoked → the sign-in form again. It saves a
// screenshot of the sign-in page in $VEXEN_ARTIFACTS (default: a temporary
// directory); docs/login.png is a copy. TestBrowserFederatedSignIn does the same
// with a real OpenID provider (ORY Hydra): the sign-in page's provider button →
// Hydra → the original page with the federated user and mapped roles; Hydra's
// back-channel logout then shuts the session out of the verifier and nginx.
//
// Run them with `go test ./e2e/` (or the repository's `make test`). They are
// integration tests: skipped under -short, and failing, never skipping, when a
// proxy binary is missing. The binaries are looked up in $VEXEN_TOOLS/bin (default
// /var/cache/vexen-auth/tools/bin) first, then on PATH.
package e2e
