package config_test

import (
	"fmt"
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
