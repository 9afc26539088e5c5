package extauthz

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER\tabc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Bearer a b", "a b", true}, // not a valid token; the decider rejects it as malformed
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer \t ", "", false},
		{"Bearerabc", "", false},
		{"Basic abc", "", false},
		{"", "", false},
		{"Bear abc", "", false},
		{"Bearer abc,Bearer def", "abc,Bearer def", true}, // two headers merged by Envoy: one malformed token
	}
	for _, tt := range tests {
		got, ok := bearerToken(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		header, name, want string
		ok                 bool
	}{
		{"vexen_access=abc", "vexen_access", "abc", true},
		{"a=1; vexen_access=abc; b=2", "vexen_access", "abc", true},
		{"a=1;vexen_access=abc", "vexen_access", "abc", true},
		{"a=1, vexen_access=abc", "vexen_access", "abc", true}, // repeated Cookie headers merged with ','
		{`vexen_access="abc"`, "vexen_access", "abc", true},
		{"vexen_access=first; vexen_access=second", "vexen_access", "first", true},
		{"xvexen_access=abc; vexen_accessx=def", "vexen_access", "", false},
		{"vexen_access=", "vexen_access", "", false},
		{"vexen_access", "vexen_access", "", false},
		{"", "vexen_access", "", false},
		{"vexen_access=abc", "", "", false},
		{" vexen_access = abc ", "vexen_access", "abc", true},
		{"a=b=c; vexen_access=x=y", "vexen_access", "x=y", true},
	}
	for _, tt := range tests {
		got, ok := cookieValue(tt.header, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cookieValue(%q, %q) = %q, %v; want %q, %v", tt.header, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHeadersGet(t *testing.T) {
	m := headersOf(&authv3.AttributeContext_HttpRequest{Headers: map[string]string{"cookie": "a=1", "X-Mixed": "v"}})
	if got := m.get("cookie", "; "); got != "a=1" {
		t.Errorf("map cookie = %q", got)
	}
	if got := m.get("x-mixed", ","); got != "" {
		t.Errorf("map keys are lower case by contract; a mixed-case key was found: %q", got)
	}
	if got := m.get("authorization", ","); got != "" {
		t.Errorf("missing header = %q", got)
	}
	raw := headersOf(&authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "cookie", RawValue: []byte("a=1")},
		{Key: "Authorization", Value: "Bearer x"},
		{Key: "cookie", RawValue: []byte("b=2")},
	}}})
	if got := raw.get("cookie", "; "); got != "a=1; b=2" {
		t.Errorf("raw cookies = %q", got)
	}
	if got := raw.get("authorization", ","); got != "Bearer x" {
		t.Errorf("raw authorization = %q", got)
	}
}

// FuzzBearerToken checks that any Authorization value yields either no token or a
// trimmed, non-empty substring of the value.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer\tx", "Basic dXNlcjpwYXNz", "Bearer ", "", "Bearer\u00a0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tok, ok := bearerToken(in)
		if !ok {
			if tok != "" {
				t.Fatalf("not ok but token %q", tok)
			}
			return
		}
		if tok == "" || !strings.Contains(in, tok) {
			t.Fatalf("token %q is empty or not part of %q", tok, in)
		}
		if tok != strings.Trim(tok, " \t") {
			t.Fatalf("token %q is not trimmed", tok)
		}
		if !strings.EqualFold(strings.TrimLeft(in, " \t")[:6], "bearer") {
			t.Fatalf("token from a non-bearer value %q", in)
		}
	})
}

// FuzzCookieValue checks that a cookie value found is a non-empty substring of the
// header holding no pair separator, and that a header built around a known value
// always yields it.
func FuzzCookieValue(f *testing.F) {
	f.Add("a=1; vexen_access=abc; b=2", "abc")
	f.Add(`vexen_access="q"`, "eyJ.x.y")
	f.Add("vexen_access", "")
	f.Add(";;,,=", "a")
	f.Fuzz(func(t *testing.T, header, value string) {
		got, ok := cookieValue(header, "vexen_access")
		if ok && (got == "" || !strings.Contains(header, got) || strings.ContainsAny(got, ";,")) {
			t.Fatalf("cookieValue(%q) = %q", header, got)
		}
		if !ok && got != "" {
			t.Fatalf("not ok but value %q", got)
		}
		// A token-shaped value placed after the fuzzed header is found unless the
		// header already holds the cookie.
		if value == "" || strings.ContainsAny(value, ";,\" \t=") || strings.Contains(header, "vexen_access") {
			return
		}
		got, ok = cookieValue(header+"; vexen_access="+value, "vexen_access")
		if !ok || got != value {
			t.Fatalf("cookieValue(%q + vexen_access=%q) = %q, %v", header, value, got, ok)
		}
	})
}
