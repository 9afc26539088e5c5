#!/usr/bin/env bash
# Runs every test: unit, integration (real PostgreSQL and Redis) and end to end
# (real nginx, Traefik and Caddy). Installs and builds what the tests need first;
# a missing piece fails the run, it is never skipped.
#   scripts/test.sh [go test flags]      e.g. scripts/test.sh -run TestNginx ./e2e/
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
export VEXEN_TOOLS="${VEXEN_TOOLS:-/var/cache/vexen-auth/tools}"

t0=$(date +%s)
bash scripts/install-deps.sh
bash scripts/build-caddy.sh
bash scripts/build-traefik.sh
bash scripts/build-hydra.sh
bash scripts/build-helm.sh
bash scripts/build-promtool.sh
export PATH="$VEXEN_TOOLS/bin:$PATH"
bash scripts/services.sh
echo "test: tools and services ready in $(( $(date +%s) - t0 ))s"

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "test: gofmt needed on: $unformatted" >&2; exit 1; fi
go vet ./...
(cd deploy && go vet ./...)
if [ $# -eq 0 ]; then
	go test -race -count=1 -timeout 30m ./...
	# The deployment artifacts: a nested module (deploy/go.mod) that ./... does not enter.
	(cd deploy && go test -count=1 -timeout 20m ./...)
	# Every Fuzz* target for a few seconds on its corpus plus fresh inputs (make fuzz: longer).
	FUZZTIME="${FUZZTIME:-2s}" bash scripts/fuzz.sh
else
	go test -race -count=1 -timeout 30m "$@"
fi
