#!/usr/bin/env bash
# What a sign-in, a refresh and a logout cost the issuer and PostgreSQL, for the
# capacity model (docs/scaling.md):
#
#   scripts/issuer-cost.sh                     the run docs/scaling.md quotes (~2 minutes)
#   COUNT=10 BENCHTIME=5s scripts/issuer-cost.sh
#   TEST_DATABASE_URL=postgres://user@db:5432/postgres scripts/issuer-cost.sh
#
# It runs pkg/issue's benchmarks (BenchmarkLogin, BenchmarkRefresh, BenchmarkLogout on
# PostgreSQL; BenchmarkArgon2id; BenchmarkRevocationLog, a verifier's read of the
# revocation log, per row) COUNT times each and prints, per benchmark, the
# median over runs of each figure: ns/op; cpu-us/op, the issuer's CPU time; stmts/op
# and tx/op, the SQL statements and transactions sent (a pgx tracer on the store's
# pool); pg-cpu-us/op, the CPU time of the PostgreSQL backends serving the
# benchmark's database (/proc/PID/schedstat, so only with the server on this
# machine). Each benchmark creates a fresh database on TEST_DATABASE_URL (default:
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and drops it after; an
# unreachable server fails the run. The sign-in runs with the default argon2id
# parameters (m=19456 KiB, t=2, p=1) and with the tests' cheap ones (m=1024, t=1),
# which shows the rest of a sign-in's cost.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-3s}

raw=$(mktemp /tmp/vexen-issuer-cost.XXXXXX)
trap 'rm -f "$raw"' EXIT
echo "issuer-cost: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
go test -run '^$' -bench '^Benchmark(Login|Refresh|Logout)$/PostgreSQL|^Benchmark(Argon2id|RevocationLog)$' \
	-benchmem -benchtime "$BENCHTIME" -count "$COUNT" ./pkg/issue/ | tee "$raw" >&2

# Medians over the COUNT runs, one line per benchmark: "name  value unit  value unit ...".
awk '/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	for (i = 3; i < NF; i += 2) {
		u = $(i + 1)
		k = name SUBSEP u
		if (!(k in useen)) { useen[k] = 1; units[name, ++nu[name]] = u }
		vals[k] = vals[k] " " $i
	}
}
END {
	for (j = 1; j <= n; j++) {
		name = order[j]; line = name
		for (x = 1; x <= nu[name]; x++) {
			u = units[name, x]
			m = split(substr(vals[name SUBSEP u], 2), v, " ")
			for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (v[b] + 0 < v[a] + 0) { t = v[a]; v[a] = v[b]; v[b] = t }
			med = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
			line = line sprintf("  %.4g %s", med, u)
		}
		print line
	}
}' "$raw"
