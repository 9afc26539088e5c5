// Package hostlist keeps return URLs from becoming open redirects. It holds the
// one allowlist of hosts that the issuer (for the rd a browser brings to its
// sign-in page), the verifier's HTTP endpoint and the Envoy gRPC server (for the
// original URL they send to the login page) all check a return URL against.
//
// A List is compiled once from configuration by Parse. An entry is an exact host
// name ("app.example.com"), an IP literal ("127.0.0.1", "::1" or "[::1]"), or a
// "*.parent" wildcard that matches every name below parent but not parent itself.
// Names compare case-insensitively (ASCII only); a host's port is ignored, so an
// entry carries none.
//
// The strict reading of hosts is deliberate: whatever cannot be read as plainly
// "name", "name:port", "[v6]" or "[v6]:port" is refused, never guessed at. In
// particular a trailing-dot name ("app.example.com.") is another origin to a
// browser and is never allowed; a name whose last label is a number
// ("2130706433", "0x7f.0.0.1", "127.1") is an IPv4 address to a browser and is
// allowed only in the dotted-quad form an entry names; IPv6 zones, user info,
// empty or out-of-range ports and non-ASCII bytes are refused.
//
// ReturnURL rebuilds the URL of a request that a proxy reported as scheme,
// authority and path, and AddReturn puts it into the login page's query; the
// issuer's own check of a browser-supplied rd lives in package issue and uses
// SplitAuthority and List.Allows.
package hostlist
