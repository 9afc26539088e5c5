// Package audit writes the audit log: one structured JSON line per security-relevant
// action (sign-in success and failure with the reason, sign-out, logout-all, refresh
// reuse, sessions revoked and by whom, user changes, key rotation, policy reload,
// verifier denials), apart from the operational log so that an operator can keep,
// ship and alert on it on its own.
//
// Every line carries "audit":true and an "event" name; docs/CONTRACT.md lists the
// events and their fields. No line holds a secret (no password, no token: a token hash
// prefix at most), and every string in it is escaped with safetext.Escape.
//
// The issuer's and the verifier's Deps take a Recorder (nil: no audit log); cmd/
// builds a Logger on stdout or on a file opened with OpenFile, and wraps it in a
// Sampler for the verifier's denials.
package audit
