#!/usr/bin/env bash
# Build Helm v4 from the Go module proxy into the vexen-auth tools cache, for the
# chart tests of deploy/helm/vexen-auth (deploy/helm_test.go).
#
# Same pattern as scripts/build-traefik.sh: installs into the tools cache, skips
# the build when the cached binary already reports the wanted version, and renames
# the binary into place atomically. Nothing prebuilt is downloaded.
#
#   scripts/build-helm.sh             builds (or keeps) $VEXEN_TOOLS/bin/helm
#
# Environment:
#   VEXEN_TOOLS    tools cache (default /var/cache/vexen-auth/tools)
#   HELM_VERSION   module version of helm.sh/helm/v4 (default v4.3.2)
set -euo pipefail

V=${HELM_VERSION:-v4.3.2}
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"
export PATH="/usr/local/go/bin:$PATH"

exec 9>"$TOOLS/.build-helm.lock"
flock 9

if [ -x "$BIN/helm" ]; then
	have=$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null) || have=
	if [ "$have" = "$V" ]; then
		echo "build-helm: $BIN/helm is $V (cached)"
		exit 0
	fi
	echo "build-helm: cached helm is '${have:-unknown}', want $V; rebuilding"
fi

start=$(date +%s)
tmp=$(mktemp -d "$TOOLS/.helm-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# helm's go.mod has no replace directives, so go install works as is. Helm's own
# Makefile stamps the version the same way (internal/version.version).
GOBIN=$tmp GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath \
	-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$V" \
	"helm.sh/helm/v4/cmd/helm@$V"
mv -f "$tmp/helm" "$BIN/helm"
echo "build-helm: built helm $V in $(($(date +%s) - start))s -> $BIN/helm"
"$BIN/helm" version
