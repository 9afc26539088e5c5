#!/usr/bin/env bash
# Build oauth2-proxy from the Go module proxy into the vexen-auth tools cache, for
# the `peers` scenario of the load benchmark (bench/, scripts/bench.sh). Not used by CI.
#
#   scripts/build-oauth2-proxy.sh     builds (or keeps) $VEXEN_TOOLS/bin/oauth2-proxy
#
# Environment:
#   VEXEN_TOOLS            tools cache (default /var/cache/vexen-auth/tools); binary at
#                          $VEXEN_TOOLS/bin/oauth2-proxy, throwaway build module under
#                          $VEXEN_TOOLS/src/oauth2-proxybuild.
#   OAUTH2_PROXY_VERSION   module version (default v7.15.6, the version issue 17 pins).
#
# The module has no replace directives, but it is built in a throwaway module (as
# scripts/build-traefik.sh does) so that the version can be stamped the way the
# project's Makefile does (-X .../pkg/version.VERSION) and checked on the next run.
set -euo pipefail

V=${OAUTH2_PROXY_VERSION:-v7.15.6}
MOD=github.com/oauth2-proxy/oauth2-proxy/v7
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
W=$TOOLS/src/oauth2-proxybuild
mkdir -p "$BIN"

# One build at a time per tools cache: the second caller waits, then finds it cached.
exec 9>"$TOOLS/.build-oauth2-proxy.lock"
flock 9

if [ -x "$BIN/oauth2-proxy" ]; then
	# "oauth2-proxy v7.15.6 (built with go1.26.x)"
	have=$("$BIN/oauth2-proxy" --version 2>/dev/null | awk '{print $2}') || have=
	if [ "$have" = "$V" ]; then
		echo "build-oauth2-proxy: $BIN/oauth2-proxy is $V (cached)"
		exit 0
	fi
	echo "build-oauth2-proxy: cached oauth2-proxy is '${have:-unknown}', want $V; rebuilding"
fi

start=$(date +%s)
rm -rf "$W"
mkdir -p "$W"
cd "$W"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
printf 'module oauth2proxybuild\n\ngo 1.26.0\n' >go.mod
go get "$MOD@$V"
go build -trimpath -ldflags "-s -w -X $MOD/pkg/version.VERSION=$V" -o oauth2-proxy.new "$MOD"
# Rename into place so a concurrent run never sees a half-written binary.
mv -f oauth2-proxy.new "$BIN/oauth2-proxy"
echo "build-oauth2-proxy: built oauth2-proxy $V in $(($(date +%s) - start))s -> $BIN/oauth2-proxy"
"$BIN/oauth2-proxy" --version
