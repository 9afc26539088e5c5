package grpcbench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vexen/vexen-auth/bench/stats"
)

// Baseline is the reference Authorization server: it reads the authorization header
// of the CheckRequest and answers OK with one header, or PERMISSION_DENIED without
// one. Its answers are built once.
type Baseline struct {
	authv3.UnimplementedAuthorizationServer
	ok, denied *authv3.CheckResponse
}

var _ authv3.AuthorizationServer = (*Baseline)(nil)

// NewBaseline returns the baseline server's implementation.
func NewBaseline() *Baseline {
	return &Baseline{
		ok: &authv3.CheckResponse{
			Status: &statuspb.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-auth-user", Value: "baseline"}}},
			}},
		},
		denied: &authv3.CheckResponse{
			Status: &statuspb.Status{Code: int32(codes.Unauthenticated)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
			}},
		},
	}
}

// Check implements authv3.AuthorizationServer.
func (b *Baseline) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if r.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"] == "" {
		return b.denied, nil
	}
	return b.ok, nil
}

// NewBaselineServer returns a gRPC server with the baseline registered.
func NewBaselineServer() *grpc.Server {
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, NewBaseline())
	return s
}

// CheckRequest builds the CheckRequest Envoy's ext_authz filter sends for
// "GET http://app.example.com/api/items/42" from 127.0.0.1 carrying token as a
// bearer token (header keys lower-cased, pseudo-headers included).
func CheckRequest(token string, seq int) *authv3.CheckRequest {
	id := "bench-" + strconv.Itoa(seq)
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: socket("127.0.0.1", 40000+uint32(seq%20000))},
		Destination: &authv3.AttributeContext_Peer{Address: socket("127.0.0.1", 10000)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id:     id,
			Method: "GET",
			Headers: map[string]string{
				":authority":        "app.example.com",
				":method":           "GET",
				":path":             "/api/items/42",
				":scheme":           "http",
				"accept":            "application/json",
				"authorization":     "Bearer " + token,
				"user-agent":        "vexenbench/1",
				"x-forwarded-proto": "http",
				"x-request-id":      id,
			},
			Path:     "/api/items/42",
			Host:     "app.example.com",
			Scheme:   "http",
			Protocol: "HTTP/1.1",
		}},
	}}
}

func socket(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// LoadOptions configure Load.
type LoadOptions struct {
	Target      string        // host:port of the Authorization server
	Tokens      []string      // rotated through, one CheckRequest each
	Duration    time.Duration // required
	Conns       int           // HTTP/2 connections; default 2
	Concurrency int           // callers with one Check in flight each; default 64
	Timeout     time.Duration // per call; default 5s
}

// Load runs a closed-loop load of Check calls for Duration: Concurrency callers,
// spread over Conns connections, each sending its next request as soon as the
// previous answer arrives. A call that fails, or whose answer is not OK, is a
// failure. Requests are built before the clock starts.
func Load(ctx context.Context, o LoadOptions) (stats.Run, error) {
	if o.Conns <= 0 {
		o.Conns = 2
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Duration <= 0 || len(o.Tokens) == 0 {
		return stats.Run{}, errors.New("grpcbench: Load needs a duration and tokens")
	}
	reqs := make([]*authv3.CheckRequest, len(o.Tokens))
	for i, t := range o.Tokens {
		reqs[i] = CheckRequest(t, i)
	}
	clients := make([]authv3.AuthorizationClient, o.Conns)
	for i := range clients {
		cc, err := grpc.NewClient(o.Target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return stats.Run{}, fmt.Errorf("grpcbench: dial %s: %w", o.Target, err)
		}
		defer cc.Close()
		clients[i] = authv3.NewAuthorizationClient(cc)
		// Connect and prove the server answers before the clock starts.
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		_, err = clients[i].Check(cctx, reqs[0])
		cancel()
		if err != nil {
			return stats.Run{}, fmt.Errorf("grpcbench: first Check to %s: %w", o.Target, err)
		}
	}
	type result struct {
		lat      []time.Duration
		failures int64
		first    error
	}
	results := make([]result, o.Concurrency)
	start := time.Now()
	end := start.Add(o.Duration)
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			r.lat = make([]time.Duration, 0, 4096)
			cl := clients[w%len(clients)]
			for i := w; ctx.Err() == nil; i += o.Concurrency {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, o.Timeout)
				resp, err := cl.Check(cctx, reqs[i%len(reqs)])
				cancel()
				r.lat = append(r.lat, time.Since(t0))
				switch {
				case err != nil:
					r.failures++
					if r.first == nil {
						r.first = err
					}
				case resp.GetStatus().GetCode() != int32(codes.OK):
					r.failures++
					if r.first == nil {
						r.first = fmt.Errorf("grpcbench: Check answered %s", codes.Code(resp.GetStatus().GetCode()))
					}
				}
			}
		}()
	}
	wg.Wait()
	run := stats.Run{Elapsed: time.Since(start)}
	var lat []time.Duration
	var first error
	for _, r := range results {
		lat = append(lat, r.lat...)
		run.Failures += r.failures
		if first == nil {
			first = r.first
		}
	}
	if err := ctx.Err(); err != nil {
		return run, err
	}
	if len(lat) == 0 {
		return run, stats.ErrEmpty
	}
	run.Requests = int64(len(lat))
	run.Latency, _ = stats.Summarize(lat)
	if run.Failures > 0 && first != nil {
		return run, fmt.Errorf("grpcbench: %d of %d calls failed, first: %w", run.Failures, run.Requests, first)
	}
	return run, nil
}
