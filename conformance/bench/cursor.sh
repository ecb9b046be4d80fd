#!/usr/bin/env bash
# Cost of cursor paging (RFC 9865) over many users: the latency of the first page and of the
# last page reached by following nextCursor. See README.md in this folder.
#
#   conformance/bench/cursor.sh
#
# Starts Hub on 127.0.0.1:$BENCH_PORT with a fresh database and checks first, on a few
# hundred users, that GET /Users?cursor=&count=N returns nextCursor. When it does not,
# the script prints "cursor paging not supported by this build" and exits 0 without
# seeding the rest.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
source "$BENCH_DIR/common.sh"

BENCH_CURSOR_USERS="${BENCH_CURSOR_USERS:-1000000}"
BENCH_CURSOR_COUNT="${BENCH_CURSOR_COUNT:-100}"
BENCH_CURSOR_SAMPLES="${BENCH_CURSOR_SAMPLES:-20}"
BENCH_CURSOR_MAX_S="${BENCH_CURSOR_MAX_S:-3600}"

# Sends GET /Users with the given query parameters (passed to curl --data-urlencode), writes
# the body to BODY_FILE and prints "STATUS SECONDS".
timed_list() {  # BODY_FILE PARAMETER...
  local body_file="$1"
  shift
  local arguments=() parameter
  for parameter in "$@"; do arguments+=(--data-urlencode "$parameter"); done
  curl -s -G -o "$body_file" -w '%{http_code} %{time_total}\n' -m "$BENCH_REQUEST_TIMEOUT" \
    -H "Authorization: Bearer $HUB_TOKEN" -H "Accept: application/scim+json" \
    "${arguments[@]}" "$HUB_URL$SCIM_BASE/Users" || echo "000 0"
}

# Sends the same list request BENCH_CURSOR_SAMPLES times and prints the median, minimum
# and maximum latency in milliseconds. Fails when a response is not 200.
sample_list() {  # WORK_DIR PARAMETER...
  local work_dir="$1"
  shift
  local status seconds
  : >"$work_dir/samples.txt"
  for _ in $(seq 1 "$BENCH_CURSOR_SAMPLES"); do
    read -r status seconds < <(timed_list "$work_dir/sample.json" "$@")
    if [ "$status" != 200 ]; then
      log "GET $SCIM_BASE/Users with $* returned $status: $(head -c 300 "$work_dir/sample.json")"
      return 1
    fi
    echo "$seconds" >>"$work_dir/samples.txt"
  done
  sort -g "$work_dir/samples.txt" | awk '
    { value[NR] = $1 * 1000 }
    END {
      median = (NR % 2) ? value[(NR + 1) / 2] : (value[NR / 2] + value[NR / 2 + 1]) / 2
      printf "%.2f %.2f %.2f\n", median, value[1], value[NR]
    }'
}

print_latency_row() {  # LABEL "MEDIAN MIN MAX"
  local median minimum maximum
  read -r median minimum maximum <<<"$2"
  printf '  %-28s %10s %10s %10s\n' "$1" "$median" "$minimum" "$maximum"
}

# Prints the nextCursor of a ListResponse, or nothing when it has none.
next_cursor() {  # BODY_FILE
  jq -r '.nextCursor // empty' "$1"
}

# Prints "supported" when Hub pages by cursor, or the reason why it does not.
probe_cursor_support() {  # WORK_DIR
  local work_dir="$1" status seconds
  read -r status seconds < <(timed_list "$work_dir/probe.json" "cursor=" "count=$BENCH_CURSOR_COUNT")
  if [ "$status" != 200 ]; then
    echo "GET $SCIM_BASE/Users?cursor=&count=$BENCH_CURSOR_COUNT returned $status: $(head -c 300 "$work_dir/probe.json")"
  elif [ -z "$(next_cursor "$work_dir/probe.json")" ]; then
    echo "GET $SCIM_BASE/Users?cursor=&count=$BENCH_CURSOR_COUNT returned 200 without nextCursor"
  else
    echo supported
  fi
}

# Follows nextCursor from the first page to the last. Writes the cursor of the last page to
# last-cursor.txt and one line "page, status, seconds, resources" per page to walk.tsv.
walk_cursor_pages() {  # WORK_DIR TOTAL_USERS
  local work_dir="$1" total="$2"
  local max_pages=$(((total + BENCH_CURSOR_COUNT - 1) / BENCH_CURSOR_COUNT + 10))
  local deadline=$(($(date +%s) + BENCH_CURSOR_MAX_S))
  local cursor="" page=0 status seconds resources next
  : >"$work_dir/walk.tsv"
  while :; do
    page=$((page + 1))
    if [ "$page" -gt "$max_pages" ]; then
      log "stopped after $max_pages pages, more than $total users need; the cursor chain does not end"
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "stopped after $((page - 1)) pages, because the walk took longer than BENCH_CURSOR_MAX_S=$BENCH_CURSOR_MAX_S s"
      return 1
    fi
    read -r status seconds < <(timed_list "$work_dir/page.json" "cursor=$cursor" "count=$BENCH_CURSOR_COUNT")
    if [ "$status" != 200 ]; then
      log "page $page returned $status: $(head -c 300 "$work_dir/page.json")"
      return 1
    fi
    resources="$(jq '.Resources | length' "$work_dir/page.json")"
    printf '%d\t%s\t%s\t%s\n' "$page" "$status" "$seconds" "$resources" >>"$work_dir/walk.tsv"
    next="$(next_cursor "$work_dir/page.json")"
    if [ -z "$next" ]; then
      printf '%s' "$cursor" >"$work_dir/last-cursor.txt"
      return 0
    fi
    cursor="$next"
    if [ $((page % 1000)) -eq 0 ]; then log "walked $page pages"; fi
  done
}

main() {
  trap cleanup_common EXIT
  trap 'exit 130' INT TERM
  check_tools jq curl awk
  check_settings
  require_positive_integer BENCH_CURSOR_USERS "$BENCH_CURSOR_USERS"
  require_positive_integer BENCH_CURSOR_COUNT "$BENCH_CURSOR_COUNT"
  require_positive_integer BENCH_CURSOR_SAMPLES "$BENCH_CURSOR_SAMPLES"
  require_positive_integer BENCH_CURSOR_MAX_S "$BENCH_CURSOR_MAX_S"
  local probe_users=$((2 * BENCH_CURSOR_COUNT + 1))
  [ "$BENCH_CURSOR_USERS" -ge "$probe_users" ] \
    || die "BENCH_CURSOR_USERS ($BENCH_CURSOR_USERS) must be at least 2 * BENCH_CURSOR_COUNT + 1 ($probe_users), so there is more than one page"

  local out_dir="${BENCH_OUT_DIR:-$(mktemp -d /tmp/hub-bench-cursor.XXXXXX)}"
  mkdir -p "$out_dir/seed"
  out_dir="$(cd "$out_dir" && pwd)"
  local work_dir="$out_dir/seed"
  log "output folder: $out_dir"

  start_hub "$out_dir"
  prepare_seeding "$out_dir"

  : >"$out_dir/users.tsv"
  seed_users user "$probe_users" "$out_dir/users.tsv" "$work_dir"
  local support
  support="$(probe_cursor_support "$work_dir")"
  if [ "$support" != supported ]; then
    echo "cursor paging not supported by this build ($support)" | tee "$out_dir/report.txt"
    return 0
  fi

  seed_users user $((BENCH_CURSOR_USERS - probe_users)) "$out_dir/users.tsv" "$work_dir" "$probe_users"
  local total
  total="$(hub_user_count "$work_dir")"
  log "Hub lists $total users ($BENCH_CURSOR_USERS seeded and the Owner that changed the settings)"

  log "walking every page by cursor, $BENCH_CURSOR_COUNT users per page"
  local walk_started walk_seconds
  walk_started="$(date +%s.%N)"
  walk_cursor_pages "$work_dir" "$total" || die "the cursor walk failed (reason above); pages so far are in $work_dir/walk.tsv"
  walk_seconds="$(awk -v start="$walk_started" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }')"
  local pages listed
  pages="$(wc -l <"$work_dir/walk.tsv")"
  listed="$(awk -F'\t' '{ sum += $4 } END { print sum + 0 }' "$work_dir/walk.tsv")"
  local walk_note=""
  [ "$listed" -eq "$total" ] || walk_note="WARNING: the pages listed $listed users, but totalResults is $total"

  log "sampling the first and the last page $BENCH_CURSOR_SAMPLES times each"
  local first_page last_page last_cursor last_note=""
  first_page="$(sample_list "$work_dir" "cursor=" "count=$BENCH_CURSOR_COUNT")" || die "sampling the first page failed"
  last_cursor="$(cat "$work_dir/last-cursor.txt")"
  if ! last_page="$(sample_list "$work_dir" "cursor=$last_cursor" "count=$BENCH_CURSOR_COUNT")"; then
    # A server may expire a cursor or accept it only once, so fall back to the single
    # latency measured during the walk.
    last_page="$(tail -n 1 "$work_dir/walk.tsv" | awk -F'\t' '{ v = $3 * 1000; printf "%.2f %.2f %.2f\n", v, v, v }')"
    last_note="the last cursor was rejected when sent again, so this is the one request of the walk"
  fi
  local offset_first offset_last
  offset_first="$(sample_list "$work_dir" "startIndex=1" "count=$BENCH_CURSOR_COUNT")" || die "sampling startIndex=1 failed"
  offset_last="$(sample_list "$work_dir" "startIndex=$((total - BENCH_CURSOR_COUNT + 1))" "count=$BENCH_CURSOR_COUNT")" \
    || die "sampling the last page by startIndex failed"

  {
    echo "Hub cursor paging benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "hub: $("$HUB_BIN" --version 2>/dev/null || echo "$HUB_BIN"), $(backend_name), $total users, $BENCH_CURSOR_COUNT per page"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "latency of one request at a time, $BENCH_CURSOR_SAMPLES samples each (median, min, max in ms):"
    print_latency_row page "median min max"
    print_latency_row "first page by cursor" "$first_page"
    print_latency_row "last page by cursor" "$last_page"
    print_latency_row "first page by startIndex" "$offset_first"
    print_latency_row "last page by startIndex" "$offset_last"
    awk -v first="${first_page%% *}" -v last="${last_page%% *}" \
      'BEGIN { printf "last/first page latency by cursor: %.2f\n", (first > 0) ? last / first : 0 }'
    awk -v first="${offset_first%% *}" -v last="${offset_last%% *}" \
      'BEGIN { printf "last/first page latency by startIndex: %.2f\n", (first > 0) ? last / first : 0 }'
    echo "walk: $pages pages in $walk_seconds s (one request at a time, including curl and jq per page)"
    [ -z "$last_note" ] || echo "note: $last_note"
    [ -z "$walk_note" ] || echo "$walk_note"
    echo "Hub peak RSS (VmHWM): $(hub_peak_rss_mib) MiB"
  } | tee "$out_dir/report.txt"
  log "report: $out_dir/report.txt"
}

# Run main unless the file is sourced, so its functions can be tried on their own.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
