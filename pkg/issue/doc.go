// Package issue is the vexen-auth issuer: it checks passwords, opens sessions, mints
// access tokens, rotates refresh tokens, revokes sessions, and serves the JWKS that
// verifiers check tokens with. Service is both the Go API (used by the admin CLI and
// the browser pages) and, through Handler, the HTTP API of the contract.
//
// # Building one
//
// Start from DefaultConfig, override from flags and environment, Validate (no side
// effects; one-line errors naming the setting), then New with the Deps: a Store (the
// part of store.Store the issuer uses), optionally a Cache (*rediscache.Cache) and a
// Limiter (NewRedisLimiter), a prometheus.Registerer, a logger and a clock. New loads
// or generates the signing keys and does every other expensive step once; Close stops
// the key directory rescans. NewAdmin builds a Service for the admin operations only,
// without touching the key directory.
//
// # Passwords
//
// argon2id (golang.org/x/crypto/argon2) in PHC strings:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH. New hashes use Config.Password (default: the
// OWASP 19 MiB, 2 passes, 1 lane profile); verification uses the parameters recorded in
// the stored string, so raising the parameters never locks anyone out. Comparison is
// constant-time. An unknown email costs the same argon2 work as a wrong password (a
// dummy hash made at start with the current parameters is verified), and a wrong
// password, an unknown email and a disabled user get the same answer. At most
// Config.HashConcurrency hashes run at once; others wait (bounded by their context).
// A successful login re-hashes the password when its stored hash was made with weaker
// parameters than Config.Password (less memory, fewer passes or lanes, a shorter salt
// or key), and stores the new hash only if the old one is still in place.
//
// # Accounts
//
// ChangePassword (POST /v1/password and the account page's form) checks the current
// password and revokes the user's other sessions; SetPassword, SetRoles and DeleteUser
// (the operator's commands) revoke every session, so that no token carrying an old
// password's session or old roles is honoured; CreateResetLink makes a one-time link
// (ResetLinkTTL, stored as its SHA-256) that ResetPassword (POST /v1/password/reset and
// the /reset page) spends. These need a store with the account operations
// (store.Accounts, as both backends have); another Store answers ErrNoAccounts.
//
// # Signing keys
//
// ES256 (default), EdDSA or RS256 keys are PKCS#8 PEM files named KID.pem in
// Config.KeysDir, mode 0600 in a 0700 directory; a key file readable by group or others
// is refused (ErrKeyPermissions) rather than used. On the first start, or when the
// newest key is not of the configured algorithm, a key is generated. Kids made here are
// time-sortable (UTC timestamp with nanoseconds, then random hex), and a file with
// another name takes its modification time as its creation time. A key is published
// at once and signs Config.KeyPrepublish (1h) after its creation: the newest key of the
// configured algorithm past its prepublish signs (the first key of an algorithm at
// once), so verifiers fetch it before its first token. The directory is re-read every
// Config.KeyRescan (30s) — a cheap listing, keys are parsed only when it changes — so a
// key added by RotateKey (`issuer keys rotate`) is published and then signs without a
// restart; a bad file found by a rescan is logged and the keys in use stay. A key stays
// in the JWKS until AccessTTL + KeyRescan + Leeway after its successor started signing:
// no token it signed can be live after that. With Config.KeyRotation the issuer adds
// the next key itself, KeyPrepublish before it is due, once across the replicas that
// share the directory and the store (under the store's store.Locker).
// Keys are never deleted. HS256 uses the JWT_SECRET_KEY secret (at least 32 bytes),
// publishes an empty JWKS, and has a kid that fingerprints the secret.
//
// # Tokens
//
// Access tokens are JWS compact (jwx/v2) with header {alg, kid, typ: "at+jwt"} and
// claims iss, sub (user id), aud, exp, iat, nbf, jti, sid, email and roles (an array,
// never null). Refresh tokens are 32 random bytes in base64url; only their lowercase
// hex SHA-256 (TokenHash) is stored, together with the hash and expiry of the access
// token minted with them.
//
// Refresh rotates (RFC 9700 §4.14) in one store transaction: the presented token is
// marked used and a successor issued. Presented again within Config.RefreshGrace
// (default 5s) it yields a sibling pair — concurrent clients do not log themselves
// out — and later it revokes the whole session (reason refresh_reuse). With a zero
// grace, of N racing refreshes exactly one succeeds and the session ends revoked.
//
// # Logout
//
// POST /v1/logout takes the refresh token in the body, or else a bearer access token
// whose sid names the session. The access token must verify with the issuer's own keys
// (signature, typ, iss, aud, nbf), but may be expired: logging out only ever takes
// access away, and clients often hold an expired token when the user leaves. Logout is
// idempotent (204 again, and 204 for an unknown refresh token). /v1/logout-all and
// /v1/sessions need a live access token whose session is still live in the store.
//
// # Throttling
//
// Every login attempt takes one event from its client address's bucket
// (Config.LoginRate.PerIP, 30/min; an IPv6 client by its /64) and one from the
// account's bucket (PerAccount: 10 at once, then one a minute; keyed by the email
// whether or not it has an account), both before any password work, so N concurrent
// attempts run at most as many password checks as the buckets hold. A successful login
// gives the account's event back: only failures (wrong password, unknown email,
// disabled user alike) add up, and one account's failures never slow another beyond
// the shared address's bucket. Every refresh (POST /v1/refresh and the sign-in page's
// silent refresh) takes one event from its address's refresh bucket (RefreshPerIP,
// 120/min). An empty bucket is 429 rate_limited with Retry-After. The buckets are
// GCRA: in Redis through go-redis/redis_rate (NewRedisLimiter), shared by every
// replica, or in memory (NewMemoryLimiter, bounded), which is also the fallback while
// Redis fails. The client address is the peer's, or X-Forwarded-For's rightmost
// untrusted entry when the peer is in Config.TrustedProxies (default loopback only).
//
// # Redis
//
// With a Cache, login writes the new pair through (access_token:{h}, refresh_token:{h},
// user_session:{uid}, user_tokens:{uid}), refresh drops the old refresh token and
// writes the new pair, and every revocation (logout, logout-all, reuse, user disabled,
// admin) marks the session's live tokens revoked:{h} and publishes one event per
// session, after the store has committed. Redis writes run detached from the request's
// cancellation with their own timeout, so a client that hangs up cannot leave a
// revocation unpublished. A Redis failure never fails a request: it is logged at Warn
// and counted in vexen_issuer_redis_errors_total{op}; the store stays the truth.
//
// # HTTP
//
// Handler serves the API (see its documentation for the routes and the single status
// table). Bodies are read through http.MaxBytesReader (1 MiB, else 413); JSON must be
// application/json (else 415), one object, no unknown fields, nothing after it (else
// 400 invalid_request). Every error body is {"error": CODE, "error_description": TEXT};
// descriptions are generic and internal details only go to the log.
//
// # Browser pages
//
// Handler also serves server-rendered HTML pages (html/template, no script, usable
// without JavaScript; labels, autocomplete hints, lang, errors in a role=alert region):
//
//   - GET /login?rd=URL: the sign-in form. When the browser holds a live refresh
//     cookie, it is rotated (Refresh) and the browser sent on to rd at once (303) —
//     the verifier sends a browser here when its access cookie expired, and it comes
//     back signed in without seeing the form. A dead refresh cookie (expired,
//     revoked, replayed) is cleared and the form shown.
//   - POST /login (email, password, rd, csrf_token): Login with the client's address
//     and User-Agent, so the form has the API's password rules and throttling. A
//     failure shows the form again with 400, 401, 403 (CSRF), 429 with Retry-After,
//     or 500, and one message for wrong password, unknown email and disabled user
//     alike. Success sets the cookies and answers 303 to rd; a session this browser
//     held before is revoked.
//   - GET|POST /logout?rd=URL: revokes the sessions of the refresh cookie and of the
//     access cookie (which may be expired), clears both cookies, 303 to rd. GET has no
//     CSRF check: the contract makes sign-out a plain link apps can point to, and the
//     worst another site can do with it is sign the user out. POST is checked like
//     sign-in. When the store cannot record the revocation the cookies are kept and
//     the page says so (503), so that trying again still ends the session.
//   - GET /: the account page (who is signed in, a sign-out button); without a live
//     access cookie it sends the browser to /login?rd=/.
//
// Cookies: the access token in Config.CookieName (Domain Config.CookieDomain, Path=/,
// Max-Age the access token's life), the refresh token in RefreshCookie (host-only,
// set twice: Path=/login and Path=/logout, so it reaches those two pages and never
// an application; Max-Age the refresh token's life), both HttpOnly, SameSite=Lax (a
// cross-site top-level navigation to /login must carry the refresh cookie), Secure
// when the issuer URL is https. They are cleared with Max-Age=0 and the same
// attributes. Paths are below the issuer URL's path. Config.Validate refuses a
// CookieDomain that does not contain the issuer's host (browsers would drop the
// cookie). Tokens travel only in cookies and bodies, never in URLs or logs.
//
// rd is honoured only as a path starting with a single "/" or as an absolute http(s)
// URL whose host (case-insensitive, port ignored) is in Config.AllowedRedirectHosts
// (exact names, IP literals, "*.parent" for any name below parent); anything else —
// "//host", backslashes, other schemes, user info, control characters, percent-
// encoding or non-ASCII in the host, over 2048 bytes — goes to
// Config.DefaultRedirect.
//
// CSRF: POST /login and POST /logout pass http.CrossOriginProtection
// (Sec-Fetch-Site, else Origin against Host) and a double-submit token: a random
// token in CSRFCookie (HttpOnly, SameSite=Strict, Path=/; CSRFCookieSecure, with
// the __Host- prefix, on https) that the form must repeat in CSRFField, compared in
// constant time. Every page answers Cache-Control: no-store, X-Frame-Options: DENY
// and a CSP without script: default-src 'none', the inline style allowed by its
// SHA-256, frame-ancestors 'none', base-uri 'none', and form-action 'self' plus
// every allowed return host (browsers apply form-action to the redirect that
// follows a form post, so a return page that itself redirects to another host
// needs that host on the list too; with an IPv6 literal on the list, form-action
// is left out).
//
// # Operations
//
// Metrics (on the Registerer given): vexen_issuer_requests_total{endpoint,code} (the
// pages are the endpoints login_page, logout_page and account),
// vexen_issuer_request_duration_seconds{endpoint}, vexen_issuer_logins_total{result},
// vexen_issuer_refreshes_total{result}, vexen_issuer_revocations_total{reason},
// vexen_issuer_redis_errors_total{op}, vexen_issuer_password_hashes_waiting. Label
// values come from fixed sets. Logs never contain a password, a token or a whole token
// hash (at most a 12-digit hash prefix); refresh-token reuse is logged at Warn, failed
// logins at Debug.
//
// # Retention
//
// Retention is the background job `issuer serve` runs: every RetentionConfig.Interval
// it calls the store's PruneExpired with now minus RetentionConfig.Window, so that
// expired and revoked sessions, their token pairs and their revocation-log rows do not
// pile up. The window must be at least the access-token lifetime plus RetentionMargin
// (a revoked session's log row outlives every access token of the session, and the
// log window verifiers read at start). Each run is counted in
// vexen_issuer_retention_runs_total{result="ok|skipped|error"} and
// vexen_issuer_retention_pruned_total{kind="refresh_tokens|sessions|revocations"} and
// logged in one line.
package issue
