package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

type settings struct {
	Listen string
	TTL    time.Duration
	N      int
	On     bool
	Hosts  []string
	Secret string
}

func bind(s *Set, c *settings) {
	s.String(&c.Listen, "listen", "T_LISTEN", "address")
	s.Duration(&c.TTL, "ttl", "T_TTL", "lifetime")
	s.Int(&c.N, "n", "T_N", "count")
	s.Bool(&c.On, "on", "T_ON", "switch")
	s.List(&c.Hosts, "hosts", "T_HOSTS", "hosts")
	s.Secret(&c.Secret, "T_SECRET")
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOrderDefaultEnvFlag(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want settings
	}{
		{"defaults", nil, nil, settings{Listen: ":1", TTL: time.Minute, Hosts: []string{"a"}}},
		{"env", map[string]string{"T_LISTEN": ":2", "T_TTL": "15m", "T_N": "3", "T_ON": "true", "T_HOSTS": "x, y,,", "T_SECRET": "s3"},
			nil, settings{Listen: ":2", TTL: 15 * time.Minute, N: 3, On: true, Hosts: []string{"x", "y"}, Secret: "s3"}},
		{"flag wins", map[string]string{"T_LISTEN": ":2", "T_HOSTS": "x"}, []string{"--listen", ":3", "--hosts", "p", "--hosts", "q,r"},
			settings{Listen: ":3", TTL: time.Minute, Hosts: []string{"p", "q", "r"}}},
		{"empty env is unset", map[string]string{"T_LISTEN": ""}, nil, settings{Listen: ":1", TTL: time.Minute, Hosts: []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := settings{Listen: ":1", TTL: time.Minute, Hosts: []string{"a"}}
			s := New("t", env(tt.env))
			bind(s, &c)
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if c.Listen != tt.want.Listen || c.TTL != tt.want.TTL || c.N != tt.want.N || c.On != tt.want.On ||
				strings.Join(c.Hosts, "|") != strings.Join(tt.want.Hosts, "|") || c.Secret != tt.want.Secret {
				t.Fatalf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"T_TTL": "15 minutes"}, nil, "T_TTL"},
		{map[string]string{"T_N": "many"}, nil, "T_N"},
		{map[string]string{"T_ON": "perhaps"}, nil, "T_ON"},
		{nil, []string{"--ttl", "soon"}, "ttl"},
		{nil, []string{"--nope"}, "nope"},
	}
	for _, tt := range tests {
		var c settings
		s := New("t", env(tt.env))
		bind(s, &c)
		err := s.Parse(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("env %v args %v: error %v, want one line naming %s", tt.env, tt.args, err, tt.want)
		}
	}
}

func TestSecretValuesAreNotEchoed(t *testing.T) {
	var key string
	s := New("t", env(map[string]string{"T_KEY_SIZE": "secretvalue"}))
	n := 0
	s.Int(&n, "key-size", "T_KEY_SIZE", "")
	_ = key
	err := s.Parse(nil)
	if err == nil || strings.Contains(err.Error(), "secretvalue") {
		t.Fatalf("error %v echoes a value of a KEY variable", err)
	}
}

func TestHelpListsVariables(t *testing.T) {
	var c settings
	s := New("t", nil)
	bind(s, &c)
	if err := s.Parse([]string{"--help"}); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	var b bytes.Buffer
	s.PrintDefaults(&b)
	for _, v := range []string{"T_LISTEN", "T_TTL", "T_HOSTS", "-listen"} {
		if !strings.Contains(b.String(), v) {
			t.Errorf("help lacks %s:\n%s", v, b.String())
		}
	}
}

func TestAnnotateNamesFlagAndVariable(t *testing.T) {
	var c settings
	s := New("t", nil)
	bind(s, &c)
	got := s.Annotate(Invalid("ttl", "%v is too short", time.Second)).Error()
	if got != "invalid --ttl (T_TTL): 1s is too short" {
		t.Fatalf("got %q", got)
	}
	if got := s.Annotate(Invalid("T_SECRET", "missing")).Error(); got != "invalid T_SECRET: missing" {
		t.Fatalf("got %q", got)
	}
}

func TestPrefixes(t *testing.T) {
	got, err := Prefixes("TRUSTED_PROXIES", []string{"10.0.0.7/8", "::1", "192.168.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "::1/128", "192.168.1.1/32"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	if _, err := Prefixes("TRUSTED_PROXIES", []string{"everyone"}); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES") {
		t.Fatalf("bad CIDR: %v", err)
	}
}

// TestStrings: a Strings flag keeps commas inside a value (issue 9: --rule
// "* /ops ops,admin" was split in two by the comma-separated List flag), reads the
// environment split by its separator, and a flag replaces the environment's values.
func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want []string
	}{
		{"", []string{"--rule", "* /ops ops,admin"}, []string{"* /ops ops,admin"}},
		{"", []string{"--rule", "* /ops ops,admin", "--rule", "a.example.com / *"}, []string{"* /ops ops,admin", "a.example.com / *"}},
		{"* /a x,y; * /b z ;", nil, []string{"* /a x,y", "* /b z"}},
		{"* /a x,y", []string{"--rule", "* /c c"}, []string{"* /c c"}},
	} {
		var rules []string
		s := New("t", env(map[string]string{"T_RULES": tc.env}))
		s.Strings(&rules, "rule", "T_RULES", ";", "rules")
		if err := s.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if strings.Join(rules, "|") != strings.Join(tc.want, "|") || len(rules) != len(tc.want) {
			t.Errorf("env %q args %q: %q, want %q", tc.env, tc.args, rules, tc.want)
		}
	}
}
