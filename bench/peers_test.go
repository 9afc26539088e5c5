package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBadSignature(t *testing.T) {
	tok := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo"
	bad := badSignature(tok)
	if bad == tok || len(bad) != len(tok) {
		t.Fatalf("badSignature(%q) = %q", tok, bad)
	}
	i := strings.LastIndexByte(tok, '.')
	if bad[:i] != tok[:i] {
		t.Fatal("badSignature changed the header or payload")
	}
	if badSignature(strings.Repeat("A", 20)+".p.AAAAAAAA") == strings.Repeat("A", 20)+".p.AAAAAAAA" {
		t.Fatal("an all-A signature was not changed")
	}
}

// TestCheckAnswers: a peer that names the user for valid tokens and refuses the
// rest passes; one that lets a bad signature through, refuses a valid token, or
// names the wrong user, fails.
func TestCheckAnswers(t *testing.T) {
	e := &env{users: []benchUser{{"u1", "a@x"}, {"u2", "b@x"}}, tokens: []string{"h.p1.sig111111", "h.p2.sig222222"}}
	valid := map[string]string{"Bearer h.p1.sig111111": "u1", "Bearer h.p2.sig222222": "u2"}
	for _, tc := range []struct {
		name string
		peer func(w http.ResponseWriter, r *http.Request)
		ok   bool
	}{
		{"correct", func(w http.ResponseWriter, r *http.Request) {
			if u, ok := valid[r.Header.Get("Authorization")]; ok {
				w.Header().Set("X-User", u)
				w.WriteHeader(http.StatusAccepted)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
		}, true},
		{"lets anything through", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-User", valid[r.Header.Get("Authorization")])
		}, false},
		{"refuses everything", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }, false},
		{"names the wrong user", func(w http.ResponseWriter, r *http.Request) {
			if _, ok := valid[r.Header.Get("Authorization")]; ok {
				w.Header().Set("X-User", "u1")
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tc.peer))
			defer srv.Close()
			err := checkAnswers(context.Background(), tc.name, strings.TrimPrefix(srv.URL, "http://"), "/auth", "X-User", e)
			if (err == nil) != tc.ok {
				t.Fatalf("checkAnswers: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
