# Sourced by the benchmarks (run.sh, scale.sh), not run: checking for wrk, and starting a fresh
# standalone stripe-fake to measure.

# Stops the benchmark, saying how to install it, when wrk is missing.
need_wrk() {
  command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
}

# start_fake BIN [PREFIX...]: starts the stripe-fake BIN (under PREFIX, e.g. `nice -n -20`, when
# given) on a free port with the flags in STRIPE_FAKE_ARGS, and waits up to 5 s until it prints
# where it listens. Sets fake_pid and base (its URL); stops the benchmark if it never does.
start_fake() {
  local bin="$1" out
  shift
  out="$(mktemp)"
  # shellcheck disable=SC2086
  "$@" "$bin" --port 0 ${STRIPE_FAKE_ARGS:-} > "$out" &
  fake_pid=$!
  for _ in $(seq 1 100); do
    grep -q listening "$out" && break
    sleep 0.05
  done
  base="$(awk '/listening on/ {print $4}' "$out")"
  rm -f "$out"
  [ -n "$base" ] || { echo "stripe-fake did not start" >&2; exit 1; }
}
