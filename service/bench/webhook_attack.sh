#!/usr/bin/env bash
# Does an attack on the webhook endpoint slow everyone else down? Measures GET /healthz latency
# (wrk, 8 connections) alone, then while an attacker floods POST /api/webhooks/stripe with 1 MiB
# bodies and unverifiable signatures (webhook_attack.lua): once with 1,000 v1 entries per header
# (the attack that used to stall /healthz for seconds; the most wrk can send), once with the most entries the service
# reads and a fresh timestamp (the most work a request without the secret can cause: one HMAC
# of 1 MiB per configured secret, on a blocking thread).
#
#   service/bench/webhook_attack.sh            # DURATION=10s ATTACKERS=4 by default
#
# Needs wrk. Builds the release stack (e2e stack up) and stops it at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-10s}
ATTACKERS=${ATTACKERS:-4}
work=$(mktemp -d)

echo "building the release stack..."
(cd "$root" && cargo build --release --quiet -p billing-e2e --bin e2e)
cp "${CARGO_TARGET_DIR:-$root/target}/release/e2e" "$work/e2e"
export RUST_LOG=${RUST_LOG:-error}
"$work/e2e" stack up --exit-after-secs 900 >"$work/stack.out" 2>"$work/stack.err" &
stack=$!
trap 'kill -INT $stack 2>/dev/null || true; wait $stack 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  grep -q "stack is up" "$work/stack.out" 2>/dev/null && break
  kill -0 "$stack" 2>/dev/null || { cat "$work/stack.err" >&2; exit 1; }
  sleep 0.2
done
url=$(awk '/^billing service/ {print $3}' "$work/stack.out")
[ -n "$url" ] || { echo "the stack did not come up" >&2; cat "$work/stack.err" >&2; exit 1; }
echo "stack up at $url"

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
pct() { awk -v p="$2%" '$1 == p {print $2}' "$work/$1.txt" | to_ms; }
rps() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/$1.txt"; }

healthz() { wrk -t1 -c8 -d"$DURATION" --latency "$url/healthz" >"$work/$1.txt"; }
attack() { # mode
  MODE=$1 wrk -t1 -c"$ATTACKERS" -d"$DURATION" --latency -s "$here/webhook_attack.lua" "$url/api/webhooks/stripe" \
    >"$work/attack-$1.txt" 2>&1 &
  attacker=$!
}
# Waits for the attacker only (a bare `wait` would wait for the stack too), and fails when it
# did not run.
attacked() { # mode
  wait "$attacker" || { echo "the attack ($1) failed:" >&2; cat "$work/attack-$1.txt" >&2; exit 1; }
}

healthz alone
attack many_signatures; healthz during_many; attacked many_signatures
attack max_signatures; healthz during_max; attacked max_signatures

printf '\n%-52s %9s %9s %9s %14s\n' "GET /healthz" "req/s" "p50 ms" "p99 ms" "attack req/s"
printf '%-52s %9s %9s %9s %14s\n' "alone" "$(rps alone)" "$(pct alone 50)" "$(pct alone 99)" "-"
printf '%-52s %9s %9s %9s %14s\n' "during 1,000-signature headers (refused early)" "$(rps during_many)" "$(pct during_many 50)" "$(pct during_many 99)" "$(rps attack-many_signatures)"
printf '%-52s %9s %9s %9s %14s\n' "during 8 signatures + 1 MiB, fresh t (one HMAC each)" "$(rps during_max)" "$(pct during_max 50)" "$(pct during_max 99)" "$(rps attack-max_signatures)"
echo "($(nproc) cores; wrk -c8 on /healthz, wrk -c$ATTACKERS attacking, -d$DURATION; service and both wrks on one machine)"
