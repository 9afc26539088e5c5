package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vexen/vexen-auth/pkg/config"
)

func Example() {
	cfg := struct {
		Listen string
		TTL    time.Duration
	}{Listen: ":8080", TTL: 15 * time.Minute} // the defaults

	env := map[string]string{"ACCESS_TOKEN_TTL": "5m"}
	s := config.New("issuer", func(k string) string { return env[k] })
	s.String(&cfg.Listen, "listen", "ISSUER_LISTEN", "address to serve on")
	s.Duration(&cfg.TTL, "access-ttl", "ACCESS_TOKEN_TTL", "access token lifetime")
	if err := s.Parse([]string{"--listen", ":9090"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Listen, cfg.TTL)
	// Output: :9090 5m0s
}

// A configuration file sets what the environment and the flags leave alone.
func ExampleSet_ConfigFile() {
	dir, err := os.MkdirTemp("", "config-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "verifier.yaml")
	if err := os.WriteFile(file, []byte("listen: \":8081\"\nrule:\n  - \"* /ops ops,admin\"\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	var listen string
	var rules []string
	s := config.New("verifier", func(k string) string { return map[string]string{"VEXEN_CONFIG": file}[k] })
	s.String(&listen, "listen", "VERIFIER_LISTEN", "address to serve on")
	s.Strings(&rules, "rule", "VERIFIER_RULES", ";", "access rule")
	s.ConfigFile()
	if err := s.Parse(nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(listen, rules)
	// Output: :8081 [* /ops ops,admin]
}
