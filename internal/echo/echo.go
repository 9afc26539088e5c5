package echo

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
)

// maxBody bounds how much of a request body the handler reads (and discards).
const maxBody = 1 << 20

// Request is what the upstream received, as the handler reports it in its JSON body.
type Request struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`  // the request target as sent, path and query
	Host   string      `json:"host"` // the Host header
	Header http.Header `json:"header"`
	// BodyBytes is how many body bytes arrived (read up to 1 MiB).
	BodyBytes int64 `json:"body_bytes"`
}

// Handler is the echo upstream. The zero value is ready to use.
type Handler struct {
	hits atomic.Int64
}

var _ http.Handler = (*Handler)(nil)

// ServeHTTP counts the request and answers 200 with the Request as JSON.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	// Reading the body also keeps the proxy's keepalive connection reusable.
	n, _ := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
	body, err := json.Marshal(Request{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header, BodyBytes: n})
	if err != nil {
		http.Error(w, "echo: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// Hits is the number of requests that have reached the handler.
func (h *Handler) Hits() int64 { return h.hits.Load() }

// Decode reads a Request from the body of a response the handler wrote.
func Decode(r io.Reader) (Request, error) {
	var req Request
	err := json.NewDecoder(io.LimitReader(r, maxBody)).Decode(&req)
	return req, err
}
