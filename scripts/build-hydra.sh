#!/usr/bin/env bash
# Build ORY Hydra v2 from the Go module proxy into the vexen-auth tools cache: the
# real OpenID Connect provider of the federated sign-in tests (pkg/federate,
# internal/testenv/hydra.go, e2e/).
#
#   scripts/build-hydra.sh            builds (or keeps) $VEXEN_TOOLS/bin/hydra
#
# Environment:
#   VEXEN_TOOLS     tools cache (default /var/cache/vexen-auth/tools); binary at
#                   $VEXEN_TOOLS/bin/hydra, throwaway build module under
#                   $VEXEN_TOOLS/src/hydrabuild.
#   HYDRA_VERSION   module version (default v2.3.0).
#
# Built with -tags sqlite so that DSN=memory (an in-memory SQLite database, no
# migrations to run) works: the tests start one throwaway Hydra per provider.
# Idempotent: does nothing when the cached binary already reports HYDRA_VERSION.
# Nothing prebuilt is downloaded; everything is compiled from source modules.
set -euo pipefail

V=${HYDRA_VERSION:-v2.3.0}
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
W=$TOOLS/src/hydrabuild
mkdir -p "$BIN"

# One build at a time per tools cache: the second waits, then finds it cached.
exec 9>"$TOOLS/.build-hydra.lock"
flock 9

if [ -x "$BIN/hydra" ]; then
	have=$("$BIN/hydra" version 2>/dev/null | awk '$1 == "Version:" {print $2}') || have=
	if [ "$have" = "$V" ]; then
		echo "build-hydra: $BIN/hydra is $V (cached)"
		exit 0
	fi
	echo "build-hydra: cached hydra is '${have:-unknown}', want $V; rebuilding"
fi

start=$(date +%s)
rm -rf "$W"
mkdir -p "$W"
cd "$W"
export GOFLAGS=-buildvcs=false
moddir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }
# Hydra's go.mod replaces gobuffalo/pop with ORY's fork; a dependent module does
# not inherit replace directives (and `go install mod@version` refuses them), so
# the build module repeats it. (Its other replace, the API client, points into a
# directory the module zip leaves out; the published client module is used.)
printf 'module hydrabuild\n\ngo 1.26.0\n' >go.mod
src=$(moddir "github.com/ory/hydra/v2@$V")
POP=$(sed -n 's|^replace github.com/gobuffalo/pop/v6 => github.com/ory/pop/v6 \(.*\)$|\1|p' "$src/go.mod")
[ -n "$POP" ] || { echo "build-hydra: no pop replace in hydra's go.mod" >&2; exit 1; }
printf 'module hydrabuild\n\ngo 1.26.0\n\nreplace github.com/gobuffalo/pop/v6 => github.com/ory/pop/v6 %s\n' "$POP" >go.mod
go get "github.com/ory/hydra/v2@$V"
go build -trimpath -tags sqlite \
	-ldflags "-s -w -X github.com/ory/hydra/v2/driver/config.Version=$V" \
	-o hydra.new github.com/ory/hydra/v2
mv -f hydra.new "$BIN/hydra"
echo "build-hydra: built hydra $V in $(($(date +%s) - start))s -> $BIN/hydra"
"$BIN/hydra" version
