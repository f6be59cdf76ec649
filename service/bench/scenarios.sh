#!/usr/bin/env bash
# A/B of two builds of the service on the load tool's onboarding and webhook scenarios (the embedded
# stack: its own PostgreSQL, the Stripe and e-mail fakes, the service binary as a child process),
# interleaved (base, candidate, base, candidate, …) so whatever else the machine does hits both.
#
#   service/bench/scenarios.sh BASE_BIN CANDIDATE_BIN        # two billing-service binaries (release)
#   ROUNDS=3 SCENARIOS="onboarding webhooks" RUN_TIME=20s USERS=32 service/bench/scenarios.sh old new
#   BASE_ARGS="--fixtures 16" CANDIDATE_ARGS="--fixtures 64" service/bench/scenarios.sh bin bin  # one build, two settings
#
# Each run prints req/s, p50 and p95 over the whole run (the load tool's summary), its after-run checks,
# and the CPU time per request of each part, sampled from /proc/PID/stat over 10 s of the steady state
# (from 7 s in): the service, the PostgreSQL cluster (postmaster and every backend) and the load process
# (the client and the in-process Stripe and e-mail fakes). Requests are the service's own count of the
# scenario's route (billing_http_requests_total), so a signup's webhook from the fake is not counted as a
# signup. CPU per request moves far less with the machine's other work than req/s does. Needs python3,
# curl, ss and a release build of the load tool (LOAD, default target/release/load).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# == 2 ]] || { echo "usage: $0 BASE_BIN CANDIDATE_BIN (two billing-service binaries, release builds)" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-onboarding webhooks}
RUN_TIME=${RUN_TIME:-20s}
USERS=${USERS:-32}
LOAD=${LOAD:-$PWD/target/release/load}
[[ -x $LOAD ]] || { echo "no load tool at $LOAD: cargo build --release -p billing-load" >&2; exit 2; }
work=$(mktemp -d)
# Private copies, both named billing-service (the process is found by its name), since a target
# directory may be rebuilt by someone else during the runs.
mkdir -p "$work/base" "$work/candidate"
cp "$1" "$work/base/billing-service"
cp "$2" "$work/candidate/billing-service"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# one SIDE SCENARIO ROUND: a run, and a line of figures on stdout.
one() {
  local side=$1 scenario=$2 round=$3 route out lp svc pm port
  case $scenario in
    onboarding) route=/api/v1/customers ;;
    webhooks) route=/api/webhooks/stripe ;;
    *) route=/ ;;
  esac
  out=$work/$side-$scenario-$round
  side_args=${BASE_ARGS:-}
  [[ $side == candidate ]] && side_args=${CANDIDATE_ARGS:-}
  # shellcheck disable=SC2086 # the extra arguments are words
  BILLING_SERVICE_BIN=$work/$side/billing-service "$LOAD" run "$scenario" --users "$USERS" --run-time "$RUN_TIME" \
    $side_args --quiet --no-default-thresholds --report-dir "$out" > "$out.txt" 2>&1 &
  lp=$!
  sleep 7
  svc="" pm="" port=""
  for _ in $(seq 1 100); do
    svc=$(pgrep -n -P "$lp" -x billing-service || true)
    pm=$(pgrep -o -P "$lp" -x postgres || true)
    [[ -n $svc ]] && port=$(ss -ltnp | awk -v p="pid=$svc," '$0 ~ p {n = split($4, a, ":"); print a[n]; exit}')
    [[ -n $svc && -n $pm && -n $port ]] && break
    sleep 0.2
  done
  snap() {
    local pg=0 q
    for q in $pm $(pgrep -P "$pm"); do pg=$((pg + $(ticks "$q"))); done
    echo "$(ticks "$svc") $pg $(ticks "$lp") $(curl -s "http://127.0.0.1:$port/metrics" |
      grep '^billing_http_requests_total' | grep -F "$route" | awk '{t += $NF} END {print t + 0}')"
  }
  local before after rc=0
  before=$(snap)
  sleep 10
  after=$(snap)
  wait "$lp" || rc=$?
  python3 - "$out/summary.json" "$side" "$scenario" "$round" "$rc" $before $after <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
total = summary["total"]
side, scenario, round_, rc = sys.argv[2:6]
a = [float(x) for x in sys.argv[6:10]]
b = [float(x) for x in sys.argv[10:14]]
requests = b[3] - a[3]
per_request = lambda i: (b[i] - a[i]) * 10_000 / requests if requests else float("nan")  # 10 ms ticks -> µs
checks = "; ".join(c["name"] + ": " + ("PASS" if c["passed"] else "FAIL") for c in summary["checks"])
print(f"| {scenario} | {round_} | {side} | {total['rps']:.0f} | {total['p50_ms']:.1f} ms | {total['p95_ms']:.1f} ms "
      f"| {total['failures']} | {per_request(0):.0f} | {per_request(1):.0f} | {per_request(2):.0f} | {checks} (exit {rc}) |")
PY
}

echo "| scenario | round | build | req/s | p50 | p95 | errors | service µs/req | PostgreSQL µs/req | load + fakes µs/req | after-run checks |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for round in $(seq 1 "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    one base "$scenario" "$round"
    one candidate "$scenario" "$round"
  done
done
echo
echo "reports: $work; machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
