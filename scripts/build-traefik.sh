#!/usr/bin/env bash
# Build Traefik v3 from the Go module proxy into the vexen-auth tools cache, for
# the e2e tests of traefik/ (e2e/).
#
# Adapted from /work/shared/proxies/build-traefik.sh (the team's measured notes on
# running real proxies on this machine kind, ../shared/proxies/NOTES.md); changes:
# installs into the tools cache, skips the build when the cached binary already
# has the wanted version, and renames the binary into place atomically.
#
#   scripts/build-traefik.sh          builds (or keeps) $VEXEN_TOOLS/bin/traefik
#
# Environment:
#   VEXEN_TOOLS        tools cache (default /var/cache/vexen-auth/tools); binary at
#                      $VEXEN_TOOLS/bin/traefik, throwaway build module under
#                      $VEXEN_TOOLS/src/traefikbuild.
#   TRAEFIK_VERSION    module version (default v3.7.13; the stand-ins below were
#                      written against v3.7.13 only).
#
# Why not `go install github.com/traefik/traefik/v3/cmd/traefik@VERSION`: traefik's
# go.mod has replace directives (go install refuses those), and the module proxy
# reachable here lacks three things it needs, so this script builds it in a
# throwaway module with local stand-ins:
#   1. github.com/traefik/traefik/dynamic/ext (unpublished nested module; v3.7.x
#      uses two empty structs from it);
#   2. ~15 DNS-provider SDKs imported by lego/v5's providers/dns (that package is
#      reduced to a stub: ACME DNS challenges are missing from this build);
#   3. the containous/go-http-auth fork (upstream abbot/go-http-auth v0.4.0 plus
#      the two functions traefik uses from the fork: digest "stale" is dropped).
# forwardAuth, the middleware vexen-auth is tested with, is untouched.
# Nothing prebuilt is downloaded; everything is compiled from source modules.
set -euo pipefail

V=${TRAEFIK_VERSION:-v3.7.13}
LEGO=v5.4.1     # lego/v5 version required by traefik v3.7.13's go.mod
HTTPAUTH=v0.4.0 # only served version of github.com/abbot/go-http-auth
TOOLS=${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}
BIN=$TOOLS/bin
W=$TOOLS/src/traefikbuild
mkdir -p "$BIN"

# One build at a time per tools cache (parallel CI steps, two shells): the second
# waits, then finds the binary cached.
exec 9>"$TOOLS/.build-traefik.lock"
flock 9

if [ -x "$BIN/traefik" ]; then
	have=$("$BIN/traefik" version 2>/dev/null | awk '$1 == "Version:" {print $2}') || have=
	if [ "$have" = "$V" ]; then
		echo "build-traefik: $BIN/traefik is $V (cached)"
		exit 0
	fi
	echo "build-traefik: cached traefik is '${have:-unknown}', want $V; rebuilding"
fi

start=$(date +%s)
rm -rf "$W"
mkdir -p "$W"
cd "$W"
export GOFLAGS=-buildvcs=false

moddir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }

# 1) Stand-in for the unpublished github.com/traefik/traefik/dynamic/ext.
mkdir -p ext
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' >ext/go.mod
cat >ext/ext.go <<'GO'
// Package ext is a stand-in for traefik's unpublished dynamic/ext module.
package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}
GO

# 2) Local copy of lego with providers/dns reduced to a stub.
cp -r "$(moddir "github.com/go-acme/lego/v5@$LEGO")" lego
chmod -R u+w lego
rm -f lego/providers/dns/*.go
cat >lego/providers/dns/stub.go <<'GO'
// Package dns is a stub: DNS challenge providers are not compiled into this build.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName always fails in this build.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("DNS challenge provider %q not compiled into this build", name)
}
GO

# 3) Upstream go-http-auth plus the two functions traefik needs from the fork.
cp -r "$(moddir "github.com/abbot/go-http-auth@$HTTPAUTH")" go-http-auth
chmod -R u+w go-http-auth
rm -rf go-http-auth/examples go-http-auth/*_test.go
printf 'module github.com/abbot/go-http-auth\n\ngo 1.12\n' >go-http-auth/go.mod
cat >go-http-auth/checksecret.go <<'GO'
package auth

import (
	"net/http"
	"strings"
)

// RequireAuthStale: the fork adds stale=true to the challenge; plain RequireAuth is enough here.
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) { a.RequireAuth(w, r) }

// CheckSecret reports whether password matches secret (MD5-crypt, {SHA} or bcrypt).
func CheckSecret(password, secret string) bool {
	compare := compareFuncs[0].compare
	for _, cmp := range compareFuncs[1:] {
		if strings.HasPrefix(secret, cmp.prefix) {
			compare = cmp.compare
			break
		}
	}
	return compare([]byte(secret), []byte(password)) == nil
}
GO

cat >go.mod <<'MOD'
module traefikbuild

go 1.26.0

replace (
	github.com/abbot/go-http-auth => ./go-http-auth
	github.com/go-acme/lego/v5 => ./lego
	github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
	github.com/traefik/traefik/dynamic/ext => ./ext
)

exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible
MOD

go get "github.com/traefik/traefik/v3/cmd/traefik@$V"
go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$V" \
	-o traefik.new github.com/traefik/traefik/v3/cmd/traefik
# Rename into place so a concurrent run never sees a half-written binary.
mv -f traefik.new "$BIN/traefik"
echo "build-traefik: built traefik $V in $(($(date +%s) - start))s -> $BIN/traefik"
"$BIN/traefik" version
