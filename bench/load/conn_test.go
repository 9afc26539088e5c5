package load

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRequest(t *testing.T) {
	got := string(Request("GET", "127.0.0.1:8081", "/auth", "Authorization", "Bearer abc", "X-Original-URI", "/x"))
	want := "GET /auth HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nAuthorization: Bearer abc\r\nX-Original-URI: /x\r\n\r\n"
	if got != want {
		t.Errorf("Request = %q, want %q", got, want)
	}
	reqs := BearerRequests("h", "/auth", []string{"t1", "t2"})
	if len(reqs) != 2 || !strings.Contains(string(reqs[1]), "Authorization: Bearer t2\r\n") {
		t.Errorf("BearerRequests = %q", reqs)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		status   int
		wantErr  error
		leftover string // what must remain unread: the next response
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Auth-User: u\r\n\r\nhello", 200, nil, ""},
		{"empty body", "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n", 401, nil, "HTTP/1.1 200 OK\r\n"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\nNEXT", 200, nil, "NEXT"},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\nNEXT", 204, nil, "NEXT"},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno", 503, ErrClosed, ""},
		{"body to EOF", "HTTP/1.0 200 OK\r\n\r\nall of it", 200, ErrClosed, ""},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n", 0, ErrMalformed, ""},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, ErrMalformed, ""},
		{"bad header", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", 200, ErrMalformed, ""},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, ErrMalformed, ""},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			st, err := ReadResponse(br)
			if st != tt.status {
				t.Errorf("status = %d, want %d", st, tt.status)
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				rest := make([]byte, 64)
				n, _ := br.Read(rest)
				if got := string(rest[:n]); got != tt.leftover {
					t.Errorf("left unread %q, want %q", got, tt.leftover)
				}
			}
		})
	}
	// A truncated answer is an error, not a status.
	if _, err := ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))); err == nil {
		t.Error("truncated body: no error")
	}
}

func TestConnAgainstBaseline(t *testing.T) {
	srv := httptest.NewServer(Baseline())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	c, err := Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ok := Request("GET", addr, "/auth", "Authorization", "Bearer t")
	bare := Request("GET", addr, "/auth")
	for i, tt := range []struct {
		req  []byte
		want int
	}{{ok, 200}, {bare, 401}, {ok, 200}, {ok, 200}} {
		st, err := c.Do(tt.req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if st != tt.want {
			t.Errorf("request %d: status %d, want %d", i, st, tt.want)
		}
	}
}

func TestBaselineHeader(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/auth", nil)
	r.Header.Set("Authorization", "Bearer x")
	Baseline().ServeHTTP(rec, r)
	if rec.Code != 200 || rec.Header().Get("X-Auth-User") != "baseline" {
		t.Errorf("got %d %v", rec.Code, rec.Header())
	}
	if n := len(rec.Header()); n != 1 {
		t.Errorf("baseline set %d headers, want exactly one", n)
	}
	rec = httptest.NewRecorder()
	Baseline().ServeHTTP(rec, httptest.NewRequest("GET", "/auth", nil))
	if rec.Code != 401 {
		t.Errorf("no Authorization: got %d, want 401", rec.Code)
	}
	srv := NewBaselineServer(Baseline(), nil)
	if srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.ReadHeaderTimeout == 0 || srv.IdleTimeout == 0 {
		t.Errorf("baseline server has an unset timeout: %+v", srv)
	}
}

func TestPollStatus(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n >= 5 {
			w.WriteHeader(401)
		}
	}))
	defer srv.Close()
	c, err := Dial(srv.Listener.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := Request("GET", "x", "/auth")
	if _, err := c.PollStatus(req, 401, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("polled %d times, want 5", n)
	}
	if _, err := c.PollStatus(req, 200, time.Now()); err == nil {
		t.Error("past deadline: no error")
	}
}
