#!/usr/bin/env bash
# How the Stripe fake scales with the objects it holds: resident memory per customer (its event and
# request-log entry included) and p99 latency of create, retrieve and an indexed list filter at a
# small and at a large store, on the standalone release binary, measured with wrk.
#
#   fakes/bench/scale.sh [large=1000000] [small=10000] [window=5s] [connections=8]
#
# Steps: start a fresh fake; fill it to `small` customers (distinct e-mails, two metadata keys, as
# the service creates them); measure for `window` each: POST /v1/customers, GET one customer,
# GET /v1/customers?email=<one address>; fill on to `large`; measure again. Bytes per customer is
# (RSS after the fill - RSS of the empty fake) / customers, with everything retained (no --retain).
# STRIPE_FAKE_ARGS adds flags (e.g. "--retain 100000" to see the bounded logs). On a shared machine,
# BENCH_PRIORITY=1 runs the fake and wrk at nice -20 (needs root) so that other jobs preempt them
# less: the percentiles then show more of the fake and less of the scheduler. (Real-time
# scheduling is worse: the kernel's real-time throttling stalls it ~50 ms every second.)
# Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail

large="${1:-1000000}"
small="${2:-10000}"
window="${3:-5s}"
connections="${4:-8}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=fake.sh
. "$here/fake.sh"

need_wrk
(cd "$root" && cargo build --release -p billing-fakes --bin stripe-fake)

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GB RAM, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"

rt=()
[ -n "${BENCH_PRIORITY:-}" ] && rt=(nice -n -20)
trap 'kill "${fake_pid:-0}" 2>/dev/null || true' EXIT
start_fake "$root/target/release/stripe-fake" "${rt[@]}"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$fake_pid/status"; }
customers() { curl -fs "$base/_fake/stats" | grep -o '"customer":[0-9]*' | cut -d: -f2; }
p50() { awk '/^ +50%/ {print $2}'; }
p99() { awk '/^ +99%/ {print $2}'; }
rate() { awk '/Requests\/sec/ {print $2}'; }

# wrk runs for its whole duration even once the script stops sending, so fill in rounds sized
# for ~15k req/s until the target is reached.
fill_to() {
  local target="$1" have round=0
  have="$(customers)"
  while [ "$have" -lt "$target" ]; do
    round=$((round + 1))
    wrk -t1 -c"$connections" -d"$(( (target - have) / 15000 + 1 ))s" -s "$here/fill_customers.lua" "$base" \
      -- "$((target - have))" "fill${target}r${round}_" > /dev/null
    have="$(customers)"
  done
}

measure() {
  local label="$1" id email create retrieve list
  id="$(curl -fs -u sk_test_bench: "$base/v1/customers?limit=1" | grep -o '"id":"cus_[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)"
  email="$(curl -fs -u sk_test_bench: "$base/v1/customers/$id" | grep -o '"email":"[^"]*"' | cut -d'"' -f4 | sed 's/@/%40/')"
  retrieve="$("${rt[@]}" wrk -t1 -c"$connections" -d"$window" --latency -s "$here/get.lua" "$base" -- "/v1/customers/$id")"
  list="$("${rt[@]}" wrk -t1 -c"$connections" -d"$window" --latency -s "$here/get.lua" "$base" -- "/v1/customers?email=$email")"
  # Create last: it grows the store it measures.
  create="$("${rt[@]}" wrk -t1 -c"$connections" -d"$window" --latency -s "$here/fill_customers.lua" "$base" -- 100000000 "m${label}_")"
  printf '| %s | %s | %s / %s | %s | %s / %s | %s | %s / %s |\n' "$label" \
    "$(echo "$create" | rate)" "$(echo "$create" | p50)" "$(echo "$create" | p99)" \
    "$(echo "$retrieve" | rate)" "$(echo "$retrieve" | p50)" "$(echo "$retrieve" | p99)" \
    "$(echo "$list" | rate)" "$(echo "$list" | p50)" "$(echo "$list" | p99)"
}

empty_kb="$(rss_kb)"
fill_to "$small"
echo
echo "| customers held | create req/s | create p50 / p99 | retrieve req/s | retrieve p50 / p99 | list ?email= req/s | list p50 / p99 |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
measure "$(customers)"
# What only filling adds (customer, event, request-log entry), without the measurement requests.
small_kb="$(rss_kb)"
small_held="$(customers)"
fill_to "$large"
held="$(customers)"
full_kb="$(rss_kb)"
measure "$held"
echo
echo "resident: empty $((empty_kb / 1024)) MB, with $held customers $((full_kb / 1024)) MB:" \
  "$(( (full_kb - empty_kb) * 1024 / held )) bytes per customer (its event and request-log entry included)"
echo "growth while filling from $small_held to $held customers: $(( (full_kb - small_kb) * 1024 / (held - small_held) )) bytes per customer"
curl -fs "$base/_fake/stats"
echo
