package echo_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/echo"
)

func TestHandler(t *testing.T) {
	h := &echo.Handler{}
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		name   string
		method string
		target string
		body   string
		header map[string]string
	}{
		{"get with headers", http.MethodGet, "/app/page?x=1&y=2", "", map[string]string{"X-Auth-User": "u1", "X-Auth-Roles": "a,b"}},
		{"post with body", http.MethodPost, "/api/items", `{"k":"v"}`, map[string]string{"Content-Type": "application/json"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			req.Host = "app.example.test"
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			got, err := echo.Decode(resp.Body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.BodyBytes != int64(len(tt.body)) {
				t.Errorf("BodyBytes = %d, want %d", got.BodyBytes, len(tt.body))
			}
			if got.Method != tt.method || got.URI != tt.target || got.Host != "app.example.test" {
				t.Errorf("saw %s %s host %s, want %s %s host app.example.test", got.Method, got.URI, got.Host, tt.method, tt.target)
			}
			for k, v := range tt.header {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if n := h.Hits(); n != int64(i+1) {
				t.Errorf("Hits() = %d, want %d", n, i+1)
			}
		})
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	if _, err := echo.Decode(strings.NewReader("<html>")); err == nil {
		t.Fatal("Decode accepted a non-JSON body")
	}
}
