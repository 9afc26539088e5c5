package config

import (
	"bytes"
	"errors"
	"os"
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

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type fileSettings struct {
	settings
	Rules []string
	Email string
}

func bindFile(s *Set, c *fileSettings) {
	bind(s, &c.settings)
	s.Strings(&c.Rules, "rule", "T_RULES", ";", "rules")
	s.ConfigFile()
	s.String(&c.Email, "email", "", "command-line only")
}

func TestConfigFilePrecedence(t *testing.T) {
	file := writeFile(t, "c.yaml", "listen: \":7\"\nttl: 2h\nn: 4\non: true\nhosts: [f1, \"f2,f3\"]\nrule:\n  - \"a.example / admin,ops\"\n  - \"b.example /x user\"\n")
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		want  settings
		rules string
	}{
		{"file over default", nil, []string{"--config", file},
			settings{Listen: ":7", TTL: 2 * time.Hour, N: 4, On: true, Hosts: []string{"f1", "f2", "f3"}}, "a.example / admin,ops|b.example /x user"},
		{"file from VEXEN_CONFIG", map[string]string{"VEXEN_CONFIG": file}, nil,
			settings{Listen: ":7", TTL: 2 * time.Hour, N: 4, On: true, Hosts: []string{"f1", "f2", "f3"}}, "a.example / admin,ops|b.example /x user"},
		{"env over file", map[string]string{"T_LISTEN": ":8", "T_HOSTS": "e", "T_RULES": "c / r"}, []string{"--config=" + file},
			settings{Listen: ":8", TTL: 2 * time.Hour, N: 4, On: true, Hosts: []string{"e"}}, "c / r"},
		{"flag over env over file", map[string]string{"T_LISTEN": ":8", "T_N": "5"}, []string{"--n", "6", "--config", file, "--listen", ":9", "--rule", "d / s"},
			settings{Listen: ":9", TTL: 2 * time.Hour, N: 6, On: true, Hosts: []string{"f1", "f2", "f3"}}, "d / s"},
		{"flag --config over VEXEN_CONFIG", map[string]string{"VEXEN_CONFIG": "/nonexistent"}, []string{"-config", file},
			settings{Listen: ":7", TTL: 2 * time.Hour, N: 4, On: true, Hosts: []string{"f1", "f2", "f3"}}, "a.example / admin,ops|b.example /x user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fileSettings{settings: settings{Listen: ":1", TTL: time.Minute, Hosts: []string{"a"}}}
			s := New("t", env(tt.env))
			bindFile(s, &c)
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if c.Listen != tt.want.Listen || c.TTL != tt.want.TTL || c.N != tt.want.N || c.On != tt.want.On ||
				strings.Join(c.Hosts, "|") != strings.Join(tt.want.Hosts, "|") {
				t.Fatalf("got %+v, want %+v", c.settings, tt.want)
			}
			if got := strings.Join(c.Rules, "|"); got != tt.rules {
				t.Fatalf("rules %q, want %q", got, tt.rules)
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string // each in the one-line error
	}{
		{"unknown key", "listen: \":1\"\nlisten-addr: \":2\"\n", []string{"c.yaml:2:", `key "listen-addr"`, "unknown key"}},
		{"command-line only flag", "email: a@b\n", []string{"c.yaml:1:", `key "email"`, "unknown key"}},
		{"config in config", "config: other.yaml\n", []string{`key "config"`, "unknown key"}},
		{"wrong type list for scalar", "\n\nlisten: [a, b]\n", []string{"c.yaml:3:", `key "listen"`, "single value"}},
		{"mapping value", "ttl:\n  h: 1\n", []string{"c.yaml:2:", `key "ttl"`, "not a mapping"}},
		{"bad duration", "ttl: soon\n", []string{"c.yaml:1:", `key "ttl"`, "not a duration"}},
		{"bad int", "n: 1.5\n", []string{`key "n"`, "not an integer"}},
		{"bad bool", "on: maybe\n", []string{`key "on"`, "not a boolean"}},
		{"nested list", "hosts: [[a]]\n", []string{`key "hosts"`, "plain values"}},
		{"twice", "n: 1\nn: 2\n", []string{"c.yaml:2:", "given twice"}},
		{"not a mapping", "- a\n- b\n", []string{"c.yaml:1:", "want a mapping"}},
		{"syntax", "listen: \":1\n", []string{"c.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "c.yaml", tt.content)
			var c fileSettings
			s := New("t", env(nil))
			bindFile(s, &c)
			err := s.Parse([]string{"--config", file})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		var c fileSettings
		s := New("t", env(map[string]string{"VEXEN_CONFIG": "/nonexistent/vexen.yaml"}))
		bindFile(s, &c)
		if err := s.Parse(nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/vexen.yaml") {
			t.Fatalf("got %v, want an error naming the file", err)
		}
	})
	t.Run("no --config without ConfigFile", func(t *testing.T) {
		var c settings
		s := New("t", env(map[string]string{"VEXEN_CONFIG": "/nonexistent/vexen.yaml"}))
		bind(s, &c)
		if err := s.Parse(nil); err != nil {
			t.Fatalf("a set without ConfigFile read VEXEN_CONFIG: %v", err)
		}
		if err := s.Parse([]string{"--config", "x"}); err == nil {
			t.Fatal("--config accepted by a set without ConfigFile")
		}
	})
}

func TestSecretFromFile(t *testing.T) {
	const secret = "s3cr3t-value"
	good := writeFile(t, "secret", secret+"\n")
	crlf := writeFile(t, "crlf", secret+"\r\n")
	empty := writeFile(t, "empty", "\n")
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"variable", map[string]string{"T_SECRET": secret}, secret, ""},
		{"file, newline trimmed", map[string]string{"T_SECRET_FILE": good}, secret, ""},
		{"file, CRLF trimmed", map[string]string{"T_SECRET_FILE": crlf}, secret, ""},
		{"both", map[string]string{"T_SECRET": secret, "T_SECRET_FILE": good}, "", "T_SECRET_FILE: T_SECRET is set too"},
		{"unreadable", map[string]string{"T_SECRET_FILE": "/nonexistent/secret"}, "", "invalid T_SECRET_FILE"},
		{"empty", map[string]string{"T_SECRET_FILE": empty}, "", "invalid T_SECRET_FILE"},
	}
	for _, tt := range tests {
		for _, kind := range []string{"Secret", "SecretString"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				var got string
				s := New("t", env(tt.env))
				if kind == "Secret" {
					s.Secret(&got, "T_SECRET")
				} else {
					s.SecretString(&got, "secret", "T_SECRET", "a URL")
				}
				err := s.Parse(nil)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("got %v, want %q", err, tt.wantErr)
					}
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error prints the secret: %v", err)
					}
					return
				}
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	}
	t.Run("flag wins over file", func(t *testing.T) {
		var got string
		s := New("t", env(map[string]string{"T_SECRET_FILE": good}))
		s.SecretString(&got, "secret", "T_SECRET", "a URL")
		if err := s.Parse([]string{"--secret", "flag"}); err != nil || got != "flag" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}

// A YAML alias is read as the value it points at.
func TestConfigFileAlias(t *testing.T) {
	file := writeFile(t, "c.yaml", "hosts: &h [a.example, b.example]\nlisten: &l \":5\"\nrule: *h\n")
	var c fileSettings
	s := New("t", env(nil))
	bindFile(s, &c)
	if err := s.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Rules, "|"); got != "a.example|b.example" || c.Listen != ":5" {
		t.Fatalf("rules %q listen %q", got, c.Listen)
	}
}
