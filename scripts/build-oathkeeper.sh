#!/usr/bin/env bash
# Build ORY Oathkeeper from the Go module proxy into the vexen-auth tools cache, for
# the `peers` scenario of the load benchmark (bench/, scripts/bench.sh). Not used by CI.
#
#   scripts/build-oathkeeper.sh       builds (or keeps) $VEXEN_TOOLS/bin/oathkeeper
#
# Environment:
#   VEXEN_TOOLS          tools cache (default /var/cache/vexen-auth/tools); binary at
#                        $VEXEN_TOOLS/bin/oathkeeper, throwaway build module under
#                        $VEXEN_TOOLS/src/oathkeeperbuild.
#   OATHKEEPER_VERSION   module version (default v0.40.9, the version issue 17 pins).
#
# Why not `go install github.com/ory/oathkeeper@VERSION`: its go.mod has a replace
# directive (go-sqlite3 pinned to v1.14.10), which go install refuses; the throwaway
# module repeats it. CGO is off: the sqlite driver is only used by Ory's test helpers.
set -euo pipefail

V=${OATHKEEPER_VERSION:-v0.40.9}
MOD=github.com/ory/oathkeeper
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
W=$TOOLS/src/oathkeeperbuild
mkdir -p "$BIN"

# One build at a time per tools cache: the second caller waits, then finds it cached.
exec 9>"$TOOLS/.build-oathkeeper.lock"
flock 9

if [ -x "$BIN/oathkeeper" ]; then
	# "Version:    v0.40.9"
	have=$("$BIN/oathkeeper" version 2>/dev/null | awk '$1 == "Version:" {print $2}') || have=
	if [ "$have" = "$V" ]; then
		echo "build-oathkeeper: $BIN/oathkeeper is $V (cached)"
		exit 0
	fi
	echo "build-oathkeeper: cached oathkeeper is '${have:-unknown}', want $V; rebuilding"
fi

start=$(date +%s)
rm -rf "$W"
mkdir -p "$W"
cd "$W"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
cat >go.mod <<MOD
module oathkeeperbuild

go 1.22

replace github.com/mattn/go-sqlite3 => github.com/mattn/go-sqlite3 v1.14.10
MOD
go get "$MOD@$V"
go build -trimpath -ldflags "-s -w -X $MOD/x.Version=$V -X $MOD/x.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" -o oathkeeper.new "$MOD"
# Rename into place so a concurrent run never sees a half-written binary.
mv -f oathkeeper.new "$BIN/oathkeeper"
echo "build-oathkeeper: built oathkeeper $V in $(($(date +%s) - start))s -> $BIN/oathkeeper"
"$BIN/oathkeeper" version
