// Package envoy holds no code. Its directory holds the sample Envoy bootstraps
// (envoy-grpc.yaml: the ext_authz filter asking the verifier over gRPC;
// envoy-http.yaml: the same filter asking the verifier's HTTP /auth endpoint), their
// README, and the tests that check them against Envoy's protos with
// github.com/vexen/vexen-auth/pkg/extauthz/envoyconfig.
package envoy
