// Package verify is the verifier's decision core: given what a proxy asks about a
// request (method, host, path, client, and the access token from the
// Authorization header or the cookie) it answers allow, with the identity headers,
// or deny (401, 403), or "cannot decide" (an error, which adapters answer with
// 503, never 200). Verifier implements Decider; Handler is its HTTP adapter
// (nginx auth_request, Traefik forwardAuth, Caddy forward_auth, Envoy HTTP
// ext_authz); package extauthz adapts the same Decider to Envoy's gRPC API.
//
// # Token checks
//
// A token nobody has vouched for yet is checked in full: at most MaxTokenBytes;
// three base64url segments; a JOSE header with typ "at+jwt" (or
// "application/at+jwt", any case), no crit, b64 or cty; a kid naming a trusted key
// and alg equal to that key's own algorithm. Keys come only from the configured
// JWKS (fetched by a jwk.Cache restricted to that one URL, refreshed in the
// background) or, in HS256 deployments, from the shared secret: a key embedded in
// the token (jwk, x5c) or named by URL (jku, x5u) is never used, "none" is never
// accepted, and HMAC is never keyed with a public key (a JWKS's secret keys are
// refused). An unknown kid causes at most one extra JWKS fetch per 10 s, never one
// per request. Then the signature is checked with that one key (jwx's jws
// verifier for its algorithm; the signature's base64 must be canonical), and
// the claims, read by the package's own decoder, are checked: iss, aud, exp,
// nbf and iat with Leeway on an injected clock; sub, sid,
// exp and iat must be present, roles must be an array of strings and email a
// string, and no value may contain control characters (they become headers).
//
// # The three layers
//
// A decision looks up the token's SHA-256 in (a) the in-process cache, then on a
// miss (b) Redis and (c) the store:
//
//   - (a) A sharded map from token hash (its first 128 bits) to a compact entry:
//     the identity (user, email and session in one string; roles and amr with
//     their header values rendered once and shared by every identity that has the
//     same ones), the expiry, when the session was last found live: ~230 bytes of
//     heap per token with UUID ids (FootprintOf). Bounded by CacheEntries (an insert into a full cache drops an
//     expired entry, else the one expiring first among a few sampled). A hit
//     allocates nothing.
//   - (b) MGET access_token:{h} revoked:{h}. revoked:{h} denies. access_token:{h}
//     holds the claims of a token the issuer minted or a verifier fully checked,
//     and is honoured without a signature check, after iss, aud and exp are
//     checked again (claims that do not fit this verifier vouch for nothing).
//     Redis is therefore part of the trust base: whoever can write to it can
//     admit any token string. Protect it (password or ACL, TLS, a private network).
//   - (c) On a Redis miss the token is checked in full and the store answers
//     whether its session is live (not revoked or expired, user not disabled, the
//     token's sub owning it). A live answer fills Redis (unless revoked:{h} exists)
//     and the local cache; a dead one writes revoked:{h}.
//
// First sight: in push mode with the local cache on, while the revocation
// window is loaded and the feed fresh (see Revocation), a token the cache does
// not hold skips (b) and (c): it is checked in full, and the tombstones decide
// (none: allowed and cached; one: revoked). Every way a session ends writes a
// row to the store's revocation log, which the window holds; a session's own
// expiry writes none, but the issuer puts it refresh-ttl after the token's iat,
// beyond its exp, and a token presented within the leeway after exp takes (b)
// and (c). Redis is not filled on this path (the issuer wrote access_token:{h}
// when it minted the token). Config.FirstSightSessionCheck turns it off.
//
// Concurrent requests carrying one new token share one resolution (single
// flight): a burst costs one signature check.
//
// # Revocation
//
// The issuer writes revoked:{h} for a revoked session's tokens and publishes one
// event per revoked session on the revocation channel. The verifier turns each
// event into a tombstone for the session: every cache hit consults the
// tombstones, so the session's cached tokens are refused at once, and a check
// still in flight when the event arrived cannot cache the session as live again.
// The janitor drops dead entries and old tombstones.
//
// In push mode (the default) a cached entry is trusted while the feed is fresh:
// the last PING sent on the subscription at time T was answered (which proves
// every event published before T was delivered) and T is no older than
// MaxStaleness. Otherwise an entry checked more than MaxStaleness ago is checked
// again (Redis, then the store) before it is trusted. After every (re)subscription,
// and when a gap in the events' sequence numbers shows one was lost, the verifier
// reads the store's revocation log from the last sequence it saw before it calls
// the feed fresh again. Beside pub/sub it reads the log every 5×MaxStaleness (at
// least 1 s), which bounds the damage of an event the issuer failed to publish.
// Without Redis the log is read every MaxStaleness/2 and a read that started at
// T makes the feed fresh as of T: a revocation is seen within MaxStaleness.
//
// In strict mode every decision, cached or not, looks the token up in Redis
// (revoked:{h} denies, access_token:{h} allows, neither asks the store and
// refills) or, without Redis, asks the store: a request that starts after logout
// returned is refused. The local cache then only saves the signature check.
//
// # Failures
//
//   - Redis unreachable: decisions go on from the local cache (within the
//     staleness bound, as the feed is down) and from the store; Redis is skipped
//     for a second after each failure, so the store answers without waiting on it.
//   - Store unreachable, Redis up: tokens Redis knows are decided; others are an error.
//   - Store and Redis unreachable: a token cached and checked within MaxStaleness
//     is allowed; anything else is an error (503).
//   - JWKS never loaded: tokens that need a signature check are an error (503);
//     a failed refresh keeps the keys loaded before.
//
// A token whose signature, claims and session were not checked, by this verifier
// or (through access_token:{h}) by a peer or the issuer, is never allowed.
//
// # Access policy
//
// Config.Policy (a pkg/policy Policy, from verifier --policy) says who may reach
// which host, path and method; SetPolicy swaps it at run time (a reload) behind an
// atomic pointer. Under a policy the request is first read by
// policy.Canonicalize (an ambiguous method, host or path is a 400, reason
// bad_request) and matched; then a deny rule answers 403 whatever the token, a
// public rule 200 (with the identity only when the token checks out), and an
// authenticated rule asks for a valid token (401), one of its roles (403) and, with
// mfa, a token whose amr contains "mfa" (401 insufficient_user_authentication,
// reason mfa_required). Request.RequireRoles and RequireMFA tighten this for one
// proxy location. Decision.Rule names the deciding rule, and
// vexen_verifier_decisions_total counts it in its rule label. Without a policy any
// valid token passes (rule "none").
//
// Config.Rules, the older "HOST PATH_PREFIX ROLES" lines (the --rule flag;
// VERIFIER_RULES separates rules with ";"), are compiled into a policy by
// policy.FromRules: HOST is a host name, "*.parent" or "*"; PATH_PREFIX matches
// whole segments; ROLES is a comma-separated list, or "*" for any valid token; the
// longest prefix wins:
//
//	cfg.Rules = []string{
//		"*               /admin    admin",
//		"app.example.com /reports  finance,ops",
//		"*.example.com   /public   *",
//	}
//
// # HTTP adapter
//
// Handler serves /auth and every path below it, any method, plus /healthz and
// /readyz. The token is read from "Authorization: Bearer …" (scheme in any case),
// else from the CookieName cookie. The original request is read from
// X-Forwarded-Method, -Proto, -Host and -Uri (Traefik, Caddy), else
// X-Original-Method, X-Original-URI, X-Original-Host and X-Original-URL (nginx),
// but only when the peer's address is in TrustedProxies (default: loopback);
// otherwise from the /auth request itself: its method, Host, and the path after
// /auth (Envoy's HTTP ext_authz appends the original path). X-Forwarded-* win over X-Original-*: an
// nginx config must set or clear X-Forwarded-Uri and -Host (the sample does).
//
// Answers: 200 with X-Auth-User (sub), X-Auth-Email, X-Auth-Roles
// (comma-separated) and X-Auth-Session (sid); 401 with
// `WWW-Authenticate: Bearer realm="vexen", error="invalid_token"` (without error
// when no token was sent); 403; 503 with Retry-After: 1.
//
// Browser redirects are opted into per route: the proxy calls /auth?mode=browser
// (or sends X-Auth-Mode: browser). Then a denied top-level navigation (GET or
// HEAD, Accept including text/html, Sec-Fetch-Mode absent or "navigate", no
// X-Requested-With, no Authorization header) is answered 302 to LoginURL with
// rd=the original URL, when that URL's host is in AllowedRedirectHosts and it is
// a plain http(s) URL; otherwise rd is left out. API calls always get 401. nginx
// cannot pass a 302 from auth_request: use its error_page 401 instead.
//
// # Tracing
//
// With Deps.TracerProvider set, a decision that leaves the local cache (a miss,
// or a stale entry rechecked) makes a SpanDecide server span, child of the
// Request's TraceParent, with SpanRedisLookup, SpanSignature and
// SpanSessionState below it. A cached decision makes no span and allocates
// nothing either way (TestCachedDecideAllocates0Traced). Spans carry the reason,
// status, rule and backend results: never the token, host or path.
//
// # Metrics
//
//	vexen_verifier_decisions_total{decision="allow|deny|error",reason}
//	vexen_verifier_cache_requests_total{layer="local|redis",result="hit|miss"}
//	vexen_verifier_cache_hit_ratio{layer}
//	vexen_verifier_decision_duration_seconds
//	vexen_verifier_revocation_propagation_seconds (event timestamp → applied)
//	vexen_verifier_local_cache_entries, vexen_verifier_tombstones
//	vexen_verifier_feed_fresh
//	vexen_verifier_backend_errors_total{backend,op}
//	vexen_verifier_jwks_fetches_total{result}, vexen_verifier_jwks_unknown_kid_refetches_total
//	vexen_verifier_signing_keys
package verify
