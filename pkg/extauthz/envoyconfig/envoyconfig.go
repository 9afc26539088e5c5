package envoyconfig

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/vexen/vexen-auth/pkg/extauthz"

	// Types that appear in typed_config of the sample bootstraps and of common
	// additions to them; protojson resolves an Any's @type through this registry.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Sentinel errors. Decode, Validate and Check wrap them with the path of the
// offending field; test with errors.Is. Check joins every finding (errors.Join).
var (
	// ErrDecode: not YAML/JSON, a field Envoy does not know, a wrong value type, or
	// an @type that names no registered message.
	ErrDecode = errors.New("envoyconfig: cannot decode")
	// ErrInvalid: a value breaks the rules Envoy's protos declare (protoc-gen-validate),
	// in the bootstrap or in a message packed in a google.protobuf.Any.
	ErrInvalid = errors.New("envoyconfig: invalid")

	ErrUnknownCluster   = errors.New("envoyconfig: reference to an undefined cluster")
	ErrDuplicateCluster = errors.New("envoyconfig: cluster defined twice")
	ErrRouterNotLast    = errors.New("envoyconfig: the router filter is not the last HTTP filter")
	ErrNoExtAuthz       = errors.New("envoyconfig: HTTP connection manager without an ext_authz filter")
	ErrFailOpen         = errors.New("envoyconfig: ext_authz can let requests through unchecked")
	ErrNoHTTP2          = errors.New("envoyconfig: gRPC cluster without HTTP/2")
	ErrTransportVersion = errors.New("envoyconfig: ext_authz gRPC transport_api_version is not V3")
	ErrRequestBody      = errors.New("envoyconfig: ext_authz buffers the request body")
	ErrPathPrefix       = errors.New("envoyconfig: ext_authz http_service path_prefix is not the verifier's /auth")
	ErrIdentityHeaders  = errors.New("envoyconfig: client-sent identity headers are not stripped before ext_authz")
	ErrUpstreamHeaders  = errors.New("envoyconfig: ext_authz does not copy the identity headers upstream")
	ErrPerFilterConfig  = errors.New("envoyconfig: typed_per_filter_config names no HTTP filter")
	ErrForwardedHeaders = errors.New("envoyconfig: ext_authz forwards client-sent headers the verifier trusts from Envoy")
)

// trustedHeaders are the request headers the verifier's HTTP endpoint believes
// from a trusted proxy for the method, path and host it judges. Envoy must never
// pass a client's copy of them to the verifier.
var trustedHeaders = []string{
	"x-forwarded-method", "x-forwarded-uri", "x-forwarded-host",
	"x-original-method", "x-original-uri", "x-original-url",
}

// identityHeaders are the verifier's identity headers, as Envoy names them.
var identityHeaders = []string{extauthz.HeaderUser, extauthz.HeaderEmail, extauthz.HeaderRoles, extauthz.HeaderSession, extauthz.HeaderAMR}

// Load decodes a bootstrap, validates it and checks it: Decode, Validate, Check.
func Load(data []byte) (*bootstrapv3.Bootstrap, error) {
	b, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if err := Validate(b); err != nil {
		return nil, err
	}
	if err := Check(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Decode parses an Envoy bootstrap written in YAML (or JSON) the strict way Envoy
// does: YAML is converted to JSON (duplicate keys are an error), then decoded with
// protojson without discarding unknown fields, so a misspelt field, an unknown enum
// name or an @type naming no registered message is an error.
func Decode(data []byte) (*bootstrapv3.Bootstrap, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: yaml: %v", ErrDecode, err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return b, nil
}

type validator interface{ ValidateAll() error }

// Validate runs the validation rules of Envoy's protos on m and on every message
// packed in a google.protobuf.Any anywhere below it. The generated ValidateAll does
// not look inside an Any (every typed_config is one), so without the second part a
// broken ext_authz or router config would pass.
func Validate(m proto.Message) error {
	var errs []error
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %v", ErrInvalid, err))
		}
	}
	nodes, err := walk(m)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if !n.packed {
			continue
		}
		if v, ok := n.msg.(validator); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %v", ErrInvalid, n.path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// node is one message of the tree, with its path for error messages. packed marks
// the message an Any holds (not its descendants: its ValidateAll covers them).
type node struct {
	path   string
	msg    proto.Message
	packed bool
}

// walk lists every message set in m, depth first, unpacking each Any (its content
// follows the Any in the list).
func walk(m proto.Message) ([]node, error) {
	var out []node
	err := walkMessage(m.ProtoReflect(), "", false, &out)
	return out, err
}

func walkMessage(m protoreflect.Message, path string, packed bool, out *[]node) error {
	// packed applies to this message only; descendants are walked with false.
	*out = append(*out, node{path: path, msg: m.Interface(), packed: packed})
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDecode, path, err)
		}
		return walkMessage(inner.ProtoReflect(), path+"<"+string(inner.ProtoReflect().Descriptor().Name())+">", true, out)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := string(fd.Name())
		if path != "" {
			p = path + "." + p
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			mp := v.Map()
			keys := make([]string, 0, mp.Len())
			byKey := map[string]protoreflect.Value{}
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				keys = append(keys, k.String())
				byKey[k.String()] = mv
				return true
			})
			slices.Sort(keys)
			for _, k := range keys {
				if err = walkMessage(byKey[k].Message(), fmt.Sprintf("%s[%q]", p, k), false, out); err != nil {
					return false
				}
			}
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if err = walkMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i), false, out); err != nil {
					return false
				}
			}
		case fd.Message() != nil:
			err = walkMessage(v.Message(), p, false, out)
		}
		return err == nil
	})
	return err
}

// Check applies the rules a running Envoy, or a vexen deployment, depends on and
// that the protos' validation rules cannot express:
//
//   - every cluster named by a route, a weighted cluster, a mirror policy, an
//     HttpUri or an envoy_grpc service is defined in static_resources (skipped
//     when clusters come from CDS), and no cluster name is defined twice;
//   - in every HTTP connection manager: the router is the last HTTP filter and the
//     only router; an ext_authz filter is present and not disabled; a
//     header_mutation filter before the first ext_authz removes every identity
//     header (so a client-forged one cannot reach the upstream when the verifier
//     sets none); every typed_per_filter_config key of its inline route config
//     names one of its HTTP filters;
//   - every ext_authz: failure_mode_allow is false; no request body buffering; a
//     gRPC service uses transport_api_version V3 and, through envoy_grpc, a
//     cluster with HTTP/2; an HTTP service uses the verifier's path_prefix /auth
//     copies every identity header upstream (allowed_upstream_headers), and does
//     not pass the client's X-Forwarded-Method/-Uri/-Host or X-Original-* (which
//     the verifier believes from Envoy) to the verifier;
//   - no route disables ext_authz (ExtAuthzPerRoute.disabled).
func Check(b *bootstrapv3.Bootstrap) error {
	nodes, err := walk(b)
	if err != nil {
		return err
	}
	var errs []error
	fail := func(sentinel error, path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", sentinel, path, fmt.Sprintf(format, args...)))
	}

	clusters := map[string]*clusterv3.Cluster{}
	for i, c := range b.GetStaticResources().GetClusters() {
		if _, dup := clusters[c.GetName()]; dup {
			fail(ErrDuplicateCluster, fmt.Sprintf("static_resources.clusters[%d]", i), "%q", c.GetName())
		}
		clusters[c.GetName()] = c
	}
	dyn := b.GetDynamicResources()
	cds := dyn.GetCdsConfig() != nil || dyn.GetCdsResourcesLocator() != ""
	ref := func(path, name string) *clusterv3.Cluster {
		c, ok := clusters[name]
		if !ok && !cds {
			fail(ErrUnknownCluster, path, "%q is not in static_resources.clusters", name)
		}
		return c
	}

	for _, n := range nodes {
		switch m := n.msg.(type) {
		case *routev3.RouteAction:
			if m.GetCluster() != "" {
				ref(n.path+".cluster", m.GetCluster())
			}
		case *routev3.WeightedCluster_ClusterWeight:
			if m.GetName() != "" {
				ref(n.path+".name", m.GetName())
			}
		case *routev3.RouteAction_RequestMirrorPolicy:
			if m.GetCluster() != "" {
				ref(n.path+".cluster", m.GetCluster())
			}
		case *corev3.HttpUri:
			ref(n.path+".cluster", m.GetCluster())
		case *corev3.GrpcService_EnvoyGrpc:
			ref(n.path+".cluster_name", m.GetClusterName())
		case *hcmv3.HttpConnectionManager:
			errs = append(errs, checkHCM(n.path, m)...)
		case *extauthzv3.ExtAuthz:
			errs = append(errs, checkExtAuthz(n.path, m, clusters)...)
		case *extauthzv3.ExtAuthzPerRoute:
			if m.GetDisabled() {
				fail(ErrFailOpen, n.path+".disabled", "ext_authz is disabled on this route")
			}
		}
	}
	return errors.Join(errs...)
}

func typeOf(f *hcmv3.HttpFilter) string {
	u := f.GetTypedConfig().GetTypeUrl()
	return u[strings.LastIndexByte(u, '/')+1:]
}

var (
	routerType         = string((&routerv3.Router{}).ProtoReflect().Descriptor().FullName())
	extAuthzType       = string((&extauthzv3.ExtAuthz{}).ProtoReflect().Descriptor().FullName())
	headerMutationType = string((&headermutationv3.HeaderMutation{}).ProtoReflect().Descriptor().FullName())
)

func checkHCM(path string, hcm *hcmv3.HttpConnectionManager) []error {
	var errs []error
	fail := func(sentinel error, p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", sentinel, p, fmt.Sprintf(format, args...)))
	}
	filters := hcm.GetHttpFilters()
	fp := func(i int) string { return fmt.Sprintf("%s.http_filters[%d]", path, i) }

	last := len(filters) - 1
	if last < 0 || typeOf(filters[last]) != routerType {
		fail(ErrRouterNotLast, path+".http_filters", "the last HTTP filter must be %s", routerType)
	}
	firstAuthz := -1
	for i, f := range filters {
		switch typeOf(f) {
		case routerType:
			if i != last {
				fail(ErrRouterNotLast, fp(i), "router %q comes before other filters, which never run", f.GetName())
			}
		case extAuthzType:
			if firstAuthz < 0 {
				firstAuthz = i
			}
			if f.GetDisabled() {
				fail(ErrFailOpen, fp(i)+".disabled", "ext_authz filter %q is disabled by default", f.GetName())
			}
		}
	}
	if firstAuthz < 0 {
		fail(ErrNoExtAuthz, path+".http_filters", "no %s filter", extAuthzType)
	} else if missing := unstripped(filters[:firstAuthz]); len(missing) > 0 {
		fail(ErrIdentityHeaders, fp(firstAuthz),
			"no header_mutation filter before ext_authz removes %s", strings.Join(missing, ", "))
	}

	names := map[string]bool{}
	for _, f := range filters {
		names[f.GetName()] = true
	}
	perFilter := func(p string, m map[string]*anypb.Any) {
		for _, k := range sortedKeys(m) {
			if !names[k] {
				fail(ErrPerFilterConfig, fmt.Sprintf("%s.typed_per_filter_config[%q]", p, k), "no HTTP filter is named %q", k)
			}
		}
	}
	rc := hcm.GetRouteConfig()
	perFilter(path+".route_config", rc.GetTypedPerFilterConfig())
	for i, vh := range rc.GetVirtualHosts() {
		vp := fmt.Sprintf("%s.route_config.virtual_hosts[%d]", path, i)
		perFilter(vp, vh.GetTypedPerFilterConfig())
		for j, r := range vh.GetRoutes() {
			rp := fmt.Sprintf("%s.routes[%d]", vp, j)
			perFilter(rp, r.GetTypedPerFilterConfig())
			for k, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
				perFilter(fmt.Sprintf("%s.route.weighted_clusters.clusters[%d]", rp, k), w.GetTypedPerFilterConfig())
			}
		}
	}
	return errs
}

// unstripped returns the identity headers that no header_mutation filter among
// filters removes from the request.
func unstripped(filters []*hcmv3.HttpFilter) []string {
	removed := map[string]bool{}
	for _, f := range filters {
		if typeOf(f) != headerMutationType || f.GetDisabled() {
			continue
		}
		var hm headermutationv3.HeaderMutation
		if err := f.GetTypedConfig().UnmarshalTo(&hm); err != nil {
			continue
		}
		for _, mu := range hm.GetMutations().GetRequestMutations() {
			for _, h := range identityHeaders {
				if removes(mu, h) {
					removed[h] = true
				}
			}
		}
	}
	var missing []string
	for _, h := range identityHeaders {
		if !removed[h] {
			missing = append(missing, h)
		}
	}
	return missing
}

func removes(mu *mutationv3.HeaderMutation, header string) bool {
	if r := mu.GetRemove(); r != "" {
		return strings.EqualFold(r, header)
	}
	if m := mu.GetRemoveOnMatch().GetKeyMatcher(); m != nil {
		return stringMatch(m, header)
	}
	return false
}

func checkExtAuthz(path string, a *extauthzv3.ExtAuthz, clusters map[string]*clusterv3.Cluster) []error {
	var errs []error
	fail := func(sentinel error, p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", sentinel, p, fmt.Sprintf(format, args...)))
	}
	if a.GetFailureModeAllow() {
		fail(ErrFailOpen, path+".failure_mode_allow", "true lets requests through when the verifier cannot be asked")
	}
	if a.GetWithRequestBody() != nil {
		fail(ErrRequestBody, path+".with_request_body", "the verifier does not read bodies; buffering only delays requests")
	}
	if g := a.GetGrpcService(); g != nil {
		if a.GetTransportApiVersion() != corev3.ApiVersion_V3 {
			fail(ErrTransportVersion, path+".transport_api_version", "%v", a.GetTransportApiVersion())
		}
		if name := g.GetEnvoyGrpc().GetClusterName(); name != "" {
			if c, ok := clusters[name]; ok && !hasHTTP2(c) {
				fail(ErrNoHTTP2, path+".grpc_service.envoy_grpc",
					"cluster %q has no explicit_http_config.http2_protocol_options in typed_extension_protocol_options", name)
			}
		}
	}
	if h := a.GetHttpService(); h != nil {
		if p := h.GetPathPrefix(); p != "/auth" && !strings.HasPrefix(p, "/auth/") {
			fail(ErrPathPrefix, path+".http_service.path_prefix", "%q", p)
		}
		allowed := h.GetAuthorizationResponse().GetAllowedUpstreamHeaders()
		var missing []string
		for _, name := range identityHeaders {
			if !listMatch(allowed, name) {
				missing = append(missing, name)
			}
		}
		for _, l := range []*matcherv3.ListStringMatcher{a.GetAllowedHeaders(), h.GetAuthorizationRequest().GetAllowedHeaders()} {
			for _, name := range trustedHeaders {
				if listMatch(l, name) && !listMatch(a.GetDisallowedHeaders(), name) {
					fail(ErrForwardedHeaders, path+".allowed_headers", "matches %s", name)
				}
			}
		}
		if len(missing) > 0 {
			fail(ErrUpstreamHeaders, path+".http_service.authorization_response.allowed_upstream_headers",
				"does not match %s", strings.Join(missing, ", "))
		}
	}
	return errs
}

// hasHTTP2 reports whether Envoy speaks HTTP/2 to the cluster's hosts, as gRPC
// needs: explicit_http_config.http2_protocol_options in the cluster's
// envoy.extensions.upstreams.http.v3.HttpProtocolOptions, or the deprecated
// cluster-level http2_protocol_options.
func hasHTTP2(c *clusterv3.Cluster) bool {
	if c.GetHttp2ProtocolOptions() != nil { // deprecated, still honoured by Envoy
		return true
	}
	for _, a := range c.GetTypedExtensionProtocolOptions() {
		var o upstreamhttpv3.HttpProtocolOptions
		if a.MessageIs(&o) && a.UnmarshalTo(&o) == nil && o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil {
			return true
		}
	}
	return false
}

func listMatch(l *matcherv3.ListStringMatcher, s string) bool {
	for _, p := range l.GetPatterns() {
		if stringMatch(p, s) {
			return true
		}
	}
	return false
}

// stringMatch evaluates an Envoy StringMatcher (exact, prefix, suffix, contains,
// safe_regex as a full match, ignore_case). A custom matcher never matches here.
func stringMatch(m *matcherv3.StringMatcher, s string) bool {
	fold := m.GetIgnoreCase()
	eq := func(a, b string) bool {
		if fold {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return eq(s, p.Exact)
	case *matcherv3.StringMatcher_Prefix:
		return len(s) >= len(p.Prefix) && eq(s[:len(p.Prefix)], p.Prefix)
	case *matcherv3.StringMatcher_Suffix:
		return len(s) >= len(p.Suffix) && eq(s[len(s)-len(p.Suffix):], p.Suffix)
	case *matcherv3.StringMatcher_Contains:
		if fold {
			return strings.Contains(strings.ToLower(s), strings.ToLower(p.Contains))
		}
		return strings.Contains(s, p.Contains)
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := regexp.Compile(`^(?:` + p.SafeRegex.GetRegex() + `)$`)
		return err == nil && re.MatchString(s)
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
