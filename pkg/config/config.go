// Package config binds settings to command-line flags, environment variables and a
// YAML configuration file, in one order: the default in the program's config struct,
// then the file (--config FILE or VEXEN_CONFIG, keys are the long flag names), then
// the environment variable, then the flag (the flag wins). Every flag's usage line
// names its variable, so --help documents both. Secrets may also come from a file
// named by the variable with a _FILE suffix (DATABASE_URL_FILE …).
//
// A bad value is reported as a one-line error that names the setting (and, for the
// configuration file, the file, line and key); programs exit with status 2 on it,
// before opening any port.
//
// The binder stays hand-written rather than built on a flag/env/file library
// (spf13/viper, knadh/koanf, peterbourgon/ff): none of them both rejects unknown
// keys with their line, keeps a repeatable flag's values intact when they contain
// commas, and refuses X together with X_FILE, which the contract asks for; the file
// support below is one function over the same per-setting decoders the environment
// uses, so a value means the same thing wherever it comes from.
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

	yaml "go.yaml.in/yaml/v3"
)

// ErrHelp is returned by Parse when -h or --help was asked for.
var ErrHelp = flag.ErrHelp

// Set is a flag.FlagSet whose flags can also come from environment variables and
// a configuration file.
type Set struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	envOf   map[string]string             // flag name → variable
	decode  map[string]func(string) error // flag name → decoder of one value (env syntax)
	pending []func() error                // env decoders, run by Parse
	config  string                        // the file flag's value (--config); "" = none
	fileKey map[string]bool               // flags the file may set; nil = no --config
}

// ConfigEnv is the variable naming the configuration file when --config is absent.
const ConfigEnv = "VEXEN_CONFIG"

// maxSecretFile bounds what a *_FILE variable may point at.
const maxSecretFile = 64 << 10

// New returns a Set named after the program. getenv is usually os.Getenv; tests pass
// their own.
func New(name string, getenv func(string) string) *Set {
	if getenv == nil {
		getenv = os.Getenv
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Set{fs: fs, getenv: getenv, envOf: map[string]string{}, decode: map[string]func(string) error{}}
}

// ConfigFile adds --config FILE (env VEXEN_CONFIG): a YAML mapping whose keys are the
// long names of the flags bound so far (flags bound later, such as a subcommand's
// --email, stay command-line only). Call it after the program's settings are bound.
func (s *Set) ConfigFile() {
	s.fileKey = map[string]bool{}
	s.fs.VisitAll(func(f *flag.Flag) { s.fileKey[f.Name] = true })
	s.fs.StringVar(&s.config, "config", "", s.usage(ConfigEnv, "YAML file of settings, keyed by long flag name (precedence: flag > environment > file > default)"))
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
	s.decode[name] = set
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
// go on a command line, where ps would show them): ENV, or the content of the file
// ENV_FILE names.
func (s *Set) Secret(p *string, env string) {
	s.pending = append(s.pending, func() error {
		v, ok, err := s.lookupSecret(env)
		if ok {
			*p = v
		}
		return err
	})
}

// SecretString binds a string setting like String whose variable may also be given
// as ENV_FILE, a file holding the value (DATABASE_URL_FILE for a URL with a password).
func (s *Set) SecretString(p *string, name, env, usage string) {
	s.fs.StringVar(p, name, *p, usage+" (env "+env+" or "+env+"_FILE)")
	s.decode[name] = func(v string) error { *p = v; return nil }
	s.envOf[name] = env
	s.pending = append(s.pending, func() error {
		v, ok, err := s.lookupSecret(env)
		if ok {
			*p = v
		}
		return err
	})
}

// lookupSecret reads env, or the file env_FILE names (its content without the
// trailing line ending). Setting both is an error; the value is never in an error.
func (s *Set) lookupSecret(env string) (string, bool, error) {
	v, ok := lookup(s.getenv, env)
	path, fromFile := lookup(s.getenv, env+"_FILE")
	if !fromFile {
		return v, ok, nil
	}
	if ok {
		return "", false, fmt.Errorf("invalid %s_FILE: %s is set too; set one of them", env, env)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("invalid %s_FILE: %v", env, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", false, fmt.Errorf("invalid %s_FILE: reading %s: %v", env, path, err)
	}
	if len(b) > maxSecretFile {
		return "", false, fmt.Errorf("invalid %s_FILE: %s is larger than %d bytes", env, path, maxSecretFile)
	}
	v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", false, fmt.Errorf("invalid %s_FILE: %s is empty", env, path)
	}
	return v, true, nil
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

// Parse applies the configuration file (when ConfigFile was called and one is
// named), the environment, then the flags in args. It returns ErrHelp for -h.
// The first bad value ends parsing with an error that names the setting.
func (s *Set) Parse(args []string) error {
	if s.helpAsked(args) {
		// --help works whatever the file and the environment hold.
		s.fs.Parse(args)
		return ErrHelp
	}
	if s.fileKey != nil {
		path, err := s.configPath(args)
		if err != nil {
			return err
		}
		if path != "" {
			if err := s.applyFile(path); err != nil {
				return err
			}
		}
	}
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

// preFlags walks the flags in args as flag.Parse will (up to "--" or the first
// argument that is neither a flag nor a flag's value), before they are parsed:
// visit gets each flag's name and its value ("" and false for a bool flag or
// the last argument), and stops the walk by returning true.
func (s *Set) preFlags(args []string, visit func(name, val string, hasVal bool) bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := s.fs.Lookup(name); f != nil && !hasVal && !isBool(f) && i+1 < len(args) {
			i++
			val, hasVal = args[i], true
		}
		if visit(name, val, hasVal) {
			return
		}
	}
}

// configPath finds --config in args (before the flags are parsed, since the file
// comes first in precedence), else VEXEN_CONFIG.
func (s *Set) configPath(args []string) (path string, err error) {
	found := false
	s.preFlags(args, func(name, val string, hasVal bool) bool {
		if name != "config" {
			return false
		}
		found = true
		if path = val; !hasVal {
			err = errors.New("flag needs an argument: -config")
		}
		return true
	})
	if !found {
		path, _ = lookup(s.getenv, ConfigEnv)
	}
	return path, err
}

// helpAsked reports -h, -help or --help among the flags in args.
func (s *Set) helpAsked(args []string) (asked bool) {
	s.preFlags(args, func(name, _ string, _ bool) bool {
		asked = name == "h" || name == "help"
		return asked
	})
	return asked
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// maxConfigFile bounds the configuration file.
const maxConfigFile = 1 << 20

// applyFile sets every key of the YAML mapping in path. A scalar is decoded as
// the environment variable's value would be; a sequence is allowed for list
// flags only, each item one value as if the flag were repeated. Errors are one
// line: "config FILE:LINE: key "K": …".
func (s *Set) applyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return fmt.Errorf("config %s: %v", path, err)
	}
	if len(b) > maxConfigFile {
		return fmt.Errorf("config %s: larger than %d bytes", path, maxConfigFile)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config %s: %s", path, oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s:%d: want a mapping of flag names to values", path, root.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := func(n *yaml.Node, format string, args ...any) error {
			return fmt.Errorf("config %s:%d: key %q: %s", path, n.Line, k.Value, fmt.Sprintf(format, args...))
		}
		if k.Kind != yaml.ScalarNode || !s.fileKey[k.Value] {
			return at(k, "unknown key (keys are the long flag names of %s --help)", s.fs.Name())
		}
		if seen[k.Value] {
			return at(k, "given twice")
		}
		seen[k.Value] = true
		fl := s.fs.Lookup(k.Value)
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias // key: *anchor
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if err := s.decode[k.Value](v.Value); err != nil {
				return at(v, "%v", err)
			}
		case yaml.SequenceNode:
			lv, ok := fl.Value.(resettable)
			if !ok {
				return at(v, "want a single value, not a list")
			}
			lv.reset()
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return at(item, "want a list of plain values")
				}
				if err := lv.Set(item.Value); err != nil {
					return at(item, "%v", err)
				}
			}
		default:
			return at(v, "want a value, not a mapping")
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

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
