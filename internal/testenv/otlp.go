package testenv

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Span is one span an OTLPReceiver got, flattened for assertions.
type Span struct {
	Service      string // the resource's service.name
	Name         string
	Kind         string // "server", "internal", …
	TraceID      string // 32 hex digits
	SpanID       string // 16 hex digits
	ParentSpanID string // "" for a root span
	Attrs        map[string]string
	StatusCode   string // "unset", "ok" or "error"
	Status       string // the status message
}

// OTLPReceiver is an in-process OTLP trace receiver: the gRPC TraceService
// (GRPCEndpoint) and OTLP/HTTP protobuf at /v1/traces (HTTPEndpoint), both
// plain TCP on 127.0.0.1. It keeps every span it is sent.
type OTLPReceiver struct {
	collectortrace.UnimplementedTraceServiceServer

	mu       sync.Mutex
	spans    []Span
	requests int
	changed  chan struct{}

	grpcLn, httpLn net.Listener
}

// StartOTLP starts a receiver that stops when the test ends.
func StartOTLP(t testing.TB) *OTLPReceiver {
	t.Helper()
	r := &OTLPReceiver{changed: make(chan struct{})}
	var err error
	if r.grpcLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatalf("otlp receiver: %v", err)
	}
	if r.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatalf("otlp receiver: %v", err)
	}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, r)
	go func() { _ = gs.Serve(r.grpcLn) }()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.serveHTTP)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(r.httpLn) }()
	t.Cleanup(func() {
		gs.Stop()
		_ = hs.Close()
	})
	return r
}

// GRPCEndpoint is the receiver's gRPC URL (http://127.0.0.1:PORT), for
// OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_PROTOCOL=grpc.
func (r *OTLPReceiver) GRPCEndpoint() string { return "http://" + r.grpcLn.Addr().String() }

// HTTPEndpoint is the receiver's OTLP/HTTP base URL (http://127.0.0.1:PORT): the
// exporter appends /v1/traces.
func (r *OTLPReceiver) HTTPEndpoint() string { return "http://" + r.httpLn.Addr().String() }

// Export implements the OTLP gRPC TraceService.
func (r *OTLPReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *OTLPReceiver) serveHTTP(w http.ResponseWriter, hr *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, hr.Body, 16<<20)
	if hr.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ct := hr.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "content type "+ct+" (want application/x-protobuf)", http.StatusUnsupportedMediaType)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&req)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *OTLPReceiver) add(req *collectortrace.ExportTraceServiceRequest) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					Service:    service,
					Name:       s.GetName(),
					TraceID:    hex.EncodeToString(s.GetTraceId()),
					SpanID:     hex.EncodeToString(s.GetSpanId()),
					Attrs:      attrs(s.GetAttributes()),
					StatusCode: map[int32]string{0: "unset", 1: "ok", 2: "error"}[int32(s.GetStatus().GetCode())],
					Status:     s.GetStatus().GetMessage(),
					Kind:       map[int32]string{1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}[int32(s.GetKind())],
				}
				if p := s.GetParentSpanId(); len(p) > 0 {
					sp.ParentSpanID = hex.EncodeToString(p)
				}
				got = append(got, sp)
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.requests++
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(v.BoolValue)
		default:
			m[kv.GetKey()] = fmt.Sprint(kv.GetValue())
		}
	}
	return m
}

// Spans returns a copy of every span received so far.
func (r *OTLPReceiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Requests is the number of export requests received (0: nothing was sent).
func (r *OTLPReceiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// WaitSpans waits until a span named name has arrived and returns every span
// received; it fails the test after timeout.
func (r *OTLPReceiver) WaitSpans(t testing.TB, name string, timeout time.Duration) []Span {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		spans := append([]Span(nil), r.spans...)
		changed := r.changed
		r.mu.Unlock()
		for _, s := range spans {
			if s.Name == name {
				return spans
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("otlp receiver: no span %q within %v (got %d spans: %+v)", name, timeout, len(spans), spans)
			return nil
		}
	}
}
