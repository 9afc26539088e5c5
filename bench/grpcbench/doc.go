// Package grpcbench is the gRPC half of the load benchmark: a bare Envoy ext_authz
// v3 Authorization server (the baseline the verifier's gRPC adapter is compared
// with), and a closed-loop load generator written with grpc-go, in the manner of
// ghz, that sends CheckRequests shaped as Envoy's ext_authz filter sends them.
//
// Both sides use default grpc-go settings over plaintext HTTP/2 on loopback; the
// generator spreads its concurrent callers over a few connections, as Envoy does
// with its per-worker connections to a cluster.
package grpcbench
