#!/usr/bin/env bash
# Benchmark of the hot path: credential vending (POST /api/v1/credentials/exchange) against
# the ceiling of the same service in the same run (GET /healthz), then revocation under load.
#
# Builds the release stack, starts it (PostgreSQL, fakes, service) with the rate limit out of
# the way, runs wrk for $DURATION on each endpoint, prints a table, checks revocation takes
# effect within a second under load, and stops the stack.
#
#   service/bench/run.sh                      # from anywhere in the repository
#   DURATION=30s CONNECTIONS=64 service/bench/run.sh
#
# Needs wrk and curl. Honours CARGO_TARGET_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
work=$(mktemp -d)

echo "building the release stack..."
(cd "$root" && cargo build --release --quiet -p billing-e2e --bin e2e)
# A private copy: a shared target directory may be rebuilt by someone else during the run.
cp "${CARGO_TARGET_DIR:-$root/target}/release/e2e" "$work/e2e"

export CREDENTIAL_RATE_PER_MINUTE=1000000000 CREDENTIAL_BURST=1000000000
export CREDENTIAL_CUSTOMER_RATE_PER_MINUTE=1000000000 CREDENTIAL_CUSTOMER_BURST=1000000000
export CREDENTIAL_SIGNING_KEY=${CREDENTIAL_SIGNING_KEY:-benchmark-signing-key-not-a-secret-0123456789}
export RUST_LOG=${RUST_LOG:-warn}
"$work/e2e" stack up --exit-after-secs 900 >"$work/stack.out" 2>"$work/stack.err" &
stack=$!
stop_stack() {
  kill -INT "$stack" 2>/dev/null || true
  wait "$stack" 2>/dev/null || true
  rm -rf "$work"
}
trap stop_stack EXIT

for _ in $(seq 1 600); do
  grep -q "stack is up" "$work/stack.out" 2>/dev/null && break
  kill -0 "$stack" 2>/dev/null || { cat "$work/stack.err" >&2; exit 1; }
  sleep 0.2
done
grep -q "stack is up" "$work/stack.out" || { echo "the stack did not come up in 120 s" >&2; cat "$work/stack.err" >&2; exit 1; }
url=$(awk '/^billing service/ {print $3}' "$work/stack.out")
key=$(sed -nE 's/.*\(API key: ([^)]+)\).*/\1/p' "$work/stack.out")
echo "stack up at $url"

run_wrk() { # name, then wrk arguments
  local name=$1
  shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$work/$name.txt"
}
run_wrk healthz "$url/healthz"
API_KEY=$key run_wrk exchange -s "$here/exchange.lua" "$url/api/v1/credentials/exchange"

# wrk prints latencies as 812.00us, 1.23ms or 1.01s: in milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
rps() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/$1.txt"; }
pct() { awk -v p="$2%" '$1 == p {print $2}' "$work/$1.txt" | to_ms; }
errors() { awk '/Non-2xx/ {print $NF; found=1} END {if (!found) print 0}' "$work/$1.txt"; }

printf '\n%-40s %10s %9s %9s %8s\n' endpoint "req/s" "p50 ms" "p99 ms" "non-2xx"
for name in healthz exchange; do
  label=$([[ $name == healthz ]] && echo "GET /healthz (ceiling)" || echo "POST /api/v1/credentials/exchange")
  printf '%-40s %10s %9s %9s %8s\n' "$label" "$(rps "$name")" "$(pct "$name" 50)" "$(pct "$name" 99)" "$(errors "$name")"
done
ratio=$(awk -v a="$(rps exchange)" -v b="$(rps healthz)" 'BEGIN {printf "%.2f", a / b}')
echo "vending / ceiling: $ratio   ($(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, service and wrk on the same machine)"
[[ $(errors exchange) == 0 ]] || { echo "some exchanges failed: see the wrk output" >&2; cat "$work/exchange.txt" >&2; exit 1; }
echo
"$here/revocation.sh" "$url" "$key"
