package envoyconfig

import (
	"errors"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestStringMatch(t *testing.T) {
	exact := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
	}
	tests := []struct {
		m    *matcherv3.StringMatcher
		s    string
		want bool
	}{
		{exact("x-auth-user"), "x-auth-user", true},
		{exact("X-Auth-User"), "x-auth-user", false},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "X-Auth-User"}, IgnoreCase: true}, "x-auth-user", true},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "x-auth-"}}, "x-auth-roles", true},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "x-auth-"}}, "x-aut", false},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "-session"}}, "x-auth-session", true},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "-SESSION"}, IgnoreCase: true}, "x-auth-session", true},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: "AUTH"}, IgnoreCase: true}, "x-auth-email", true},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: "AUTH"}}, "x-auth-email", false},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "x-auth-(user|email)"}}}, "x-auth-email", true},
		// Envoy's safe_regex matches the whole value.
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "auth"}}}, "x-auth-email", false},
		{&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "("}}}, "(", false},
		{&matcherv3.StringMatcher{}, "x", false},
	}
	for _, tt := range tests {
		if got := stringMatch(tt.m, tt.s); got != tt.want {
			t.Errorf("stringMatch(%v, %q) = %v, want %v", tt.m, tt.s, got, tt.want)
		}
	}
}

func TestWalkUnpacksNestedAny(t *testing.T) {
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		HttpFilters: []*hcmv3.HttpFilter{{Name: "r", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := walk(&corev3.TypedExtensionConfig{Name: "x", TypedConfig: hcm})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, n := range nodes {
		if n.packed {
			paths = append(paths, n.path)
		}
	}
	want := []string{
		"typed_config<HttpConnectionManager>",
		"typed_config<HttpConnectionManager>.http_filters[0].typed_config<Router>",
	}
	if !slices.Equal(paths, want) {
		t.Errorf("packed paths %q, want %q", paths, want)
	}
	if _, err := walk(&anypb.Any{TypeUrl: "type.googleapis.com/no.such.Type"}); !errors.Is(err, ErrDecode) {
		t.Errorf("unknown type: %v, want ErrDecode", err)
	}
}
