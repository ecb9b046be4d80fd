#!/usr/bin/env bash
# Load benchmark of Hub's SCIM API, side by side with peer SCIM servers and an axum
# hello-world. See README.md in this folder for the operations, settings and output.
#
#   conformance/bench/run.sh
#
# Starts Hub on 127.0.0.1:$BENCH_PORT with a fresh database, seeds users and groups
# through the SCIM API, runs wrk against each operation and then against the axum
# hello-world, stops Hub, then runs the peers one at a time and prints one table. Settings
# come from environment variables.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
source "$BENCH_DIR/common.sh"

BENCH_MEMBER_POOL="${BENCH_MEMBER_POOL:-20000}"
# On SQLite on a 2-core machine, one /Bulk of 1,000 creates took about 1 s, so at 32
# concurrent requests none would finish within a 10 s phase.
BENCH_BULK_CONNECTIONS="${BENCH_BULK_CONNECTIONS:-2}"
BENCH_BULK_DURATION="${BENCH_BULK_DURATION:-$BENCH_DURATION}"
BENCH_OPS="${BENCH_OPS:-get filter-username filter-externalid list-first list-page list-last patch-user create bulk-create patch-large-group patch-small-group}"
BENCH_PEERS="${BENCH_PEERS-scim2-server scimmy-sqlite ceiling}"
BENCH_HARNESS_DIR="${BENCH_HARNESS_DIR:-$REPO_ROOT/../shared/bench}"
BENCH_PEER_PORT="${BENCH_PEER_PORT:-18290}"
BENCH_CEILING_PORT="${BENCH_CEILING_PORT:-$((BENCH_PEER_PORT + 1))}"
BENCH_PEER_USERS="${BENCH_PEER_USERS:-$BENCH_USERS}"
BENCH_PEER_SEED_MAX_S="${BENCH_PEER_SEED_MAX_S:-600}"

KNOWN_OPS=" get filter-username filter-externalid list-first list-page list-last patch-user create bulk-create patch-large-group patch-small-group "
# Peer operations of the side-by-side harness and the Hub operation that sends the same
# request: create = POST /Users, filter = userName eq, get = GET /Users/{id},
# patch = replace displayName, list = a page of 100 at a random startIndex.
PEER_OPERATION_MAP="create=create filter=filter-username get=get patch=patch-user list=list-page"

COMPARE_PID=""
CEILING_PID=""

cleanup() {
  if [ -n "$COMPARE_PID" ] && kill -0 "$COMPARE_PID" 2>/dev/null; then
    # The harness runs in its own process group, so SIGTERM reaches it and the wrk it
    # runs. It stops the peer it started from its own EXIT trap.
    kill -TERM -- "-$COMPARE_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do  # up to 15 s
      kill -0 "$COMPARE_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$COMPARE_PID" 2>/dev/null; then
      log "the peer harness (pid $COMPARE_PID) did not stop within 15 s of SIGTERM; sending SIGKILL"
      kill -KILL -- "-$COMPARE_PID" 2>/dev/null || true
    fi
    wait "$COMPARE_PID" 2>/dev/null || true
  fi
  stop_ceiling
  cleanup_common
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_run_settings() {
  check_settings
  check_seed_settings
  require_positive_integer BENCH_MEMBER_POOL "$BENCH_MEMBER_POOL"
  require_positive_integer BENCH_BULK_CONNECTIONS "$BENCH_BULK_CONNECTIONS"
  require_positive_integer BENCH_BULK_DURATION "$BENCH_BULK_DURATION"
  require_positive_integer BENCH_PEER_PORT "$BENCH_PEER_PORT"
  require_positive_integer BENCH_PEER_USERS "$BENCH_PEER_USERS"
  require_positive_integer BENCH_PEER_SEED_MAX_S "$BENCH_PEER_SEED_MAX_S"
  [ "$BENCH_PORT" != "$BENCH_PEER_PORT" ] || die "BENCH_PORT and BENCH_PEER_PORT must differ"
  [ "$BENCH_THREADS" -le "$BENCH_BULK_CONNECTIONS" ] \
    || die "BENCH_THREADS ($BENCH_THREADS) must not exceed BENCH_BULK_CONNECTIONS ($BENCH_BULK_CONNECTIONS)"
  case " $BENCH_OPS " in
    *" patch-small-group "*)
      [ "$BENCH_GROUPS" -ge 2 ] || die "patch-small-group needs BENCH_GROUPS of at least 2, because the first group is the large one" ;;
  esac
  local operation
  for operation in $BENCH_OPS; do
    case "$KNOWN_OPS" in
      *" $operation "*) ;;
      *) die "unknown operation '$operation' in BENCH_OPS; known:$KNOWN_OPS" ;;
    esac
  done
}

# Sends one request of each kind and checks the response content, so that a table of fast
# error responses cannot pass for a result. Prints one line per failed check.
check_responses() {  # OUT_DIR TOTAL_USERS
  local out_dir="$1" total="$2" work_dir="$1/seed" id user_name external_id code value
  IFS=$'\t' read -r id user_name external_id <"$out_dir/users.tsv"

  code="$(hub_request GET "$SCIM_BASE/Users/$id" "$work_dir/check.json")"
  value="$(jq -r .id "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$value" = "$id" ] || echo "GET /Users/$id returned $code with id '$value'"

  code="$(curl -s -o "$work_dir/check.json" -w '%{http_code}' -m 60 -G -H "Authorization: Bearer $HUB_TOKEN" \
    --data-urlencode "filter=userName eq \"$user_name\"" "$HUB_URL$SCIM_BASE/Users" || echo 000)"
  value="$(jq -r '"\(.totalResults) \(.Resources[0].id)"' "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$value" = "1 $id" ] || echo "filter userName eq returned $code with totalResults and id '$value'"

  code="$(curl -s -o "$work_dir/check.json" -w '%{http_code}' -m 60 -G -H "Authorization: Bearer $HUB_TOKEN" \
    --data-urlencode "filter=externalId eq \"$external_id\"" "$HUB_URL$SCIM_BASE/Users" || echo 000)"
  value="$(jq -r '"\(.totalResults) \(.Resources[0].id)"' "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$value" = "1 $id" ] || echo "filter externalId eq returned $code with totalResults and id '$value'"

  code="$(hub_request GET "$SCIM_BASE/Users?startIndex=1&count=100" "$work_dir/check.json")"
  value="$(jq -r '"\(.Resources | length) \(.totalResults)"' "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$value" = "100 $total" ] || echo "list startIndex=1 returned $code with page size and total '$value' (expected '100 $total')"

  code="$(hub_request GET "$SCIM_BASE/Users?startIndex=$((total - 99))&count=100" "$work_dir/check.json")"
  value="$(jq -r '.Resources | length' "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$value" = 100 ] || echo "list startIndex=$((total - 99)) returned $code with $value resources (expected 100)"

  code="$(hub_request PATCH "$SCIM_BASE/Users/$id" "$work_dir/check.json" \
    "$(jq -cn --arg schema "$PATCH_OP" '{schemas: [$schema], Operations: [{op: "replace", path: "displayName", value: "Checked"}]}')")"
  value="$(jq -r .displayName "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$value" = Checked ] || echo "PATCH /Users/$id returned $code with displayName '$value'"

  local large_group members
  large_group="$(cat "$out_dir/large-group.txt")"
  code="$(hub_request GET "$SCIM_BASE/Groups/$large_group" "$work_dir/check.json")"
  members="$(jq -r '.members | length' "$work_dir/check.json" 2>/dev/null || true)"
  [ "$code" = 200 ] && [ "$members" = "$BENCH_USERS" ] \
    || echo "GET /Groups/$large_group returned $code with $members members (expected $BENCH_USERS)"
  rm -f "$work_dir/check.json"
}

# Writes pool.txt: users that are not members of the large group, for patch-large-group.
# They are the users that create and bulk-create made, topped up through /Bulk to
# BENCH_MEMBER_POOL.
prepare_member_pool() {  # OUT_DIR
  local out_dir="$1"
  find "$out_dir" -maxdepth 1 -name 'created-*.txt' -print0 | xargs -0 -r cat >"$out_dir/pool.txt"
  local have missing
  have="$(wc -l <"$out_dir/pool.txt")"
  missing=$((BENCH_MEMBER_POOL - have))
  if [ "$missing" -gt 0 ]; then
    log "creating $missing more users outside the large group, for patch-large-group"
    seed_users pool "$missing" "$out_dir/pool-users.tsv" "$out_dir/seed"
    cut -f1 "$out_dir/pool-users.tsv" >>"$out_dir/pool.txt"
  fi
}

measure_hub() {  # OUT_DIR RESULTS_FILE TOTAL_USERS
  local out_dir="$1" results_file="$2" total="$3" operation
  for operation in $BENCH_OPS; do
    case "$operation" in
      get | filter-username | filter-externalid | patch-user)
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" users="$out_dir/users.tsv" ;;
      list-first | create)
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" ;;
      list-last)
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" start=$((total - 99)) ;;
      list-page)
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" total="$total" ;;
      bulk-create)
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_BULK_CONNECTIONS" "$BENCH_BULK_DURATION" bulk="$BENCH_BULK_SIZE" ;;
      patch-large-group)
        prepare_member_pool "$out_dir"
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" \
          group="$(cat "$out_dir/large-group.txt")" pool="$out_dir/pool.txt" ;;
      patch-small-group)
        run_wrk_phase "$results_file" "$out_dir" "$operation" "$BENCH_CONNECTIONS" "$BENCH_DURATION" \
          users="$out_dir/users.tsv" groups="$out_dir/groups.txt" ;;
    esac
    measure_ceiling "$out_dir" "$results_file" "$operation"
  done
}

# Whether BENCH_PEERS names the ceiling, which run.sh measures itself.
ceiling_wanted() {
  case " $BENCH_PEERS " in
    *" ceiling "*) return 0 ;;
    *) return 1 ;;
  esac
}

# Starts the harness's axum hello-world on 127.0.0.1:$BENCH_CEILING_PORT beside Hub. Its
# start script builds it on first use, so this runs before Hub's phases, never during them.
start_ceiling() {
  ceiling_wanted || return 0
  local start_script="$BENCH_HARNESS_DIR/peers/start-ceiling.sh"
  if [ ! -x "$start_script" ]; then
    log "no ceiling start script at $start_script; the report has no ceiling rows"
    return 0
  fi
  require_free_port "$BENCH_CEILING_PORT"
  log "starting the ceiling on 127.0.0.1:$BENCH_CEILING_PORT"
  CEILING_PID="$("$start_script" "$BENCH_CEILING_PORT" | tail -n 1)"
}

# Stops the ceiling, which its start script put in a process group of its own.
stop_ceiling() {
  [ -n "$CEILING_PID" ] || return 0
  kill -TERM -- "-$CEILING_PID" 2>/dev/null || kill -TERM "$CEILING_PID" 2>/dev/null || true
  CEILING_PID=""
}

# Measures the ceiling right after Hub's phase of OPERATION, so that both figures of a ratio
# come from the same minutes: this machine's speed drifts by up to 2 times over a run. The
# ceiling returns the same document for every request, so it gets GET /Users/{id} whatever
# the operation. bulk-create runs at fewer connections and has no ceiling row.
measure_ceiling() {  # OUT_DIR RESULTS_FILE OPERATION
  local out_dir="$1" results_file="$2" operation="$3"
  [ -n "$CEILING_PID" ] || return 0
  [ "$operation" != bulk-create ] || return 0
  local output="$out_dir/wrk-ceiling-$operation.txt"
  log "measuring the ceiling after $operation: $BENCH_CONNECTIONS connections for $BENCH_DURATION s"
  wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_DURATION}s" --timeout "${BENCH_TIMEOUT}s" \
    -s "$BENCH_DIR/load.lua" "http://127.0.0.1:$BENCH_CEILING_PORT" -- op=get base="$SCIM_BASE" \
    users="$out_dir/users.tsv" threads="$BENCH_THREADS" out="$out_dir" tag="$(basename "$out_dir")" \
    >"$output" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=""
  record_wrk_result "$results_file" ceiling "$operation" "$output"
}

# Appends the ceiling's peak RSS to RESULTS_FILE.
record_ceiling_rss() {  # RESULTS_FILE
  [ -n "$CEILING_PID" ] || return 0
  local kib
  kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$CEILING_PID/status" 2>/dev/null || true)"
  [ -n "$kib" ] || return 0
  printf 'ceiling\tpeak-rss\t%s\t-\t-\t-\t-\t\n' "$(awk -v kib="$kib" 'BEGIN { printf "%.1f", kib / 1024 }')" >>"$1"
}

# Runs the side-by-side harness against each peer and appends its rows to RESULTS_FILE,
# with the operations renamed to Hub's. The harness seeds each peer by POST /Users.
measure_peers() {  # OUT_DIR RESULTS_FILE
  local out_dir="$1" results_file="$2" peer peers=""
  for peer in $BENCH_PEERS; do
    [ "$peer" = ceiling ] || peers="$peers $peer"
  done
  peers="${peers# }"
  [ -n "$peers" ] || return 0
  if [ ! -x "$BENCH_HARNESS_DIR/compare.sh" ]; then
    log "no side-by-side harness at $BENCH_HARNESS_DIR (compare.sh); set BENCH_HARNESS_DIR, or BENCH_PEERS= to skip the peers"
    return 0
  fi
  require_free_port "$BENCH_PEER_PORT"
  local peer_duration="$BENCH_DURATION"
  if [ "$peer_duration" -gt 10 ]; then
    # NOTE: the harness caps every phase at 10 s, so longer Hub phases are not matched.
    log "the peer harness runs each phase for at most 10 s; BENCH_DURATION is $BENCH_DURATION"
  fi
  log "running peers ($peers) with $BENCH_PEER_USERS users each; output in $out_dir/peers.log"
  # shellcheck disable=SC2086 # peers is a list of target names
  RUN_DIR="$out_dir/peers" PORT="$BENCH_PEER_PORT" N="$BENCH_PEER_USERS" CONC="$BENCH_CONNECTIONS" \
    DUR="$peer_duration" SEED_MAX_S="$BENCH_PEER_SEED_MAX_S" WRK_THREADS="$BENCH_THREADS" \
    setsid "$BENCH_HARNESS_DIR/compare.sh" $peers >"$out_dir/peers.log" 2>&1 &
  COMPARE_PID=$!
  wait "$COMPARE_PID" || log "the peer harness exited with an error; see $out_dir/peers.log"
  COMPARE_PID=""
  grep '^# WARNING\|^# first error\|bench failed' "$out_dir/peers.log" | sed 's/^/peers: /' >&2 || true

  [ -f "$out_dir/peers/results.tsv" ] || return 0
  awk -F'\t' -v map="$PEER_OPERATION_MAP" '
    BEGIN {
      n = split(map, pairs, " ")
      for (i = 1; i <= n; i++) { split(pairs[i], pair, "="); renamed[pair[1]] = pair[2] }
    }
    $2 == "rss_mib" { printf "%s\tpeak-rss\t%s\t-\t-\t-\t-\t\n", $1, $6; next }
    ($2 in renamed) { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", $1, renamed[$2], $3, $4, $5, $6, $7 }
  ' "$out_dir/peers/results.tsv" >>"$results_file"
}

print_table() {  # RESULTS_FILE
  awk -F'\t' -v order="$BENCH_OPS" -v peers="$BENCH_PEERS" '
    $2 == "peak-rss" { rss[$1] = $3; next }
    { rate[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; errors[$1, $2] = $6; requests[$1, $2] = $7; note[$1, $2] = $8 }
    END {
      op_count = split(order, ops, " ")
      target_count = split("hub " peers, targets, " ")
      printf "%-18s %-14s %9s %9s %9s %7s %9s %11s  %s\n", "operation", "target", "req/s", "p50 ms", "p99 ms", "errors", "requests", "Hub/target", "note"
      for (i = 1; i <= op_count; i++) {
        op = ops[i]
        for (j = 1; j <= target_count; j++) {
          t = targets[j]
          if (!((t, op) in rate)) continue
          ratio = "-"
          if (t != "hub" && rate[t, op] + 0 > 0 && rate["hub", op] != "-") ratio = sprintf("%.3g", rate["hub", op] / rate[t, op])
          # Without a completed request, wrk reports latencies of 0.
          if (requests[t, op] == "0") {
            p50[t, op] = "-"
            p99[t, op] = "-"
            if (note[t, op] == "") note[t, op] = "no response completed within the phase"
          }
          printf "%-18s %-14s %9s %9s %9s %7s %9s %11s  %s\n", op, t, rate[t, op], p50[t, op], p99[t, op], errors[t, op], requests[t, op], ratio, note[t, op]
        }
      }
      print ""
      for (j = 1; j <= target_count; j++) {
        t = targets[j]
        if (t in rss) printf "peak RSS %-14s %s MiB\n", t, rss[t]
      }
    }' "$1"
}

main() {
  check_tools wrk jq curl awk
  check_run_settings
  local out_dir="${BENCH_OUT_DIR:-$(mktemp -d /tmp/hub-bench.XXXXXX)}"
  mkdir -p "$out_dir/seed"
  out_dir="$(cd "$out_dir" && pwd)"
  local results_file="$out_dir/results.tsv"
  : >"$results_file"
  log "output folder: $out_dir"

  start_ceiling
  start_hub "$out_dir"
  seed_hub "$out_dir"
  local total
  total="$(hub_user_count "$out_dir/seed")"
  log "Hub lists $total users ($BENCH_USERS seeded and the Owner that changed the settings)"
  local check_failures
  check_failures="$(check_responses "$out_dir" "$total")"
  if [ -n "$check_failures" ]; then
    log "WARNING: response checks failed, so some numbers below may measure error responses:"
    printf '%s\n' "$check_failures" | sed 's/^/  /' >&2
  fi
  local rss_after_seed
  rss_after_seed="$(hub_peak_rss_mib)"

  measure_hub "$out_dir" "$results_file" "$total"
  local rss_end
  rss_end="$(hub_peak_rss_mib)"
  printf 'hub\tpeak-rss\t%s\t-\t-\t-\t-\t\n' "$rss_end" >>"$results_file"
  stop_hub
  record_ceiling_rss "$results_file"
  stop_ceiling

  measure_peers "$out_dir" "$results_file"

  {
    echo "Hub SCIM load benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "hub: $("$HUB_BIN" --version 2>/dev/null || echo "$HUB_BIN"), $(backend_name), $BENCH_USERS users and $BENCH_GROUPS groups, request log ${HUB_REQUEST_LOG:-on}"
    echo "peers: ${BENCH_PEERS:-none}, $BENCH_PEER_USERS users each"
    echo "load: wrk, $BENCH_CONNECTIONS connections, $BENCH_THREADS thread(s), $BENCH_DURATION s per operation (bulk-create: $BENCH_BULK_CONNECTIONS connections, $BENCH_BULK_DURATION s)"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "Hub peak RSS (VmHWM): $rss_after_seed MiB after seeding, $rss_end MiB at the end"
    [ -z "$check_failures" ] || echo "WARNING: response checks failed: $(printf '%s; ' "$check_failures")"
    echo
    print_table "$results_file"
  } | tee "$out_dir/report.txt"
  log "report: $out_dir/report.txt"
}

main "$@"
