#!/usr/bin/env bash
# A/B of two builds of the service on this machine: GET /healthz (the ceiling) and credential
# vending (POST /api/v1/credentials/exchange), each side on its own `e2e stack up`, measured
# with wrk in interleaved rounds (A B, then B A, …) so whatever else the machine does hits both.
#
#   service/bench/compare.sh BASE_E2E CANDIDATE_E2E      # two `e2e` binaries (release builds)
#   ROUNDS=6 DURATION=8s CONNECTIONS=32 service/bench/compare.sh old/e2e new/e2e
#
# Build the older side in a worktree of its own, with its own target directory, e.g.
#   git worktree add /tmp/old a43c99f && (cd /tmp/old && cargo build --release -p billing-e2e --bin e2e)
#
# Prints every round's figures, then per endpoint the candidate/base ratio of each round (paired
# by round), their median and their spread (min–max); and the CPU time the stack's process spent
# per request (user and system, from /proc/PID/stat), which the other work on a shared machine
# moves much less than it moves req/s. Needs wrk and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $# == 2 ]] || { echo "usage: $0 BASE_E2E CANDIDATE_E2E (two e2e binaries, release builds)" >&2; exit 2; }
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
work=$(mktemp -d)
# Private copies: a target directory may be rebuilt by someone else during the run.
cp "$1" "$work/base-e2e"
cp "$2" "$work/candidate-e2e"

export CREDENTIAL_RATE_PER_MINUTE=1000000000 CREDENTIAL_BURST=1000000000
export CREDENTIAL_CUSTOMER_RATE_PER_MINUTE=1000000000 CREDENTIAL_CUSTOMER_BURST=1000000000
export CREDENTIAL_SIGNING_KEY=${CREDENTIAL_SIGNING_KEY:-benchmark-signing-key-not-a-secret-0123456789}
export RUST_LOG=${RUST_LOG:-warn}
pids=()
stop_stacks() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_stacks EXIT

declare -A url key pid
for side in base candidate; do
  "$work/$side-e2e" stack up --exit-after-secs 3600 >"$work/$side.out" 2>"$work/$side.err" &
  pids+=($!)
  pid[$side]=$!
done
for side in base candidate; do
  for _ in $(seq 1 600); do
    grep -q "stack is up" "$work/$side.out" 2>/dev/null && break
    sleep 0.2
  done
  grep -q "stack is up" "$work/$side.out" || { echo "the $side stack did not come up" >&2; cat "$work/$side.err" >&2; exit 1; }
  url[$side]=$(awk '/^billing service/ {print $3}' "$work/$side.out")
  key[$side]=$(sed -nE 's/.*\(API key: ([^)]+)\).*/\1/p' "$work/$side.out")
  echo "$side: ${url[$side]}"
done

# CPU time of a process so far, in clock ticks (user + system: fields 14 and 15 of
# /proc/PID/stat, counted after the command name, which is in parentheses).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ticks_per_sec=$(getconf CLK_TCK)

# One wrk run: prints req/s and the stack's CPU microseconds per request, or fails when any
# answer was not 2xx.
measure() { # side endpoint
  local side=$1 endpoint=$2 out=$work/run.txt cpu_before
  cpu_before=$(cpu_ticks "${pid[$side]}")
  if [[ $endpoint == healthz ]]; then
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${url[$side]}/healthz" >"$out"
  else
    API_KEY=${key[$side]} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$here/exchange.lua" \
      "${url[$side]}/api/v1/credentials/exchange" >"$out"
  fi
  local ticks requests per_request
  ticks=$(($(cpu_ticks "${pid[$side]}") - cpu_before))
  requests=$(awk '/requests in/ {print $1}' "$out")
  per_request=$(awk -v t="$ticks" -v hz="$ticks_per_sec" -v r="$requests" 'BEGIN {printf "%.2f", t / hz * 1e6 / r}')
  if grep -q "Non-2xx" "$out"; then
    echo "$side $endpoint: some answers were not 2xx" >&2
    cat "$out" >&2
    exit 1
  fi
  printf '%s\t%s\n' "$(awk '/^Requests\/sec/ {print $2}' "$out")" "$per_request"
}

results=$work/results.tsv
for round in $(seq 1 "$ROUNDS"); do
  order=(base candidate)
  ((round % 2 == 0)) && order=(candidate base)
  for endpoint in healthz exchange; do
    for side in "${order[@]}"; do
      figures=$(measure "$side" "$endpoint")
      printf '%s\t%s\t%s\t%s\n' "$round" "$endpoint" "$side" "$figures" | tee -a "$results"
    done
  done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
figures, cpu = {}, {}
for round_, endpoint, side, rps, per_request in rows:
    figures.setdefault(endpoint, {}).setdefault(side, {})[int(round_)] = float(rps)
    cpu.setdefault(endpoint, {}).setdefault(side, []).append(float(per_request))
print()
print("| endpoint | base req/s (each round) | candidate req/s (each round) | candidate/base per round | median | min–max |")
print("| --- | --- | --- | --- | ---: | ---: |")
for endpoint, sides in figures.items():
    rounds = sorted(sides["base"])
    ratios = [sides["candidate"][r] / sides["base"][r] for r in rounds]
    each = lambda side: ", ".join(f"{sides[side][r]:,.0f}" for r in rounds)
    print(f"| {endpoint} | {each('base')} | {each('candidate')} | {', '.join(f'{x:.2f}' for x in ratios)} "
          f"| {statistics.median(ratios):.2f} | {min(ratios):.2f}–{max(ratios):.2f} |")
print()
print("| endpoint | base CPU µs/request (median, min–max) | candidate | candidate/base (medians) |")
print("| --- | ---: | ---: | ---: |")
for endpoint, sides in cpu.items():
    base, cand = statistics.median(sides["base"]), statistics.median(sides["candidate"])
    span = lambda xs: f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"
    print(f"| {endpoint} | {span(sides['base'])} | {span(sides['candidate'])} | {cand / base:.2f} |")
EOF
echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, $(date -u +%F)"
