// Package policy is the verifier's access policy: a YAML file of rules that says
// who may reach which host, path and method, from which networks.
//
//	default: authenticated        # authenticated | deny: when no rule matches
//	rules:
//	  - name: probes              # optional; labels metrics, debug logs, explain
//	    hosts: [app.example.com, "*.example.org"]   # absent = any; "*.x" = names below x
//	    paths: [/healthz, "/public/**", "/api/*/status"]  # absent = any
//	    methods: [GET, HEAD]      # absent = any
//	    networks: [10.0.0.0/8]    # the client's address; absent = any
//	    action: public            # public | authenticated | deny
//	    roles: [admin, ops]       # authenticated only: any of them
//	    mfa: true                 # authenticated only: amr must contain "mfa"
//
// The first rule that matches decides. Parse (and Load) report every problem with
// its line; rules that an earlier rule shadows are Warnings. FromRules compiles the
// verifier's older --rule lines into a Policy.
//
// A request is read once, by Canonicalize: the method, the host (port and one
// trailing dot removed) and the path (query removed, unreserved escapes decoded,
// dot segments and duplicate slashes removed). What cannot be read without
// guessing how the upstream would read it (an encoded slash or dot segment, a
// backslash, NUL, double encoding, overlong UTF-8, an invalid host) is refused,
// and the verifier answers 400: docs/policy.md has the table. Match then finds the
// deciding rule without allocating; Rule.Require combines it with a proxy
// location's tightening and Requirement.Check gives the Outcome for a token's
// roles and second factor.
//
// Path patterns: "*" is one segment, "**" (last only) is zero or more segments, so
// "/public/**" matches "/public", "/public/" and "/public/a/b"; anything else is
// literal and compared exactly ("/admin" does not match "/admin/"). Hosts compare
// without case; paths with case.
//
// A Reloader keeps the latest good version of a file in force (SIGHUP and the
// file changing, in cmd/verifier): a broken file is refused and the policy in
// force stays.
package policy
