package envoy_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"

	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/extauthz/envoyconfig"
)

var samples = []string{"envoy-grpc.yaml", "envoy-http.yaml"}

func read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSamplesLoad decodes each sample strictly, validates it with every
// typed_config unpacked, and applies the structural checks.
func TestSamplesLoad(t *testing.T) {
	for _, name := range samples {
		t.Run(name, func(t *testing.T) {
			if _, err := envoyconfig.Load([]byte(read(t, name))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// hcmOf returns the sample's only HTTP connection manager and its HTTP filters'
// configs, unpacked.
func hcmOf(t testing.TB, b *bootstrapv3.Bootstrap) (*hcmv3.HttpConnectionManager, []proto.Message) {
	t.Helper()
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 || len(ls[0].GetFilterChains()) != 1 || len(ls[0].GetFilterChains()[0].GetFilters()) != 1 {
		t.Fatalf("want one listener with one filter chain and one network filter")
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	var cfgs []proto.Message
	for _, f := range hcm.GetHttpFilters() {
		m, err := f.GetTypedConfig().UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, m)
	}
	return hcm, cfgs
}

func cluster(t testing.TB, b *bootstrapv3.Bootstrap, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no cluster %q", name)
	return nil
}

// TestSampleGRPCMatchesServer ties the gRPC sample to the server it talks to: the
// browser-mode switch, the health service name, the keepalive the server accepts,
// the identity headers stripped.
func TestSampleGRPCMatchesServer(t *testing.T) {
	b, err := envoyconfig.Load([]byte(read(t, "envoy-grpc.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	hcm, cfgs := hcmOf(t, b)
	if len(cfgs) != 3 {
		t.Fatalf("%d HTTP filters, want strip, ext_authz, router", len(cfgs))
	}
	strip, ok := cfgs[0].(*headermutationv3.HeaderMutation)
	if !ok {
		t.Fatalf("first filter is %T, want HeaderMutation", cfgs[0])
	}
	var removed []string
	for _, m := range strip.GetMutations().GetRequestMutations() {
		removed = append(removed, m.GetRemove())
	}
	want := []string{extauthz.HeaderUser, extauthz.HeaderEmail, extauthz.HeaderRoles, extauthz.HeaderSession, extauthz.HeaderAMR}
	if !slices.Equal(removed, want) {
		t.Errorf("stripped %v, want %v", removed, want)
	}
	az, ok := cfgs[1].(*extauthzv3.ExtAuthz)
	if !ok {
		t.Fatalf("second filter is %T, want ExtAuthz", cfgs[1])
	}
	if az.GetFailureModeAllow() || az.GetTransportApiVersion() != corev3.ApiVersion_V3 || az.GetWithRequestBody() != nil {
		t.Errorf("ext_authz: failure_mode_allow %v, transport %v, body %v", az.GetFailureModeAllow(), az.GetTransportApiVersion(), az.GetWithRequestBody())
	}
	if az.GetStatusOnError().GetCode() != 503 {
		t.Errorf("status_on_error %v, want 503", az.GetStatusOnError().GetCode())
	}
	// The headers the server reads must be among those Envoy sends.
	for _, h := range []string{"authorization", "cookie", "accept", "sec-fetch-mode", "x-requested-with"} {
		found := false
		for _, p := range az.GetAllowedHeaders().GetPatterns() {
			found = found || p.GetExact() == h
		}
		if !found {
			t.Errorf("allowed_headers does not send %q, which the gRPC server reads", h)
		}
	}

	// Browser mode is switched on by the context extension the server reads.
	routes := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()
	modes := map[string]string{}
	for _, r := range routes {
		mode := extauthz.ModeAPI
		if a, ok := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"]; ok {
			pr := &extauthzv3.ExtAuthzPerRoute{}
			if err := a.UnmarshalTo(pr); err != nil {
				t.Fatal(err)
			}
			if v, ok := pr.GetCheckSettings().GetContextExtensions()[extauthz.ModeKey]; ok {
				mode = v
			}
		}
		modes[r.GetMatch().GetPrefix()] = mode
	}
	if modes["/api/"] != extauthz.ModeAPI || modes["/"] != extauthz.ModeBrowser {
		t.Errorf("route modes %v, want /api/ api and / browser", modes)
	}

	c := cluster(t, b, "vexen_verifier_grpc")
	if got := c.GetHealthChecks()[0].GetGrpcHealthCheck().GetServiceName(); got != extauthz.ServiceName {
		t.Errorf("gRPC health check asks for %q, the server reports %q", got, extauthz.ServiceName)
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(opts); err != nil {
		t.Fatal(err)
	}
	ka := opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions().GetConnectionKeepalive()
	if ka.GetInterval().AsDuration() < extauthz.MinPingInterval {
		t.Errorf("keepalive interval %v is shorter than the server accepts (%v): it would be disconnected",
			ka.GetInterval().AsDuration(), extauthz.MinPingInterval)
	}
}

// TestSampleHTTP checks what the HTTP sample promises in its comments.
func TestSampleHTTP(t *testing.T) {
	b, err := envoyconfig.Load([]byte(read(t, "envoy-http.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	_, cfgs := hcmOf(t, b)
	if len(cfgs) != 3 {
		t.Fatalf("%d HTTP filters, want strip, ext_authz, router", len(cfgs))
	}
	az, ok := cfgs[1].(*extauthzv3.ExtAuthz)
	if !ok {
		t.Fatalf("second filter is %T, want ExtAuthz", cfgs[1])
	}
	hs := az.GetHttpService()
	if hs.GetPathPrefix() != "/auth" || hs.GetServerUri().GetCluster() != "vexen_verifier_http" {
		t.Errorf("http_service: prefix %q cluster %q", hs.GetPathPrefix(), hs.GetServerUri().GetCluster())
	}
	var client []string
	for _, p := range hs.GetAuthorizationResponse().GetAllowedClientHeaders().GetPatterns() {
		client = append(client, p.GetExact())
	}
	for _, h := range []string{"www-authenticate", "location", "content-type"} {
		if !slices.Contains(client, h) {
			t.Errorf("allowed_client_headers lacks %q: the verifier's 401/302 would lose it", h)
		}
	}
	if az.GetFailureModeAllow() || az.GetStatusOnError().GetCode() != 503 || az.GetWithRequestBody() != nil {
		t.Errorf("ext_authz: failure_mode_allow %v, status_on_error %v, body %v", az.GetFailureModeAllow(), az.GetStatusOnError().GetCode(), az.GetWithRequestBody())
	}
	if got := cluster(t, b, "vexen_verifier_http").GetHealthChecks()[0].GetHttpHealthCheck().GetPath(); got != "/readyz" {
		t.Errorf("HTTP health check path %q, want the verifier's /readyz", got)
	}
}

// sentinels is every error envoyconfig reports; a broken copy must produce exactly
// the expected ones.
var sentinels = map[string]error{
	"decode":            envoyconfig.ErrDecode,
	"invalid":           envoyconfig.ErrInvalid,
	"unknown-cluster":   envoyconfig.ErrUnknownCluster,
	"duplicate-cluster": envoyconfig.ErrDuplicateCluster,
	"router-not-last":   envoyconfig.ErrRouterNotLast,
	"no-ext-authz":      envoyconfig.ErrNoExtAuthz,
	"fail-open":         envoyconfig.ErrFailOpen,
	"no-http2":          envoyconfig.ErrNoHTTP2,
	"transport-version": envoyconfig.ErrTransportVersion,
	"request-body":      envoyconfig.ErrRequestBody,
	"path-prefix":       envoyconfig.ErrPathPrefix,
	"identity-headers":  envoyconfig.ErrIdentityHeaders,
	"upstream-headers":  envoyconfig.ErrUpstreamHeaders,
	"per-filter-config": envoyconfig.ErrPerFilterConfig,
	"forwarded-headers": envoyconfig.ErrForwardedHeaders,
}

func found(err error) []string {
	var out []string
	for name, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// edit is one textual change to a sample; old must occur exactly once, so a
// mutation cannot silently stop applying when the sample changes.
type edit struct{ old, new string }

func mutate(t testing.TB, src string, edits ...edit) string {
	t.Helper()
	for _, e := range edits {
		if n := strings.Count(src, e.old); n != 1 {
			t.Fatalf("mutation target occurs %d times, want 1:\n%s", n, e.old)
		}
		src = strings.Replace(src, e.old, e.new, 1)
	}
	return src
}

const (
	grpcRouter = `          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`
	grpcStrip = `          - name: vexen.strip_identity_headers
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
              mutations:
                request_mutations:
                - remove: x-auth-user
                - remove: x-auth-email
                - remove: x-auth-roles
                - remove: x-auth-session
                - remove: x-auth-amr
`
	grpcHTTP2 = `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options:
            # The verifier accepts client pings every 5s or slower.
            connection_keepalive: { interval: 30s, timeout: 5s }
`
)

// TestBrokenCopiesRejected: each deliberately broken copy of a sample is rejected,
// with exactly the expected findings, and the message names the problem.
func TestBrokenCopiesRejected(t *testing.T) {
	tests := []struct {
		name    string
		sample  string
		edits   []edit
		cut     [2]string // if set: delete from cut[0] up to (not including) cut[1]
		want    []string  // sentinel names, sorted
		message string    // a substring of the error
	}{
		{
			name:    "unknown field",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"failure_mode_allow: false", "failure_mode_alow: false"}},
			want:    []string{"decode"},
			message: `unknown field "failure_mode_alow"`,
		},
		{
			name:    "typo in @type",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"ext_authz.v3.ExtAuthz\n", "ext_authz.v3.ExtAuth\n"}},
			want:    []string{"decode"},
			message: "envoy.extensions.filters.http.ext_authz.v3.ExtAuth",
		},
		{
			name:    "unknown enum name",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"transport_api_version: V3", "transport_api_version: V4"}},
			want:    []string{"decode"},
			message: "V4",
		},
		{
			name:    "duplicate YAML key",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"failure_mode_allow: false\n", "failure_mode_allow: false\n              failure_mode_allow: false\n"}},
			want:    []string{"decode"},
			message: "failure_mode_allow",
		},
		{
			name:    "undefined enum value inside the ext_authz typed_config",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"transport_api_version: V3", "transport_api_version: 7"}},
			want:    []string{"invalid"}, // Load stops before Check
			message: "typed_config<ExtAuthz>: invalid ExtAuthz.TransportApiVersion",
		},
		{
			name:    "undefined HTTP status inside the ext_authz typed_config",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"status_on_error: { code: ServiceUnavailable }", "status_on_error: { code: 299 }"}},
			want:    []string{"invalid"},
			message: "StatusOnError",
		},
		{
			name:    "negative timeout outside any typed_config",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"  - name: app\n    type: STATIC\n    connect_timeout: 1s", "  - name: app\n    type: STATIC\n    connect_timeout: -1s"}},
			want:    []string{"invalid"},
			message: "ConnectTimeout",
		},
		{
			name:    "failure_mode_allow true (gRPC)",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"failure_mode_allow: false", "failure_mode_allow: true"}},
			want:    []string{"fail-open"},
			message: "failure_mode_allow",
		},
		{
			name:    "failure_mode_allow true (HTTP)",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"failure_mode_allow: false", "failure_mode_allow: true"}},
			want:    []string{"fail-open"},
			message: "failure_mode_allow",
		},
		{
			name:    "ext_authz filter disabled",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"          - name: envoy.filters.http.ext_authz\n", "          - name: envoy.filters.http.ext_authz\n            disabled: true\n"}},
			want:    []string{"fail-open"},
			message: "disabled",
		},
		{
			name:   "ext_authz disabled on a route",
			sample: "envoy-grpc.yaml",
			edits: []edit{{`                    check_settings:
                      context_extensions:
                        vexen_mode: browser
`, "                    disabled: true\n"}},
			want:    []string{"fail-open"},
			message: "disabled on this route",
		},
		{
			name:    "missing gRPC cluster",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"envoy_grpc: { cluster_name: vexen_verifier_grpc }", "envoy_grpc: { cluster_name: vexen_verifier }"}},
			want:    []string{"unknown-cluster"},
			message: `"vexen_verifier" is not in static_resources.clusters`,
		},
		{
			name:    "missing HTTP verifier cluster",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"cluster: vexen_verifier_http\n", "cluster: verifier\n"}},
			want:    []string{"unknown-cluster"},
			message: "server_uri.cluster",
		},
		{
			name:    "missing route cluster",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"route: { cluster: app, timeout: 30s }", "route: { cluster: application, timeout: 30s }"}},
			want:    []string{"unknown-cluster"},
			message: `"application"`,
		},
		{
			name:    "cluster defined twice",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"  - name: app\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      cluster_name: app\n", "  - name: vexen_verifier_http\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      cluster_name: app\n"}},
			want:    []string{"duplicate-cluster", "unknown-cluster"},
			message: `"vexen_verifier_http"`,
		},
		{
			name:    "router not last",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{grpcRouter, ""}, {"          # 2. Ask the verifier.\n", grpcRouter + "          # 2. Ask the verifier.\n"}},
			want:    []string{"router-not-last"},
			message: "router",
		},
		{
			name:    "no router",
			sample:  "envoy-http.yaml",
			edits:   []edit{{grpcRouter, ""}},
			want:    []string{"router-not-last"},
			message: "last HTTP filter",
		},
		{
			name:    "no ext_authz filter",
			sample:  "envoy-http.yaml",
			cut:     [2]string{"          # 2. Ask the verifier.\n", "          # 3. The router is always last.\n"},
			want:    []string{"no-ext-authz"},
			message: "no envoy.extensions.filters.http.ext_authz.v3.ExtAuthz filter",
		},
		{
			name:    "gRPC cluster without HTTP/2",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{grpcHTTP2, ""}},
			want:    []string{"no-http2"},
			message: `cluster "vexen_verifier_grpc"`,
		},
		{
			name:    "gRPC cluster with HTTP/1.1 only",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"          http2_protocol_options:\n            # The verifier accepts client pings every 5s or slower.\n            connection_keepalive: { interval: 30s, timeout: 5s }\n", "          http_protocol_options: {}\n"}},
			want:    []string{"no-http2"},
			message: "http2_protocol_options",
		},
		{
			name:    "transport_api_version left at AUTO",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"              transport_api_version: V3\n", ""}},
			want:    []string{"transport-version"},
			message: "AUTO",
		},
		{
			name:    "request body buffered",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"failure_mode_allow: false\n", "failure_mode_allow: false\n              with_request_body: { max_request_bytes: 8192 }\n"}},
			want:    []string{"request-body"},
			message: "with_request_body",
		},
		{
			name:    "identity headers not stripped",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{grpcStrip, ""}},
			want:    []string{"identity-headers"},
			message: "x-auth-user, x-auth-email, x-auth-roles, x-auth-session, x-auth-amr",
		},
		{
			name:    "one identity header not stripped",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"                - remove: x-auth-roles\n", ""}},
			want:    []string{"identity-headers"},
			message: "removes x-auth-roles",
		},
		{
			name:    "identity headers stripped after ext_authz",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{grpcStrip, ""}, {"          # 3. The router is always last.\n", grpcStrip + "          # 3. The router is always last.\n"}},
			want:    []string{"identity-headers"},
			message: "before ext_authz",
		},
		{
			name:    "per-route config for a filter that does not exist",
			sample:  "envoy-grpc.yaml",
			edits:   []edit{{"                  envoy.filters.http.ext_authz:   #", "                  envoy.filters.http.extauthz:   #"}},
			want:    []string{"per-filter-config"},
			message: `no HTTP filter is named "envoy.filters.http.extauthz"`,
		},
		{
			name:    "path_prefix not /auth",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"path_prefix: /auth\n", "path_prefix: /verify\n"}},
			want:    []string{"path-prefix"},
			message: `"/verify"`,
		},
		{
			name:    "identity header not copied upstream",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"                    - exact: x-auth-session\n", ""}},
			want:    []string{"upstream-headers"},
			message: "x-auth-session",
		},
		{
			name:    "client X-Forwarded-Uri sent to the verifier",
			sample:  "envoy-http.yaml",
			edits:   []edit{{"                - exact: x-forwarded-proto\n", "                - exact: x-forwarded-proto\n                - prefix: x-forwarded-\n"}},
			want:    []string{"forwarded-headers"},
			message: "x-forwarded-uri",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := mutate(t, read(t, tt.sample), tt.edits...)
			if tt.cut[0] != "" {
				i, j := strings.Index(src, tt.cut[0]), strings.Index(src, tt.cut[1])
				if i < 0 || j < i || strings.Count(src, tt.cut[0]) != 1 || strings.Count(src, tt.cut[1]) != 1 {
					t.Fatalf("cut markers not found once, in order")
				}
				src = src[:i] + src[j:]
			}
			_, err := envoyconfig.Load([]byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			if got := found(err); !slices.Equal(got, tt.want) {
				t.Errorf("findings %v, want %v; error:\n%v", got, tt.want, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error does not mention %q:\n%v", tt.message, err)
			}
		})
	}
}

// TestValidateAllMissesAny is why Validate unpacks every Any: the generated
// Bootstrap.ValidateAll accepts a bootstrap whose ext_authz typed_config is invalid.
func TestValidateAllMissesAny(t *testing.T) {
	src := mutate(t, read(t, "envoy-grpc.yaml"), edit{"transport_api_version: V3", "transport_api_version: 7"})
	b, err := envoyconfig.Decode([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("Bootstrap.ValidateAll now sees inside Any (%v); Validate's unpacking may be redundant", err)
	}
	err = envoyconfig.Validate(b)
	if !errors.Is(err, envoyconfig.ErrInvalid) {
		t.Fatalf("Validate = %v, want ErrInvalid", err)
	}
	if n := strings.Count(err.Error(), "TransportApiVersion"); n != 1 {
		t.Errorf("the violation is reported %d times, want once:\n%v", n, err)
	}
}

// TestBrowserModeForHTTPSample: README's recipe for browser mode with the HTTP
// filter (the verifier's X-Auth-Mode header added by Envoy on a listener serving
// browsers) keeps the sample valid.
func TestBrowserModeForHTTPSample(t *testing.T) {
	src := mutate(t, read(t, "envoy-http.yaml"), edit{
		"                path_prefix: /auth\n",
		"                path_prefix: /auth\n" +
			"                authorization_request:\n" +
			"                  headers_to_add:\n" +
			"                  - key: x-auth-mode\n" +
			"                    value: browser\n",
	}, edit{
		"                - exact: x-forwarded-proto\n",
		"                - exact: x-forwarded-proto\n" +
			"                - exact: accept\n" +
			"                - exact: sec-fetch-mode\n" +
			"                - exact: x-requested-with\n",
	})
	if _, err := envoyconfig.Load([]byte(src)); err != nil {
		t.Fatal(err)
	}
}
