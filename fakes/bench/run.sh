#!/usr/bin/env bash
# Throughput and latency of the Stripe fake, standalone and in release mode, measured with wrk.
#   fakes/bench/run.sh [duration=10s] [connections=32] [threads=1]
# Needs wrk (apt-get install -y wrk). Prints wrk's report for each endpoint.
set -euo pipefail

duration="${1:-10s}"
connections="${2:-32}"
threads="${3:-1}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${BENCH_PORT:-12199}"
base="http://127.0.0.1:$port"

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
(cd "$root" && cargo build --release -p billing-fakes --bin stripe-fake)
"$root/target/release/stripe-fake" --port "$port" > /tmp/stripe-fake-bench.log &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs -o /dev/null -u sk_test_bench: "$base/v1/customers?limit=1" && break
  sleep 0.05
done

echo "== POST /v1/customers ($duration, $connections connections, $threads wrk thread(s))"
wrk -t "$threads" -c "$connections" -d "$duration" --latency -s "$here/customers.lua" "$base"

curl -fs -X POST "$base/_fake/reset" >/dev/null
customer=$(curl -fs -u sk_test_bench: "$base/v1/customers" \
  -d payment_method=pm_card_visa -d "invoice_settings[default_payment_method]=pm_card_visa" |
  grep -o '"id":"cus_[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)
echo "== POST /v1/payment_intents ($duration, $connections connections, $threads wrk thread(s)), customer $customer"
wrk -t "$threads" -c "$connections" -d "$duration" --latency -s "$here/payment_intents.lua" "$base" -- "$customer"
