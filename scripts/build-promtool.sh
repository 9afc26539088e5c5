#!/usr/bin/env bash
# Build Prometheus's promtool from the Go module proxy into the vexen-auth tools
# cache, for `promtool check rules` / `promtool test rules` on deploy/prometheus/.
#
# Same pattern as scripts/build-traefik.sh: installs into the tools cache, skips
# the build when the cached binary already reports the wanted version, and renames
# the binary into place atomically. Nothing prebuilt is downloaded.
#
#   scripts/build-promtool.sh         builds (or keeps) $VEXEN_TOOLS/bin/promtool
#
# Environment:
#   VEXEN_TOOLS          tools cache (default /var/cache/vexen-auth/tools)
#   PROMETHEUS_VERSION   module version of github.com/prometheus/prometheus
#                        (default v0.316.0, which is Prometheus 3.16.0: the module's
#                        v0.3MM.P is release 3.MM.P)
set -euo pipefail

V=${PROMETHEUS_VERSION:-v0.316.0}
# v0.316.0 -> 3.16.0, the version promtool reports.
REL=$(echo "$V" | sed -E 's/^v0\.3([0-9][0-9])\.([0-9]+)$/3.\1.\2/; s/^3\.0([0-9])/3.\1/')
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"
export PATH="/usr/local/go/bin:$PATH"

exec 9>"$TOOLS/.build-promtool.lock"
flock 9

if [ -x "$BIN/promtool" ]; then
	have=$("$BIN/promtool" --version 2>&1 | awk '$1 == "promtool," && $2 == "version" {print $3}') || have=
	if [ "$have" = "$REL" ]; then
		echo "build-promtool: $BIN/promtool is $REL (cached)"
		exit 0
	fi
	echo "build-promtool: cached promtool is '${have:-unknown}', want $REL; rebuilding"
fi

start=$(date +%s)
tmp=$(mktemp -d "$TOOLS/.promtool-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Prometheus's go.mod has no replace directives, so go install works as is; the
# version is stamped as Prometheus's own release build does (prometheus/common/version).
GOBIN=$tmp GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=$REL -X github.com/prometheus/common/version.Revision=module-$V" \
	"github.com/prometheus/prometheus/cmd/promtool@$V"
mv -f "$tmp/promtool" "$BIN/promtool"
echo "build-promtool: built promtool $REL in $(($(date +%s) - start))s -> $BIN/promtool"
"$BIN/promtool" --version
