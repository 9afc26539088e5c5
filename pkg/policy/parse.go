package policy

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds a policy file.
const MaxFileBytes = 4 << 20

// Error lists the problems of a policy, one "FILE:LINE: message" each. It matches
// ErrInvalid.
type Error struct {
	File     string
	Problems []Problem
}

// Problem is one error in a policy file.
type Problem struct {
	Line int // 0 when not tied to a line
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
		b.WriteString(p.Msg)
	}
	return b.String()
}

func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Load reads and compiles the policy file at path.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: path, Problems: []Problem{{Msg: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}}}
	}
	return Parse(path, data)
}

// Parse compiles a policy from YAML. name is the file name shown in errors. Every
// problem is reported (not only the first), each with its line: unknown keys,
// wrong types, bad hosts, paths, methods, networks, actions and roles. Rules that
// an earlier rule shadows are not errors but Warnings.
//
//	default: authenticated        # or deny
//	rules:
//	  - name: probes
//	    hosts: [app.example.com, "*.example.org"]
//	    paths: [/healthz, "/public/**", "/api/*/status"]
//	    methods: [GET, HEAD]
//	    networks: [10.0.0.0/8]
//	    action: public            # public | authenticated | deny
//	    roles: [admin, ops]       # authenticated only
//	    mfa: true                 # authenticated only
func Parse(name string, data []byte) (*Policy, error) {
	e := &Error{File: name}
	errf := func(line int, format string, args ...any) {
		e.Problems = append(e.Problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if n, m, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(n); err == nil {
					line, msg = l, m
				}
			}
		}
		if err.Error() == "EOF" {
			msg = "empty file (want at least default: or rules:)"
		}
		errf(line, "%s", msg)
		return nil, e
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errf(extra.Line, "a second YAML document: a policy is one document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		errf(root.Line, "want a mapping with default: and rules:")
		return nil, e
	}
	def := Authenticated
	var specs []ruleSpec
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			errf(k.Line, "%s: already set at line %d", k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "default":
			s, ok := scalar(v, errf, "default")
			if !ok {
				continue
			}
			a, ok := parseAction(s)
			if !ok || a == Public {
				errf(v.Line, "default %q: want authenticated or deny", s)
				continue
			}
			def = a
		case "rules":
			if v.Kind != yaml.SequenceNode {
				if !isNull(v) {
					errf(v.Line, "rules: want a list of rules")
				}
				continue
			}
			for _, rn := range v.Content {
				if s, ok := parseRule(rn, errf); ok {
					specs = append(specs, s)
				}
			}
		default:
			errf(k.Line, "unknown key %q (want default or rules)", k.Value)
		}
	}
	p := compile(def, specs, errf)
	if len(e.Problems) > 0 {
		sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
		return nil, e
	}
	for i, w := range p.warnings {
		p.warnings[i] = name + ": " + w
	}
	p.sum = sha256.Sum256(data)
	return p, nil
}

var ruleKeys = []string{"name", "hosts", "paths", "methods", "networks", "action", "roles", "mfa"}

func parseRule(n *yaml.Node, errf func(int, string, ...any)) (ruleSpec, bool) {
	s := ruleSpec{line: n.Line, has: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		errf(n.Line, "a rule must be a mapping (name:, hosts:, paths:, methods:, networks:, action:, roles:, mfa:)")
		return s, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, dup := s.has[k.Value]; dup {
			errf(k.Line, "%s: already set at line %d", k.Value, prev)
			continue
		}
		switch k.Value {
		case "name":
			s.name, _ = scalar(v, errf, "name")
		case "hosts":
			s.hosts = list(v, errf, "hosts")
		case "paths":
			s.paths = list(v, errf, "paths")
		case "methods":
			s.methods = list(v, errf, "methods")
		case "networks":
			s.networks = list(v, errf, "networks")
		case "action":
			s.action, _ = scalar(v, errf, "action")
		case "roles":
			s.roles = list(v, errf, "roles")
		case "mfa":
			b, ok := scalar(v, errf, "mfa")
			if !ok {
				break
			}
			switch b {
			case "true":
				s.mfa = true
			case "false":
			default:
				errf(v.Line, "mfa %q: want true or false", b)
			}
		default:
			errf(k.Line, "unknown key %q in rule (want one of %s)", k.Value, strings.Join(ruleKeys, ", "))
			continue
		}
		s.has[k.Value] = v.Line
	}
	return s, true
}

func isNull(v *yaml.Node) bool { return v.Kind == yaml.ScalarNode && v.Tag == "!!null" }

func scalar(v *yaml.Node, errf func(int, string, ...any), key string) (string, bool) {
	if v.Kind != yaml.ScalarNode || isNull(v) {
		errf(v.Line, "%s: want a single value", key)
		return "", false
	}
	return v.Value, true
}

// list reads a sequence of scalars; a single scalar is taken as a list of one.
func list(v *yaml.Node, errf func(int, string, ...any), key string) []string {
	if v.Kind == yaml.ScalarNode && !isNull(v) {
		return []string{v.Value}
	}
	if v.Kind != yaml.SequenceNode {
		errf(v.Line, "%s: want a list", key)
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode || isNull(item) {
			errf(item.Line, "%s: each item must be a single value", key)
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

// FromRules compiles the verifier's --rule lines ("HOST PATH_PREFIX ROLE[,ROLE]")
// into a policy whose default is authenticated: HOST is "*" (any), "*.parent" or
// a host; PATH_PREFIX matches that path and everything below it, by whole
// segments; ROLE "*" means any valid token. As before the policy file existed, the
// longest prefix wins, then the most specific host.
func FromRules(lines []string) (*Policy, error) {
	e := &Error{File: "--rule"}
	type parsed struct {
		spec   ruleSpec
		prefix string
		kind   int // 0 any, 1 wildcard, 2 exact
		host   string
	}
	var rs []parsed
	seen := map[[2]string]string{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 {
			e.Problems = append(e.Problems, Problem{Msg: fmt.Sprintf("%q: want \"HOST PATH_PREFIX ROLE[,ROLE]\"", line)})
			continue
		}
		s := ruleSpec{has: map[string]int{}, action: "authenticated"}
		p := parsed{}
		h := strings.ToLower(f[0])
		switch {
		case h == "*":
		case strings.HasPrefix(h, "*."):
			p.kind, p.host = 1, h
			s.hosts, s.has["hosts"] = []string{h}, 0
		default:
			p.kind, p.host = 2, h
			s.hosts, s.has["hosts"] = []string{h}, 0
		}
		prefix := f[1]
		if prefix != "/" {
			prefix = strings.TrimSuffix(prefix, "/")
		}
		if !strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "*") {
			e.Problems = append(e.Problems, Problem{Msg: fmt.Sprintf("%q: path prefix %q does not start with / (or has a *)", line, f[1])})
			continue
		}
		p.prefix = prefix
		if prefix != "/" {
			s.paths, s.has["paths"] = []string{prefix + "/**"}, 0
		}
		if f[2] != "*" {
			s.roles, s.has["roles"] = strings.Split(f[2], ","), 0
		}
		key := [2]string{h, prefix}
		if prev, dup := seen[key]; dup {
			e.Problems = append(e.Problems, Problem{Msg: fmt.Sprintf("%q: same host and path as %q", line, prev)})
			continue
		}
		seen[key] = line
		s.name = ""
		p.spec = s
		rs = append(rs, p)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if len(a.prefix) != len(b.prefix) {
			return len(a.prefix) > len(b.prefix)
		}
		if a.kind != b.kind {
			return a.kind > b.kind
		}
		return len(a.host) > len(b.host)
	})
	specs := make([]ruleSpec, len(rs))
	for i := range rs {
		specs[i] = rs[i].spec
	}
	errf := func(_ int, format string, args ...any) {
		e.Problems = append(e.Problems, Problem{Msg: fmt.Sprintf(format, args...)})
	}
	p := compile(Authenticated, specs, errf)
	if len(e.Problems) > 0 {
		return nil, e
	}
	return p, nil
}
