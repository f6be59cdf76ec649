#!/usr/bin/env bash
# Throughput and latency of the Stripe fake, standalone and in release mode, measured with wrk.
#
#   fakes/bench/run.sh [duration=10s] [connections=8] [wrk threads=1]
#
# Needs wrk (apt-get install -y wrk) and curl. On a shared machine, run it at a higher priority
# so other jobs do not skew the figures:  sudo nice -n -10 fakes/bench/run.sh
# Extra flags for the fake can be passed in STRIPE_FAKE_ARGS (e.g. "--threads 1"); STRIPE_FAKE_BIN runs
# another build of stripe-fake (e.g. one of an older commit, to compare) instead of this one.
set -euo pipefail

duration="${1:-10s}"
connections="${2:-8}"
threads="${3:-1}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=fake.sh
. "$here/fake.sh"

need_wrk
bin="${STRIPE_FAKE_BIN:-$root/target/release/stripe-fake}"
[ -n "${STRIPE_FAKE_BIN:-}" ] || (cd "$root" && cargo build --release -p billing-fakes --bin stripe-fake)

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# One fresh fake per endpoint, so each run starts from an empty store.
trap 'kill "${fake_pid:-0}" 2>/dev/null || true' EXIT

start_fake "$bin"
echo "== POST /v1/customers ($duration, $connections connections, $threads wrk thread(s))"
wrk -t "$threads" -c "$connections" -d "$duration" --latency -s "$here/customers.lua" "$base"
kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true

start_fake "$bin"
customer=$(curl -fs -u sk_test_bench: "$base/v1/customers" \
  -d payment_method=pm_card_visa -d "invoice_settings[default_payment_method]=pm_card_visa" |
  grep -o '"id":"cus_[A-Za-z0-9]*"' | head -1 | cut -d'"' -f4)
echo "== POST /v1/payment_intents ($duration, $connections connections, $threads wrk thread(s)), customer $customer"
wrk -t "$threads" -c "$connections" -d "$duration" --latency -s "$here/payment_intents.lua" "$base" -- "$customer"
