#!/usr/bin/env bash
# What each vexen-auth operation costs Redis, for the capacity model (docs/scaling.md):
#
#   scripts/redis-capacity.sh                  the run docs/scaling.md quotes (~1 minute)
#   scripts/redis-capacity.sh -rounds 5 -ops 50000 -subscribers 0,8,32,64
#
# It starts a throwaway redis-server on a free loopback port (never the shared one;
# the machine's redis-server binary: apt-get install redis-server) and drives it
# through pkg/rediscache, the code the issuer and the verifier run: the issuer's
# sign-in, refresh and logout writes, the verifier's lookup (MGET) of a local miss
# and the first sight of a token (MGET miss, then Fill), revocation events fanned out
# to N subscribed feeds (one client each, as N verifier processes), and idle feeds
# PINGing at the verifier's default interval. Redis's CPU time comes from INFO cpu
# and its commands from INFO commandstats, before and after each step; the Markdown
# tables it prints give, per operation, Redis CPU, the operations per second one
# Redis core (one shard) can serve, the commands sent and the memory the keys it
# writes take (INFO memory), as medians over rounds.
#
# On a machine with two CPUs or more, redis-server runs on CPU 0 and the driver on
# CPU 1 (taskset), so that they do not take each other's time. Extra arguments go to
# `vexenbench redis-capacity` (see `go run ./bench redis-capacity -help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then
	echo "redis-capacity: redis-server is required (apt-get install redis-server)" >&2
	exit 1
fi
bin=$(mktemp -d /tmp/vexen-rediscap-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/vexenbench" ./bench

pin=()
redis_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin=(taskset -c 1)
	redis_cpu=(-redis-cpu 0)
fi
echo "redis-capacity: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"${pin[@]}" "$bin/vexenbench" redis-capacity "${redis_cpu[@]}" "$@"
