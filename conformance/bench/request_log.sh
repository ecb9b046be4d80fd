#!/usr/bin/env bash
# Measures what the SCIM request log costs: runs run.sh several times on the same build,
# alternating the log off (HUB_REQUEST_LOG=off) and on, Hub alone, and prints each
# operation's throughput per run and the ratio of the means. Each run seeds its own fresh
# database. Alternating spreads slow phases of a shared machine over both modes.
#
#   BENCH_PORT=18213 conformance/bench/request_log.sh
#
# BENCH_LOG_ROUNDS sets how many off-on pairs run (default 2). BENCH_OPS picks the operations.
# The default is the single-resource ones, because they send the most requests per second and
# so write the most entries. Every other BENCH_ setting of run.sh applies.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="$(mktemp -d /tmp/hub-bench-log.XXXXXX)"
ops="${BENCH_OPS:-get filter-username filter-externalid patch-user create}"
rounds="${BENCH_LOG_ROUNDS:-2}"

runs=()
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    run="$mode-$round"
    printf '%s request log %s, round %s of %s: %s\n' "$(date +%H:%M:%S)" "$mode" "$round" "$rounds" "$ops" >&2
    mkdir -p "$out_dir/$run"
    HUB_REQUEST_LOG="$mode" BENCH_PEERS="" BENCH_OPS="$ops" BENCH_OUT_DIR="$out_dir/$run" \
      "$BENCH_DIR/run.sh" >"$out_dir/$run/stdout.txt"
    runs+=("$run")
  done
done

{
  echo "Hub SCIM request log cost, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $rounds rounds; runs in $out_dir"
  # results.tsv columns: target, operation, req/s, p50 ms, p99 ms, errors, requests, note.
  for run in "${runs[@]}"; do
    awk -F'\t' -v run="$run" '$1 == "hub" && $2 != "peak-rss" { print run "\t" $2 "\t" $3 "\t" $5 }' "$out_dir/$run/results.tsv"
  done | awk -F'\t' '
    {
      split($1, parts, "-"); mode = parts[1]
      if (!($2 in seen)) { seen[$2] = 1; order[++count] = $2 }
      rates[$2, mode] = rates[$2, mode] " " $3
      sum[$2, mode] += $3; n[$2, mode]++
      p99[$2, mode] = p99[$2, mode] " " $4
    }
    END {
      printf "%-18s %-24s %-24s %10s %10s %7s\n", "operation", "off req/s per run", "on req/s per run", "off mean", "on mean", "on/off"
      for (i = 1; i <= count; i++) {
        operation = order[i]
        off = sum[operation, "off"] / n[operation, "off"]; on = sum[operation, "on"] / n[operation, "on"]
        printf "%-18s %-24s %-24s %10.0f %10.0f %7.3f\n", operation, rates[operation, "off"], rates[operation, "on"], off, on, (off > 0) ? on / off : 0
      }
      printf "\np99 ms per run\n"
      for (i = 1; i <= count; i++) {
        operation = order[i]
        printf "%-18s off%-20s on%-20s\n", operation, p99[operation, "off"], p99[operation, "on"]
      }
    }'
} | tee "$out_dir/report.txt"
