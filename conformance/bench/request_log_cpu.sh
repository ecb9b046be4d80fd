#!/usr/bin/env bash
# Measures the CPU time Hub spends per SCIM request with the request log off and on, which a
# shared machine disturbs less than throughput. Each run starts Hub on a fresh SQLite
# database with one user and loads `GET /Users/{id}` and a `userName eq` filter with wrk for
# BENCH_DURATION seconds each. It divides Hub's user plus system CPU time (from
# /proc/PID/stat) by the requests served. Modes alternate off, on, off, on.
#
#   BENCH_PORT=18301 conformance/bench/request_log_cpu.sh
#
# The CPU time leaves out the kernel's writeback of the log file, which runs in kernel threads.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/common.sh"

work_dir="$(mktemp -d /tmp/hub-bench-cpu.XXXXXX)"
ticks_per_second="$(getconf CLK_TCK)"
hub_pid=""
trap '[ -z "$hub_pid" ] || kill "$hub_pid" 2>/dev/null || true' EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

printf '%-5s %10s %15s %12s %15s\n' mode "GET req/s" "CPU µs/request" "filter req/s" "CPU µs/request"
for mode in off on off on; do
  require_free_port "$BENCH_PORT"
  token="$(random_token)"
  HUB_REQUEST_LOG="$mode" HUB_BOOTSTRAP_SCIM_TOKEN="$token" RUST_LOG=warn "$HUB_BIN" serve \
    --listen "127.0.0.1:$BENCH_PORT" --data-dir "$work_dir/$mode-data" --rate-limit 0 >"$work_dir/hub-$mode.log" 2>&1 &
  hub_pid=$!
  base="http://127.0.0.1:$BENCH_PORT$SCIM_BASE"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null -H "Authorization: Bearer $token" "$base/ServiceProviderConfig" && break
    sleep 0.1
  done
  id="$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/scim+json' \
    -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"cpu@example.com"}' "$base/Users" | jq -r .id)"

  row="$mode"
  for url in "$base/Users/$id" "$base/Users?filter=userName%20eq%20%22cpu@example.com%22"; do
    before="$(cpu_ticks "$hub_pid")"
    output="$(wrk -t1 -c"$BENCH_CONNECTIONS" -d"${BENCH_DURATION}s" -H "Authorization: Bearer $token" "$url")"
    sleep 0.5  # lets the log writer finish the phase's entries
    after="$(cpu_ticks "$hub_pid")"
    requests="$(awk '/requests in/ { print $1 }' <<<"$output")"
    rate="$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$output")"
    per_request="$(awk -v a="$before" -v b="$after" -v n="$requests" -v hz="$ticks_per_second" 'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')"
    row="$(printf '%s %10s %15s' "$row" "$rate" "$per_request")"
  done
  echo "$row"
  kill "$hub_pid"
  wait "$hub_pid" 2>/dev/null || true
  hub_pid=""
done
