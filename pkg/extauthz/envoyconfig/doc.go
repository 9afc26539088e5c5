// Package envoyconfig checks Envoy bootstraps that put the vexen verifier in front
// of an application, without running Envoy. It backs the tests of the sample
// bootstraps in the repository's envoy/ directory, and operators can run it on
// their own configuration.
//
// Three layers, each catching what the one before cannot:
//
//   - Decode parses YAML strictly into envoy.config.bootstrap.v3.Bootstrap (the
//     go-control-plane types of the Envoy API this module builds against): an
//     unknown field, an unknown enum name, a wrong value type or an @type that
//     names no registered message is an error.
//   - Validate runs the protoc-gen-validate rules of Envoy's protos on the
//     bootstrap and, unlike Bootstrap.ValidateAll alone, on every message packed
//     in a google.protobuf.Any (every typed_config).
//   - Check applies rules only a running Envoy, or the vexen deployment, would
//     reveal: clusters that exist, the router last, ext_authz failing closed,
//     HTTP/2 to the gRPC verifier, client-forged identity headers stripped (see
//     Check for the list).
//
// What it cannot prove: that Envoy starts (listener ports, DNS, file paths,
// runtime, extensions missing from a given Envoy build), and anything about
// traffic. An Envoy older than the API version of go-control-plane may reject
// fields this package accepts.
//
// Only message types linked into the program can be resolved from an @type: the
// ones the samples use (HTTP connection manager, ext_authz, router, header
// mutation, upstream HTTP protocol options, stdout and file access logs, TLS
// transport sockets). A program that checks configs using other extensions
// blank-imports their go-control-plane packages.
package envoyconfig
