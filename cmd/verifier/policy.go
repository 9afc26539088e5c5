package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/vexen/vexen-auth/internal/cli"
	"github.com/vexen/vexen-auth/pkg/config"
	"github.com/vexen/vexen-auth/pkg/policy"
)

const policyCheckUsage = `Usage: verifier policy check FILE

Compile FILE as the verifier would; exit 0 (warnings on stderr), or 2 with every
error as FILE:LINE: message. No flags.
`

const policyUsage = `Usage:
  verifier policy check FILE
      compile FILE as the verifier would; exit 0 (warnings on stderr), or 2 with
      every error as FILE:LINE: message
  verifier policy explain --policy FILE --method M --host H --path P [--client IP]
                          [--roles a,b] [--mfa] [--location-roles a,b] [--location-mfa]
      show how the verifier reads the request, the rule that decides it and the
      answer without a token and with a valid token carrying --roles (and, with
      --mfa, a second factor); --location-* are the proxy location's tightening
      (/auth?roles=…&mfa=1, Envoy's vexen_roles / vexen_mfa)
`

// runPolicy is `verifier policy …`.
func runPolicy(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, policyUsage)
		if len(args) == 0 {
			return cli.Usage(errors.New("policy: want check or explain"))
		}
		return nil
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdout, stderr)
	case "explain":
		return policyExplain(args[1:], getenv, stdout)
	}
	return cli.Usage(fmt.Errorf("policy: unknown command %q (want check or explain)", args[0]))
}

func policyCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, policyCheckUsage)
		return nil
	}
	if len(args) != 1 {
		return cli.Usage(errors.New("policy check: want one FILE"))
	}
	p, err := policy.Load(args[0])
	if err != nil {
		return cli.Usage(err)
	}
	for _, w := range p.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok: %d rules, default %s\n", args[0], len(p.Rules()), p.Default().Action)
	return nil
}

func policyExplain(args []string, getenv func(string) string, stdout io.Writer) error {
	var (
		file, method, host, path, client string
		roles, locRoles                  []string
		mfa, locMFA                      bool
	)
	method = "GET"
	s := config.New("verifier policy explain", getenv)
	s.String(&file, "policy", "VERIFIER_POLICY", "the policy file")
	s.String(&method, "method", "", "the original request's method")
	s.String(&host, "host", "", "the original request's Host (port allowed)")
	s.String(&path, "path", "", "the original request's path (and query)")
	s.String(&client, "client", "", "the client's address (after trusted-proxy resolution)")
	s.List(&roles, "roles", "", "the token's roles")
	s.Bool(&mfa, "mfa", "", "the token shows a second factor (amr contains mfa)")
	s.List(&locRoles, "location-roles", "", "the location's roles (/auth?roles=…)")
	s.Bool(&locMFA, "location-mfa", "", "the location requires a second factor (/auth?mfa=1)")
	if err := s.Parse(args); err != nil {
		if errors.Is(err, config.ErrHelp) {
			fmt.Fprint(stdout, "Usage: verifier policy explain --policy FILE --method M --host H --path P [--client IP]\n",
				"                        [--roles a,b] [--mfa] [--location-roles a,b] [--location-mfa]\n\n",
				"Show how the verifier reads the request, the rule that decides it and the answer\n",
				"without a token and with a valid token carrying --roles (and, with --mfa, a second\n",
				"factor); --location-* are the proxy location's tightening (/auth?roles=…&mfa=1).\n\nFlags:\n")
			s.PrintDefaults(stdout)
			return nil
		}
		return cli.Usage(err)
	}
	if len(s.Args()) > 0 {
		return cli.Usage(fmt.Errorf("policy explain: unexpected argument %q", s.Args()[0]))
	}
	if file == "" || host == "" || path == "" {
		return cli.Usage(errors.New("policy explain: --policy, --host and --path are required"))
	}
	var addr netip.Addr
	if client != "" {
		a, err := netip.ParseAddr(client)
		if err != nil {
			return cli.Usage(fmt.Errorf("policy explain: --client %q is not an IP address", client))
		}
		addr = a.Unmap()
	}
	p, err := policy.Load(file)
	if err != nil {
		return cli.Usage(err)
	}
	fmt.Fprintf(stdout, "request:   %s %s %s", method, host, path)
	if addr.IsValid() {
		fmt.Fprintf(stdout, " from %s", addr)
	}
	fmt.Fprintln(stdout)
	t, err := policy.Canonicalize(method, host, path)
	if err == nil {
		err = p.ParamsRefused(&t)
	}
	if err != nil {
		var re *policy.RefusedError
		why := err.Error()
		if errors.As(err, &re) {
			why = re.Why
		}
		fmt.Fprintf(stdout, "refused:   400 bad request: %s (rule label none)\n", why)
		return nil
	}
	fmt.Fprintf(stdout, "read as:   %s %s %s\n", t.Method, strings.ToLower(t.Host), t.Path)
	r := p.Match(&t, addr)
	fmt.Fprintf(stdout, "rule:      %s\n", describe(file, r))
	tighten := policy.Tighten{Roles: strings.Join(locRoles, ","), MFA: locMFA}
	if tighten.Roles != "" || tighten.MFA {
		fmt.Fprintf(stdout, "location:  roles %s, mfa %v\n", orNone(tighten.Roles), tighten.MFA)
	}
	q := r.Require(tighten)
	fmt.Fprintf(stdout, "requires:  %s\n", requirement(q))
	fmt.Fprintf(stdout, "no token:  %s\n", q.Check(false, nil, false))
	fmt.Fprintf(stdout, "token (roles %s, mfa %v): %s\n", orNone(strings.Join(roles, ",")), mfa, q.Check(true, roles, mfa))
	return nil
}

func describe(file string, r *policy.Rule) string {
	if r.Name == policy.LabelDefault {
		return fmt.Sprintf("default (no rule matched): %s", r.Action)
	}
	var parts []string
	where := fmt.Sprintf("%s:%d", file, r.Line)
	for _, c := range []struct {
		key  string
		vals []string
	}{{"hosts", r.Hosts()}, {"paths", r.Paths()}, {"methods", r.Methods()}, {"networks", r.Networks()}} {
		if c.vals != nil {
			parts = append(parts, c.key+" "+strings.Join(c.vals, ","))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "every request")
	}
	return fmt.Sprintf("%s (%s, rule %d): %s → %s", r.Name, where, r.Index+1, strings.Join(parts, "; "), r.Action)
}

func requirement(q policy.Requirement) string {
	switch q.Action {
	case policy.Public:
		return "nothing (public: identity headers only for a valid token)"
	case policy.Deny:
		return "nothing will do (deny: 403 for everyone)"
	}
	out := "a valid token"
	if len(q.Roles) > 0 {
		out += " with any of the roles " + strings.Join(q.Roles, ",")
	}
	if q.LocationRoles != "" {
		out += ", and any of the location's roles " + q.LocationRoles
	}
	if q.MFA {
		out += ", and a second factor (amr mfa)"
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
