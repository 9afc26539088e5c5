// Package config binds settings to command-line flags and environment variables, in
// one order: the default in the program's config struct, then the environment
// variable, then the flag (the flag wins). Every flag's usage line names its
// variable, so --help documents both.
//
// A bad value is reported as a one-line error that names the setting; programs exit
// with status 2 on it, before opening any port.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrHelp is returned by Parse when -h or --help was asked for.
var ErrHelp = flag.ErrHelp

// Set is a flag.FlagSet whose flags can also come from environment variables.
type Set struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	envOf   map[string]string // flag name → variable
	pending []func() error    // env decoders, run by Parse
}

// New returns a Set named after the program. getenv is usually os.Getenv; tests pass
// their own.
func New(name string, getenv func(string) string) *Set {
	if getenv == nil {
		getenv = os.Getenv
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Set{fs: fs, getenv: getenv, envOf: map[string]string{}}
}

// FlagSet exposes the underlying flag set.
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

func (s *Set) usage(env, usage string) string {
	if env == "" {
		return usage
	}
	return usage + " (env " + env + ")"
}

func (s *Set) fromEnv(name, env string, set func(string) error) {
	if env == "" {
		return
	}
	s.envOf[name] = env
	s.pending = append(s.pending, func() error {
		v, ok := lookup(s.getenv, env)
		if !ok {
			return nil
		}
		if err := set(v); err != nil {
			return fmt.Errorf("invalid %s=%q: %v", env, redactIfSecret(env, v), err)
		}
		return nil
	})
}

// lookup treats an empty variable as unset, as operators expect (`FOO= cmd`).
func lookup(getenv func(string) string, env string) (string, bool) {
	v := getenv(env)
	return v, v != ""
}

func redactIfSecret(env, v string) string {
	u := strings.ToUpper(env)
	if strings.Contains(u, "SECRET") || strings.Contains(u, "PASSWORD") || strings.Contains(u, "KEY") {
		return "xxxxx"
	}
	return v
}

// String binds a string setting.
func (s *Set) String(p *string, name, env, usage string) {
	s.fs.StringVar(p, name, *p, s.usage(env, usage))
	s.fromEnv(name, env, func(v string) error { *p = v; return nil })
}

// Secret binds a string setting that may come only from the environment (secrets never
// go on a command line, where ps would show them).
func (s *Set) Secret(p *string, env string) {
	s.pending = append(s.pending, func() error {
		if v, ok := lookup(s.getenv, env); ok {
			*p = v
		}
		return nil
	})
}

// Duration binds a time.Duration setting in Go syntax ("15m", "720h").
func (s *Set) Duration(p *time.Duration, name, env, usage string) {
	s.fs.DurationVar(p, name, *p, s.usage(env, usage))
	s.fromEnv(name, env, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("not a duration (want e.g. 15m, 720h)")
		}
		*p = d
		return nil
	})
}

// Int binds an int setting.
func (s *Set) Int(p *int, name, env, usage string) {
	s.fs.IntVar(p, name, *p, s.usage(env, usage))
	s.fromEnv(name, env, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("not an integer")
		}
		*p = n
		return nil
	})
}

// Bool binds a bool setting.
func (s *Set) Bool(p *bool, name, env, usage string) {
	s.fs.BoolVar(p, name, *p, s.usage(env, usage))
	s.fromEnv(name, env, func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("not a boolean")
		}
		*p = b
		return nil
	})
}

// List binds a comma-separated list setting; the flag may also be repeated.
func (s *Set) List(p *[]string, name, env, usage string) {
	s.fs.Var((*listValue)(p), name, s.usage(env, usage))
	s.fromEnv(name, env, func(v string) error { *p = SplitList(v); return nil })
}

// SplitList splits a comma-separated list, trimming blanks and dropping empty items.
func SplitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Strings binds a repeatable setting whose values may contain commas (a rule
// "HOST PATH ROLE,ROLE"): each flag occurrence is one value, as given; the
// environment variable holds the values separated by sep.
func (s *Set) Strings(p *[]string, name, env, sep, usage string) {
	s.fs.Var((*stringsValue)(p), name, s.usage(env, usage))
	s.fromEnv(name, env, func(v string) error {
		*p = nil
		for item := range strings.SplitSeq(v, sep) {
			if item = strings.TrimSpace(item); item != "" {
				*p = append(*p, item)
			}
		}
		return nil
	})
}

type stringsValue []string

func (l *stringsValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, "; ")
}

func (l *stringsValue) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (l *stringsValue) reset() { *l = nil }

type listValue []string

func (l *listValue) reset() { *l = nil }

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(v string) error {
	*l = append(*l, SplitList(v)...)
	return nil
}

// Parse applies the environment, then the flags in args. It returns ErrHelp for -h.
// The first bad value ends parsing with an error that names the setting.
func (s *Set) Parse(args []string) error {
	for _, apply := range s.pending {
		if err := apply(); err != nil {
			return err
		}
	}
	// A list flag given on the command line replaces, not extends, the env value.
	seen := map[string]bool{}
	s.fs.VisitAll(func(f *flag.Flag) {
		if lv, ok := f.Value.(resettable); ok {
			f.Value = &resetList{lv: lv, seen: seen, name: f.Name}
		}
	})
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return err
	}
	return nil
}

// resettable is a list flag (List, Strings).
type resettable interface {
	flag.Value
	reset()
}

type resetList struct {
	lv   resettable
	seen map[string]bool
	name string
}

func (r *resetList) String() string { return r.lv.String() }
func (r *resetList) Set(v string) error {
	if !r.seen[r.name] {
		r.seen[r.name] = true
		r.lv.reset()
	}
	return r.lv.Set(v)
}

// Args returns the arguments left after the flags.
func (s *Set) Args() []string { return s.fs.Args() }

// PrintDefaults writes every flag with its variable and default to w.
func (s *Set) PrintDefaults(w io.Writer) {
	s.fs.SetOutput(w)
	s.fs.PrintDefaults()
	s.fs.SetOutput(io.Discard)
}

// Invalid builds the one-line error for a setting that parsed but is not acceptable.
func Invalid(setting string, format string, args ...any) error {
	return fmt.Errorf("invalid %s: %s", setting, fmt.Sprintf(format, args...))
}

// Annotate rewrites an error from Invalid that names a setting by its flag name
// ("invalid access-ttl: …") to name the flag and its variable
// ("invalid --access-ttl (ACCESS_TOKEN_TTL): …"), so operators find it either way.
func (s *Set) Annotate(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "invalid ")
	if !ok {
		return err
	}
	name, detail, ok := strings.Cut(rest, ": ")
	if !ok || s.fs.Lookup(name) == nil {
		return err
	}
	label := "--" + name
	if env := s.envOf[name]; env != "" {
		label += " (" + env + ")"
	}
	return fmt.Errorf("invalid %s: %s", label, detail)
}

// Prefixes parses a list of CIDRs (a bare address means just that address), for
// settings such as trusted proxies; the error names the setting.
func Prefixes(setting string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, Invalid(setting, "%q is not a CIDR or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
