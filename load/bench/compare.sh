#!/usr/bin/env bash
# Measures how `load compare` decides: the same comparison RUNS times, optionally with a CPU-bound process
# running beside it the whole time (what a shared CI runner has), and a table of the verdicts each figure got.
#
#   load/bench/compare.sh EXPERIMENT SCENARIO [RUNS] [-- extra `load compare` flags]
#
#   EXPERIMENT  aa      the same binary and settings on both sides (must never say REGRESSED)
#               blunt   the candidate without the API-key cache (API_KEY_CACHE_TTL_MS=0): ~70 % slower vending
#               modest  the candidate with per-request info logs (RUST_LOG=info), a 10-20 % slowdown
#   SCENARIO    onboarding, credential-vending, webhooks
#   RUNS        default 10
#   BUSY=1      a CPU-bound process (one core's worth: a shell loop) beside the whole time
#
# Results: target/load-bench/compare-EXPERIMENT-SCENARIO-TIME/{run-N/compare.json, verdicts.txt}. Builds the
# release service and load tool first.
set -euo pipefail
cd "$(dirname "$0")/../.."

experiment=${1:?usage: load/bench/compare.sh aa|blunt|modest SCENARIO [RUNS] [-- flags]}
scenario=${2:?usage: load/bench/compare.sh aa|blunt|modest SCENARIO [RUNS] [-- flags]}
runs=${3:-10}
shift $(($# >= 3 ? 3 : $#))
[ "${1:-}" = "--" ] && shift
case $experiment in
  aa) sides=() ;;
  blunt) sides=(--candidate-env API_KEY_CACHE_TTL_MS=0) ;;
  modest) sides=(--candidate-env RUST_LOG=info) ;;
  *) echo "compare.sh: EXPERIMENT is aa, blunt or modest" >&2; exit 2 ;;
esac

cargo build --release --quiet --locked -p billing-load -p billing-service
out=target/load-bench/compare-$experiment-$scenario-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
hog=""
if [ "${BUSY:-0}" = 1 ]; then
  bash -c 'while :; do :; done' &
  hog=$!
  trap 'kill $hog 2>/dev/null || true' EXIT
fi
echo "compare.sh: $experiment $scenario, $runs runs, busy=${BUSY:-0}, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/verdicts.txt"
for run in $(seq 1 "$runs"); do
  set +e
  target/release/load compare "$scenario" "${sides[@]}" --quiet --report-dir "$out/run-$run" "$@" >"$out/run-$run.txt" 2>&1
  code=$?
  set -e
  python3 - "$out/run-$run/compare.json" "$run" "$code" <<'EOF' | tee -a "$out/verdicts.txt"
import json, sys
path, run, code = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    report = json.load(open(path))
except OSError:
    print(f"run {run}: exit {code}, no report"); sys.exit()
cells = []
for endpoint in report["endpoints"]:
    for c in endpoint["figures"]:
        if c["estimate"] is None:
            cells.append(f"{c['figure']}={c['verdict']}")
            continue
        if c["figure"] == "error_rate":
            cells.append(f"{c['figure']}={c['verdict']}({c['estimate']:+.2f}pt)")
        else:
            cells.append(f"{c['figure']}={c['verdict']}({c['estimate']:.3f} [{c['low']:.3f},{c['high']:.3f}])")
checks = all(check["passed"] for side in report["checks"].values() for check in side)
print(f"run {run}: exit {code} outcome={report['outcome']} checks={'pass' if checks else 'FAIL'} " + " ".join(cells))
EOF
done
python3 - "$out/verdicts.txt" <<'EOF' | tee -a "$out/verdicts.txt"
import re, sys, collections
counts = collections.defaultdict(collections.Counter)
exits = collections.Counter()
for line in open(sys.argv[1]):
    if not line.startswith("run "):
        continue
    exits[re.search(r"exit (\d+)", line).group(1)] += 1
    for figure, verdict in re.findall(r"(\w+)=(\w+)", line):
        if figure not in ("outcome", "checks"):
            counts[figure][verdict] += 1
print("exit codes: " + ", ".join(f"{code}: {n}" for code, n in sorted(exits.items())))
for figure, verdicts in counts.items():
    print(f"  {figure:<11} " + ", ".join(f"{v} {n}" for v, n in verdicts.most_common()))
EOF
echo "compare.sh: load average at the end $(cut -d' ' -f1-3 /proc/loadavg); reports in $out"
