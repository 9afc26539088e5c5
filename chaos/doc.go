// Package chaos is vexen-auth's Jepsen-style test: a workload of simulated users,
// a schedule of faults, and a checker that knows the truth.
//
// TestChaos starts a throwaway PostgreSQL (initdb and pg_ctl into a temporary
// directory) and redis-server, each behind a TCP proxy that can slow or cut the
// link (testenv.Proxy), two issuers and three verifiers (the real binaries, built
// from ./cmd/...; two in push mode, one strict) behind nginx with the
// repository's nginx/nginx.conf. Users sign in, refresh, use their tokens through
// nginx and directly at the verifiers, log out, log out everywhere, are disabled;
// refresh tokens are replayed on purpose and forged, expired and absent tokens are
// mixed in. Meanwhile faults are injected, every kind in turn in an order and with
// durations drawn from a printed seed: Redis killed and restarted empty, FLUSHALL,
// Redis paused (SIGSTOP) longer than --max-staleness, slow and cut links to Redis
// and PostgreSQL, PostgreSQL stopped and started, a verifier or an issuer SIGKILLed
// and restarted, a signing-key rotation, a policy reload.
//
// Every request is recorded with what the workload knew when it sent it (the
// session live or revoked, and when the revoking call returned), and Check holds
// the history against the invariants. WriteReport renders the result
// (docs/reliability.md).
//
//	go test ./chaos/                                        # the short form (20 s of workload), part of make test
//	make chaos CHAOS_DURATION=10m CHAOS_SEED=42             # minutes long; writes docs/reliability.md
package chaos
