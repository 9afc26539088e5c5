package policy_test

import (
	"fmt"
	"net/netip"

	"github.com/vexen/vexen-auth/pkg/policy"
)

func Example() {
	p, err := policy.Parse("policy.yaml", []byte(`
default: authenticated
rules:
  - name: health
    paths: [/healthz]
    action: public
  - name: admin
    hosts: [admin.example.com]
    action: authenticated
    roles: [admin]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, req := range [][3]string{
		{"GET", "app.example.com", "/healthz?probe=1"},
		{"GET", "Admin.Example.com:443", "/x/../users"},
		{"GET", "admin.example.com..", "/"},
		{"GET", "app.example.com", "/a%2Fb"},
	} {
		t, err := policy.Canonicalize(req[0], req[1], req[2])
		if err != nil {
			fmt.Println(req[1], req[2], "→ 400:", err)
			continue
		}
		r := p.Match(&t, netip.Addr{})
		q := r.Require(policy.Tighten{})
		fmt.Printf("%s %s → rule %s; no token: %s; roles [dev]: %s\n", t.Host, t.Path, r.Name,
			q.Check(false, nil, false), q.Check(true, []string{"dev"}, false))
	}
	// Output:
	// app.example.com /healthz → rule health; no token: allow (200); roles [dev]: allow (200)
	// Admin.Example.com /users → rule admin; no token: unauthenticated (401); roles [dev]: forbidden: role missing (403)
	// admin.example.com.. / → 400: policy: refused: host is not a DNS name or IP address (with an optional port and one trailing dot)
	// app.example.com /a%2Fb → 400: policy: refused: path has an encoded slash (%2F)
}
