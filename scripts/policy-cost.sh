#!/usr/bin/env bash
# The access policy's cost on the cached decision (issue 10: a 100-rule policy within
# 10 % of no policy, 0 allocations). Two measurements, both in this one run:
#
#  - instructions (valgrind --tool=callgrind): nearly deterministic, whatever else the
#    machine runs. Each figure is the difference of the instructions of two whole runs
#    of the same benchmark with N1 and N2 iterations, divided by N2-N1, so the set-up
#    (fixture, first sight of the token) cancels out. (Not --toggle-collect: its on/off
#    state is per thread, and Go moves goroutines between threads, so it drifts.) The
#    verifier's background goroutines add a little noise to the pkg/verify figures.
#  - CPU time: BenchmarkDecideCachedPolicyRatio, both sides in one process in
#    alternating rounds (AB BA ...), the median of the rounds' ratios.
#
# It prints a Markdown section and writes it into docs/benchmarks.md between the
# policy-cost markers (kept by the load benchmark's report). Takes a few minutes.
#
#   scripts/policy-cost.sh            measure and update docs/benchmarks.md
#   scripts/policy-cost.sh -n         measure and print only
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
write=1
[[ "${1:-}" == "-n" ]] && write=0
out=docs/benchmarks.md
N1=${POLICY_COST_N1:-2000}
N2=${POLICY_COST_N2:-12000}
ROUNDS=${POLICY_COST_ROUNDS:-200}

if ! command -v valgrind >/dev/null; then
	echo "policy-cost: valgrind is required (apt-get install valgrind)" >&2
	exit 1
fi
tmp=$(mktemp -d /tmp/policy-cost.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/verify.test" ./pkg/verify/
go test -c -o "$tmp/policy.test" ./pkg/policy/

# collected BIN BENCH N: the instructions of a run of BENCH with N iterations. Go
# under valgrind 3.19: no preemption signals (callgrind asserts on them) and no
# RDTSCP (it cannot decode it).
collected() {
	local bin=$1 bench=$2 n=$3
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
		"$bin" -test.run='^$' -test.bench="$bench" -test.benchtime="${n}x" -test.cpu=1 >"$tmp/log" 2>&1 || {
		cat "$tmp/log" >&2
		exit 1
	}
	local c
	c=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/log")
	[[ -n "$c" ]] || { cat "$tmp/log" >&2; echo "policy-cost: no instruction count" >&2; exit 1; }
	echo "$c"
}
# per BIN BENCH [N1 N2]: instructions per iteration.
per() {
	local a b n1=${3:-$N1} n2=${4:-$N2}
	a=$(collected "$1" "$2" "$n1")
	b=$(collected "$1" "$2" "$n2")
	echo $(((b - a) / (n2 - n1)))
}

# Anchored at both levels: an unanchored 'BenchmarkDecideCachedPolicy' also selects
# BenchmarkDecideCachedPolicyRatio, whose N rounds of 20,000 decisions would be counted.
none=$(per "$tmp/verify.test" '^BenchmarkDecideCachedPolicy$/^none$')
pol=$(per "$tmp/verify.test" '^BenchmarkDecideCachedPolicy$/^rules=100$')
iratio=$(awk -v a="$pol" -v b="$none" 'BEGIN { printf "%.3f", a / b }')
match=()
for c in 'exact_host' 'wildcard_host' 'no_host_rule'; do
	# Ten times the iterations: one is about 1,000 instructions, and the set-up's
	# run-to-run variation (GC, the tables' random seeds) is not.
	match+=("$(per "$tmp/policy.test" "^BenchmarkMatch100\$/^$c" $((N1 * 10)) $((N2 * 10)))")
done

"$tmp/verify.test" -test.run='^$' -test.bench='^BenchmarkDecideCachedPolicyRatio$' -test.benchtime="${ROUNDS}x" -test.count=3 >"$tmp/cpu" 2>&1 || {
	cat "$tmp/cpu" >&2
	exit 1
}
cpu=$(awk '/^BenchmarkDecideCachedPolicyRatio/ {
	for (i = 2; i < NF; i++) { if ($(i+1) == "cpu-ns/none") n = $i; if ($(i+1) == "cpu-ns/rules100") p = $i; if ($(i+1) == "ratio") r = $i; if ($(i+1) == "allocs/op") a = $i }
	printf "| %d | %s | %s | %s | %s |\n", ++k, n, p, r, a }' "$tmp/cpu")

section="$tmp/section.md"
{
	echo "<!-- policy-cost: written by scripts/policy-cost.sh; the load benchmark keeps it -->"
	echo "## Access policy on the cached decision"
	echo
	echo "Measured on $(date -u '+%Y-%m-%d %H:%M') UTC with \`scripts/policy-cost.sh\` at $(git rev-parse --short HEAD); target (issue 10): a 100-rule policy within 10 % of no policy, 0 allocations."
	echo
	echo "Instructions per cached decision (BenchmarkDecideCachedPolicy, callgrind; about the same on a busy machine):"
	echo
	echo "| policy | instructions | ratio |"
	echo "| --- | --- | --- |"
	echo "| none | $none | 1 |"
	echo "| 100 rules (pkg/verify bigPolicy; the request matches the last rule) | $pol | $iratio |"
	echo
	echo "Instructions to canonicalise and match one request against 100 rules (pkg/policy BenchmarkMatch100, one loop iteration; runs of $((N1 * 10)) and $((N2 * 10))): exact host, last rule: ${match[0]}; wildcard host: ${match[1]}; no host rule, default: ${match[2]}."
	echo
	echo "CPU time of the benchmark's thread, both sides alternating in one process (\`BenchmarkDecideCachedPolicyRatio\`, $ROUNDS rounds of 10,000 decisions each; medians over rounds), load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores:"
	echo
	echo "| run | ns without policy | ns with 100 rules | ratio | allocs/op |"
	echo "| --- | --- | --- | --- | --- |"
	echo "$cpu"
	echo "<!-- /policy-cost -->"
} >"$section"
cat "$section"
if ((write)); then
	# Replace the section, or append it.
	awk -v sec="$section" '
		/^<!-- policy-cost/ { skip = 1; while ((getline l < sec) > 0) print l; done = 1; next }
		/^<!-- \/policy-cost -->/ { skip = 0; next }
		!skip { print }
		END { if (!done) { print ""; while ((getline l < sec) > 0) print l } }' "$out" >"$tmp/out.md"
	cp "$tmp/out.md" "$out"
	echo "policy-cost: wrote $out"
fi
