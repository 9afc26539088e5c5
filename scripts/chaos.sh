#!/usr/bin/env bash
# The long form of the Jepsen-style fault test (chaos/): a workload of simulated
# users against two issuers and three verifiers behind nginx, its own PostgreSQL
# and Redis, while faults are injected on a seeded schedule; the checker's verdict
# and the per-fault numbers go to docs/reliability.md. The short form (20 s) runs
# in `make test` as part of `go test ./...`.
#   scripts/chaos.sh                        10 minutes, seed from the clock (printed)
#   CHAOS_DURATION=30m CHAOS_SEED=42 CHAOS_USERS=20 scripts/chaos.sh
# Needs nginx, redis-server (scripts/install-deps.sh) and PostgreSQL's initdb and
# pg_ctl (Debian's postgresql package; PG_BIN may name their directory).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
bash scripts/install-deps.sh
duration="${CHAOS_DURATION:-10m}"
go test -count=1 -v -timeout 0 -run '^TestChaos$' ./chaos/ \
	-chaos.duration="$duration" -chaos.seed="${CHAOS_SEED:-0}" -chaos.users="${CHAOS_USERS:-12}" \
	-chaos.report="$PWD/docs/reliability.md" 2>&1 | grep -E '^(=== |--- |\s+chaos_test|\s+(request|fault in force|seed):|ok|FAIL|PASS)' 
exit "${PIPESTATUS[0]}"
