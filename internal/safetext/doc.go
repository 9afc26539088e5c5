// Package safetext makes client-controlled text safe to print on a terminal or
// write into a log line.
//
// A User-Agent, an email address, a forwarded-for header or a claim from an
// identity provider is chosen by whoever sent it. Printed raw, a C0 or C1 control
// character (ESC, CSI U+009B, NEL U+0085 …) can drive the operator's terminal, and a
// bidirectional override (U+202E …) can make a line read differently from what it
// holds. [Escape] turns every such character, and every byte that is not UTF-8,
// into a visible escape; text without any comes back unchanged and without
// allocating. The issuer's subcommands print client data through it, and the
// logger both programs build (internal/cli) passes every string of every log
// line through it.
package safetext
