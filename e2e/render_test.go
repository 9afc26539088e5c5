package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		repl    []Replacement
		want    string
		wantErr error
	}{
		{
			name: "every occurrence, in order",
			src:  "server 127.0.0.1:8081; listen 80; server 127.0.0.1:8081;",
			repl: []Replacement{{"127.0.0.1:8081", "127.0.0.1:40001"}, {"listen 80;", "listen 127.0.0.1:40002;"}},
			want: "server 127.0.0.1:40001; listen 127.0.0.1:40002; server 127.0.0.1:40001;",
		},
		{
			name: "no replacements",
			src:  "unchanged",
			want: "unchanged",
		},
		{
			name:    "a literal the sample lost is an error",
			src:     "server 127.0.0.1:8082;",
			repl:    []Replacement{{"127.0.0.1:8081", "x"}},
			wantErr: ErrLiteralMissing,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.src, tt.repl...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := Render("x", Replacement{"", "y"}); err == nil {
		t.Error("an empty literal was accepted")
	}
}

func TestRenderFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.conf")
	if err := os.WriteFile(src, []byte("listen 80;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out", "conf", "out.conf")
	if err := RenderFile(dst, src, Replacement{"80", "8080"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "listen 8080;\n" {
		t.Errorf("rendered %q", b)
	}
	if err := RenderFile(dst, src, Replacement{"443", "8443"}); !errors.Is(err, ErrLiteralMissing) {
		t.Errorf("missing literal: err = %v, want ErrLiteralMissing", err)
	}
}
