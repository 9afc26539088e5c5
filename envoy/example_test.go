package envoy_test

import (
	"fmt"
	"log"
	"os"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/vexen/vexen-auth/pkg/extauthz/envoyconfig"
)

// Check a bootstrap the way the tests check the samples, and list its HTTP filters.
func Example() {
	data, err := os.ReadFile("envoy-grpc.yaml")
	if err != nil {
		log.Fatal(err)
	}
	b, err := envoyconfig.Load(data) // strict decode, validation inside every Any, structural checks
	if err != nil {
		log.Fatal(err)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		log.Fatal(err)
	}
	for _, f := range hcm.GetHttpFilters() {
		fmt.Println(f.GetName())
	}
	// Output:
	// vexen.strip_identity_headers
	// envoy.filters.http.ext_authz
	// envoy.filters.http.router
}
