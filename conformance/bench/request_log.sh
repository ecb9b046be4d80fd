#!/usr/bin/env bash
# Measures what the SCIM request log costs in throughput. Seeds one SQLite database with
# BENCH_USERS users and BENCH_GROUPS groups, then measures each operation with the log off
# (HUB_REQUEST_LOG=off) and on, back to back, each phase on a fresh copy of that database.
# Rounds alternate which mode goes first. Pairing the modes phase by phase, instead of run by
# run, keeps a slow minute of a shared machine from landing on one mode only.
#
#   BENCH_PORT=18213 conformance/bench/request_log.sh
#
# BENCH_LOG_ROUNDS sets the number of rounds (default 3). BENCH_OPS picks the operations; the
# default is the single-resource ones, because they send the most requests per second and so
# write the most entries. BENCH_LOG_WARMUP is the seconds of load before each measured phase
# (default 2), which fills SQLite's page cache of the fresh copy. Other BENCH_ settings of
# run.sh apply. SQLite only.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
source "$BENCH_DIR/common.sh"

BENCH_OPS="${BENCH_OPS:-get filter-username filter-externalid patch-user create}"
BENCH_LOG_ROUNDS="${BENCH_LOG_ROUNDS:-3}"
BENCH_LOG_WARMUP="${BENCH_LOG_WARMUP:-2}"

trap cleanup_common EXIT
trap 'exit 130' INT TERM

check_log_settings() {
  check_settings
  check_seed_settings
  require_positive_integer BENCH_LOG_ROUNDS "$BENCH_LOG_ROUNDS"
  require_positive_integer BENCH_LOG_WARMUP "$BENCH_LOG_WARMUP"
  [ -z "$HUB_BENCH_POSTGRES_URL" ] || die "request_log.sh copies a SQLite data folder for each phase; unset HUB_BENCH_POSTGRES_URL"
  local operation
  for operation in $BENCH_OPS; do
    case "$operation" in
      get | filter-username | filter-externalid | patch-user | create) ;;
      *) die "request_log.sh measures get, filter-username, filter-externalid, patch-user and create; got '$operation'" ;;
    esac
  done
}

# Seeds a Hub and keeps its stopped data folder as SEED_DIR/hub-data. Leaves HUB_TOKEN set.
seed_database() {  # SEED_DIR
  local seed_dir="$1"
  HUB_REQUEST_LOG=off start_hub "$seed_dir"
  seed_hub "$seed_dir"
  stop_hub
  log "seeded data folder: $seed_dir/hub-data ($(du -sh "$seed_dir/hub-data" | cut -f1))"
}

# Arguments of load.lua for OPERATION, beyond those run_wrk_phase passes.
phase_arguments() {  # OPERATION SEED_DIR
  case "$1" in
    create) ;;
    *) echo "users=$2/users.tsv" ;;
  esac
}

# Starts Hub in MODE on a copy of the seeded data, loads OPERATION for BENCH_LOG_WARMUP
# seconds unmeasured, then measures it and appends the row to RESULTS_FILE, with the target
# column set to the mode.
measure_phase() {  # RESULTS_FILE SEED_DIR PHASE_DIR MODE OPERATION
  local results_file="$1" seed_dir="$2" phase_dir="$3" mode="$4" operation="$5" arguments
  mkdir -p "$phase_dir"
  HUB_REQUEST_LOG="$mode" start_hub "$phase_dir" "$seed_dir/hub-data"
  arguments="$(phase_arguments "$operation" "$seed_dir")"

  # shellcheck disable=SC2086 # arguments is one key=value pair or nothing
  wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_LOG_WARMUP}s" --timeout "${BENCH_TIMEOUT}s" \
    -s "$BENCH_DIR/load.lua" "$HUB_URL" -- op="$operation" base="$SCIM_BASE" token="$HUB_TOKEN" \
    threads="$BENCH_THREADS" out="$phase_dir" tag="warmup-$(basename "$phase_dir")" $arguments \
    >"$phase_dir/warmup.txt" 2>&1 || true

  local phase_results="$phase_dir/results.tsv"
  : >"$phase_results"
  # shellcheck disable=SC2086
  run_wrk_phase "$phase_results" "$phase_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" $arguments
  awk -F'\t' -v OFS='\t' -v mode="$mode" '{ $1 = mode; print }' "$phase_results" >>"$results_file"
  stop_hub
  rm -rf "$phase_dir/hub-data"
}

# Prints each operation's throughput per phase in both modes, the means, and their ratio,
# then the p99 latencies.
print_report() {  # RESULTS_FILE
  # results.tsv columns: mode, operation, req/s, p50 ms, p99 ms, errors, requests, note.
  awk -F'\t' '
    {
      if (!($2 in seen)) { seen[$2] = 1; order[++count] = $2 }
      rates[$2, $1] = rates[$2, $1] " " $3
      sum[$2, $1] += $3; n[$2, $1]++
      p99[$2, $1] = p99[$2, $1] " " $5
      errors[$2] += $6
    }
    END {
      printf "%-18s %-26s %-26s %9s %9s %7s %7s\n", "operation", "off req/s per round", "on req/s per round", "off mean", "on mean", "on/off", "errors"
      for (i = 1; i <= count; i++) {
        operation = order[i]
        off = sum[operation, "off"] / n[operation, "off"]; on = sum[operation, "on"] / n[operation, "on"]
        printf "%-18s %-26s %-26s %9.0f %9.0f %7.3f %7d\n", operation, rates[operation, "off"], rates[operation, "on"], off, on, (off > 0) ? on / off : 0, errors[operation]
      }
      printf "\np99 ms per round\n"
      for (i = 1; i <= count; i++) {
        operation = order[i]
        printf "%-18s off%-24s on%-24s\n", operation, p99[operation, "off"], p99[operation, "on"]
      }
    }' "$1"
}

main() {
  check_tools wrk jq curl awk
  check_log_settings
  local out_dir
  out_dir="$(cd "${BENCH_OUT_DIR:-$(mktemp -d /tmp/hub-bench-log.XXXXXX)}" && pwd)"
  local results_file="$out_dir/results.tsv"
  : >"$results_file"
  log "output folder: $out_dir"

  seed_database "$out_dir/seed"

  local round operation mode modes
  for round in $(seq 1 "$BENCH_LOG_ROUNDS"); do
    modes="off on"
    [ $((round % 2)) -eq 0 ] && modes="on off"
    for operation in $BENCH_OPS; do
      for mode in $modes; do
        log "round $round of $BENCH_LOG_ROUNDS: $operation with the request log $mode"
        measure_phase "$results_file" "$out_dir/seed" "$out_dir/round-$round/$operation-$mode" "$mode" "$operation"
      done
    done
  done

  {
    echo "Hub SCIM request log cost, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "hub: $("$HUB_BIN" --version 2>/dev/null || echo "$HUB_BIN"), SQLite, $BENCH_USERS users and $BENCH_GROUPS groups"
    echo "load: wrk, $BENCH_CONNECTIONS connections, $BENCH_THREADS thread(s), ${BENCH_LOG_WARMUP} s warm-up and $BENCH_DURATION s measured per phase, $BENCH_LOG_ROUNDS rounds"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo
    print_report "$results_file"
  } | tee "$out_dir/report.txt"
  [ "$BENCH_KEEP" = 1 ] || rm -rf "$out_dir/seed/hub-data"
  log "report: $out_dir/report.txt"
}

main "$@"
