#!/usr/bin/env bash
# The load benchmark (`make bench`): installs wrk, nginx and redis-server if they are
# missing (scripts/install-deps.sh), makes sure PostgreSQL and Redis are up
# (scripts/services.sh), builds oauth2-proxy and Oathkeeper into the tools cache once
# (the peers scenario), builds the issuer, the verifier and the harness (bench/),
# and runs it: pkg/verify's Go benchmarks first, then every load scenario against
# its baseline, CPU profiles of the bare server and the verifier (cached, redis)
# under the same load, revocation propagation and memory. It prints the table and
# rewrites docs/benchmarks.md and docs/benchmarks.png. About 25 minutes on 2 cores,
# plus the build.
#
#   scripts/bench.sh                      the full run, as docs/benchmarks.md states it
#   scripts/bench.sh -quick               a shorter run to try the harness (~3 minutes)
#   scripts/bench.sh -duration 10s        longer runs (the default is 8s each)
#   scripts/bench.sh -profile /tmp/prof   keep the CPU profiles (the default run takes them into a temporary directory)
#
# Extra arguments go to `vexenbench run` (see `go run ./bench run -help`). A run with
# arguments writes docs/ only if given -out and -chart itself: the committed report
# is the default run's.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

bash scripts/install-deps.sh
bash scripts/services.sh
# The peers scenario's oauth2-proxy and Oathkeeper, built once into the tools cache
# ($VEXEN_TOOLS) from the Go module proxy; later runs find them cached.
bash scripts/build-oauth2-proxy.sh
bash scripts/build-oathkeeper.sh

bin=$(mktemp -d /tmp/vexenbench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
t0=$(date +%s)
go build -o "$bin/" ./cmd/issuer ./cmd/verifier
go build -o "$bin/vexenbench" ./bench
echo "bench: built in $(( $(date +%s) - t0 ))s"

if [ $# -eq 0 ]; then
	"$bin/vexenbench" run -bin "$bin" -profile "$bin/profiles" -out docs/benchmarks.md -chart docs/benchmarks.png -command "make bench"
	exit
fi
"$bin/vexenbench" run -bin "$bin" "$@"
