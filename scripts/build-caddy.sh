#!/usr/bin/env bash
# Build Caddy v2 from the Go module proxy into the vexen-auth tools cache, for the
# e2e tests of caddy/Caddyfile (e2e/). Debian's caddy 2.6.2 is not usable: when
# forward_auth's verifier answers 2xx without a header listed in copy_headers, it
# passes the literal placeholder text "{http.reverse_proxy.header.X-...}" upstream;
# 2.11.x removes the header instead.
#
#   scripts/build-caddy.sh            builds (or keeps) $VEXEN_TOOLS/bin/caddy
#
# Environment:
#   VEXEN_TOOLS     tools cache (default /var/cache/vexen-auth/tools); the binary
#                   goes to $VEXEN_TOOLS/bin/caddy.
#   CADDY_VERSION   module version (default v2.11.9).
#
# Idempotent: does nothing when the cached binary already reports CADDY_VERSION.
# Nothing prebuilt is downloaded; the binary is compiled from source modules.
set -euo pipefail

CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"

# One build at a time per tools cache (parallel CI steps, two shells): the second
# waits, then finds the binary cached.
exec 9>"$TOOLS/.build-caddy.lock"
flock 9

caddy_version() {
	"$1" build-info 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/caddyserver/caddy/v2" {print $3}' || true
}

if [ -x "$BIN/caddy" ]; then
	# `caddy version` says "unknown" for a binary built with go install (caddy is
	# then the main module); build-info names the caddy module's version.
	have=$(caddy_version "$BIN/caddy")
	if [ "$have" = "$CADDY_VERSION" ]; then
		echo "build-caddy: $BIN/caddy is $CADDY_VERSION (cached)"
		exit 0
	fi
	echo "build-caddy: cached caddy is '${have:-unknown}', want $CADDY_VERSION; rebuilding"
fi

start=$(date +%s)
# Install into a private directory and rename into place, so a concurrent run
# or an interrupted build never leaves a half-written binary at $BIN/caddy.
tmp=$(mktemp -d "$BIN/.caddy-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOFLAGS=-buildvcs=false go install -trimpath \
	"github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION"
mv -f "$tmp/caddy" "$BIN/caddy"
echo "build-caddy: built caddy $(caddy_version "$BIN/caddy") in $(($(date +%s) - start))s -> $BIN/caddy"
