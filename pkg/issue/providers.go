package issue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Provider is one OpenID Connect provider of the providers file (--providers): see
// the "Federated sign-in" section of docs/CONTRACT.md.
type Provider struct {
	ID               string            `yaml:"id"`   // [a-z0-9-]+, used in URLs
	Name             string            `yaml:"name"` // the button; default the id
	Issuer           string            `yaml:"issuer"`
	ClientID         string            `yaml:"client_id"`
	ClientSecret     Secret            `yaml:"client_secret"`
	ClientSecretFile string            `yaml:"client_secret_file"`
	Scopes           []string          `yaml:"scopes"` // default openid, email, profile
	AllowedDomains   []string          `yaml:"allowed_domains"`
	RolesClaim       string            `yaml:"roles_claim"`
	Roles            map[string]string `yaml:"roles"`
	DefaultRoles     []string          `yaml:"default_roles"`
	CreateUsers      bool              `yaml:"create_users"`
}

// ManagesRoles reports whether sign-in through p sets the user's roles (it has a
// roles claim or default roles); otherwise the roles an operator gave are kept.
func (p Provider) ManagesRoles() bool { return p.RolesClaim != "" || len(p.DefaultRoles) > 0 }

var providerIDRe = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// ErrProviders: the providers file is unusable; the message names the provider.
var ErrProviders = errors.New("issue: providers file")

// LoadProviders reads and validates a providers file; secrets named by
// client_secret_file are read into ClientSecret. A problem is one line naming
// the provider id and the problem.
func LoadProviders(path string) ([]Provider, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProviders, err)
	}
	ps, err := ParseProviders(b)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		p := &ps[i]
		if p.ClientSecretFile != "" {
			s, err := os.ReadFile(p.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("%w: provider %s: client_secret_file: %v", ErrProviders, p.ID, err)
			}
			p.ClientSecret = Secret(strings.TrimSpace(string(s)))
			if p.ClientSecret == "" {
				return nil, fmt.Errorf("%w: provider %s: client_secret_file %s is empty", ErrProviders, p.ID, p.ClientSecretFile)
			}
		}
	}
	return ps, nil
}

// ParseProviders parses and validates the YAML of a providers file (unknown keys
// are errors). Defaults are filled in.
func ParseProviders(b []byte) ([]Provider, error) {
	var f struct {
		Providers []Provider `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrProviders, err)
	}
	if len(f.Providers) == 0 {
		return nil, fmt.Errorf("%w: no providers listed", ErrProviders)
	}
	seen := map[string]bool{}
	for i := range f.Providers {
		p := &f.Providers[i]
		if err := p.validate(); err != nil {
			id := p.ID
			if id == "" {
				id = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("%w: provider %s: %v", ErrProviders, id, err)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("%w: provider %s: id listed twice", ErrProviders, p.ID)
		}
		seen[p.ID] = true
	}
	return f.Providers, nil
}

func (p *Provider) validate() error {
	if !providerIDRe.MatchString(p.ID) {
		return fmt.Errorf("id %q: want 1 to 64 of [a-z0-9-]", p.ID)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	u, err := url.Parse(p.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an absolute http(s) URL", p.Issuer)
	}
	if p.ClientID == "" {
		return errors.New("client_id is required")
	}
	if p.ClientSecret != "" && p.ClientSecretFile != "" {
		return errors.New("client_secret and client_secret_file are exclusive")
	}
	if p.ClientSecret == "" && p.ClientSecretFile == "" {
		return errors.New("client_secret or client_secret_file is required")
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{"openid", "email", "profile"}
	}
	if !slices.Contains(p.Scopes, "openid") {
		return errors.New("scopes must include openid")
	}
	for i, d := range p.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@/ ") {
			return fmt.Errorf("allowed_domains: %q is not a domain", d)
		}
		p.AllowedDomains[i] = d
	}
	if len(p.Roles) > 0 && p.RolesClaim == "" {
		return errors.New("roles needs roles_claim")
	}
	var all []string
	for _, r := range p.Roles {
		all = append(all, r)
	}
	if _, err := cleanRoles(append(all, p.DefaultRoles...)); err != nil {
		return fmt.Errorf("roles: %v", err)
	}
	return nil
}
