#!/usr/bin/env bash
# Revocation under load: while wrk drives credential vending at full speed with one key, a
# second key is used (so it is in the auth cache), revoked, and polled until it gets 401.
# Fails unless the 401 comes within one second of the revocation's answer.
#
#   service/bench/revocation.sh <service URL> <API key>
set -euo pipefail
url=$1
key=$2
here=$(cd "$(dirname "$0")" && pwd)
deadline_ms=${REVOCATION_DEADLINE_MS:-1000}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
exchange_with() {
  status_of -X POST "$url/api/v1/credentials/exchange" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -d '{"providers":["github"]}'
}

created=$(curl -sf -X POST "$url/api/v1/api-keys" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"name":"revocation benchmark"}')
doomed_id=$(sed -E 's/.*"id":"([^"]+)".*/\1/' <<<"$created")
doomed_key=$(sed -E 's/.*"api_key":"([^"]+)".*/\1/' <<<"$created")

API_KEY=$key wrk -t1 -c32 -d6s -s "$here/exchange.lua" "$url/api/v1/credentials/exchange" >/dev/null &
load=$!
trap 'kill $load 2>/dev/null || true' EXIT
sleep 2 # let the load reach full speed (this is a benchmark, not a test)

[[ $(exchange_with "$doomed_key") == 200 ]] || { echo "the second key does not work before revocation" >&2; exit 1; }
[[ $(status_of -X DELETE "$url/api/v1/api-keys/$doomed_id" -H "Authorization: Bearer $key") == 204 ]] \
  || { echo "revocation failed" >&2; exit 1; }
revoked_at=$(now_ms)
polls=0
while true; do
  status=$(exchange_with "$doomed_key")
  polls=$((polls + 1))
  elapsed=$(( $(now_ms) - revoked_at ))
  [[ $status == 401 ]] && break
  if (( elapsed > deadline_ms )); then
    echo "revocation: FAILED, the revoked key still got $status ${elapsed} ms after revocation" >&2
    exit 1
  fi
done
[[ $(exchange_with "$key") == 200 ]] || { echo "the other key stopped working" >&2; exit 1; }
wait $load || true
echo "revocation under load: the revoked key got 401 on request ${polls} after the DELETE answered, ${elapsed} ms later (that request's own time included); the other key still works"
