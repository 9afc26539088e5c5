package envoyconfig_test

import (
	"errors"
	"fmt"

	"github.com/vexen/vexen-auth/pkg/extauthz/envoyconfig"
)

// A bootstrap whose ext_authz filter fails open and sends gRPC over HTTP/1.1:
// both decode and pass the protos' validation rules, and Check reports them.
func ExampleCheck() {
	const bootstrap = `
static_resources:
  listeners:
  - name: ingress
    address: { socket_address: { address: 0.0.0.0, port_value: 8000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: app }
          http_filters:
          - name: strip
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
              mutations:
                request_mutations:
                - remove_on_match: { key_matcher: { prefix: x-auth- } }
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              grpc_service: { envoy_grpc: { cluster_name: verifier } }
              failure_mode_allow: true
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: verifier
    load_assignment:
      cluster_name: verifier
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9091 } } } }] }]
  - name: app
    load_assignment:
      cluster_name: app
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 3000 } } } }] }]
`
	b, err := envoyconfig.Decode([]byte(bootstrap))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("validate:", envoyconfig.Validate(b))
	err = envoyconfig.Check(b)
	fmt.Println("fails open:", errors.Is(err, envoyconfig.ErrFailOpen))
	fmt.Println("no HTTP/2:", errors.Is(err, envoyconfig.ErrNoHTTP2))
	fmt.Println("unknown cluster:", errors.Is(err, envoyconfig.ErrUnknownCluster))
	// Output:
	// validate: <nil>
	// fails open: true
	// no HTTP/2: true
	// unknown cluster: false
}
