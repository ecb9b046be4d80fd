# shellcheck shell=bash
# Functions shared by run.sh and cursor.sh: settings, starting and stopping Hub, turning
# off invitation mail, seeding through /Bulk, and running one wrk phase.
# Source it after setting BENCH_DIR to the folder of this file.
#
# Every server is started by these scripts on 127.0.0.1, and every request goes there.

REPO_ROOT="$(cd "$BENCH_DIR/../.." && pwd)"

HUB_BIN="${HUB_BIN:-$REPO_ROOT/target/release/hub}"
HUB_BENCH_POSTGRES_URL="${HUB_BENCH_POSTGRES_URL:-}"
BENCH_PORT="${BENCH_PORT:-18200}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-32}"
BENCH_DURATION="${BENCH_DURATION:-10}"
BENCH_THREADS="${BENCH_THREADS:-1}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-30}"
BENCH_BULK_SIZE="${BENCH_BULK_SIZE:-1000}"
BENCH_SEED_PARALLEL="${BENCH_SEED_PARALLEL:-2}"
BENCH_REQUEST_TIMEOUT="${BENCH_REQUEST_TIMEOUT:-600}"
BENCH_KEEP="${BENCH_KEEP:-0}"
# What seed_hub creates.
BENCH_USERS="${BENCH_USERS:-100000}"
BENCH_GROUPS="${BENCH_GROUPS:-1000}"
BENCH_SMALL_GROUP_SIZE="${BENCH_SMALL_GROUP_SIZE:-10}"
BENCH_MEMBER_BATCH="${BENCH_MEMBER_BATCH:-5000}"
BENCH_ALLOW_INVITATIONS="${BENCH_ALLOW_INVITATIONS:-0}"

SCIM_BASE="/scim/v2"
CORE_USER="urn:ietf:params:scim:schemas:core:2.0:User"
BULK_REQUEST="urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE_GROUP="urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP="urn:ietf:params:scim:api:messages:2.0:PatchOp"
# userName of the Owner that the scripts create to change the organization's settings.
OWNER_USER_NAME="bench-owner@bench.example"

HUB_PID=""
WRK_PID=""
PG_DATABASE=""
HUB_TOKEN=""
HUB_URL=""
HUB_DATA_DIR=""
HUB_DATABASE_URL=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

require_positive_integer() {  # NAME VALUE
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer; got '$2'"
}

check_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found; install it (Debian: apt-get install -y $tool)"
  done
}

check_settings() {
  require_positive_integer BENCH_PORT "$BENCH_PORT"
  require_positive_integer BENCH_CONNECTIONS "$BENCH_CONNECTIONS"
  require_positive_integer BENCH_DURATION "$BENCH_DURATION"
  require_positive_integer BENCH_THREADS "$BENCH_THREADS"
  require_positive_integer BENCH_TIMEOUT "$BENCH_TIMEOUT"
  require_positive_integer BENCH_BULK_SIZE "$BENCH_BULK_SIZE"
  require_positive_integer BENCH_SEED_PARALLEL "$BENCH_SEED_PARALLEL"
  require_positive_integer BENCH_REQUEST_TIMEOUT "$BENCH_REQUEST_TIMEOUT"
  [ "$BENCH_THREADS" -le "$BENCH_CONNECTIONS" ] \
    || die "BENCH_THREADS ($BENCH_THREADS) must not exceed BENCH_CONNECTIONS ($BENCH_CONNECTIONS), because wrk gives each thread at least one connection"
  [ -x "$HUB_BIN" ] || die "Hub binary $HUB_BIN not found or not executable; build it with 'cargo build --release' or set HUB_BIN"
}

check_seed_settings() {
  require_positive_integer BENCH_USERS "$BENCH_USERS"
  require_positive_integer BENCH_GROUPS "$BENCH_GROUPS"
  require_positive_integer BENCH_SMALL_GROUP_SIZE "$BENCH_SMALL_GROUP_SIZE"
  require_positive_integer BENCH_MEMBER_BATCH "$BENCH_MEMBER_BATCH"
  [ "$BENCH_USERS" -ge 100 ] || die "BENCH_USERS must be at least 100, so that a list page has 100 users; got $BENCH_USERS"
  [ "$BENCH_SMALL_GROUP_SIZE" -le "$BENCH_USERS" ] \
    || die "BENCH_SMALL_GROUP_SIZE ($BENCH_SMALL_GROUP_SIZE) must not exceed BENCH_USERS ($BENCH_USERS)"
}

random_token() {
  od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

# Fails unless nothing listens on 127.0.0.1:PORT, so the benchmark never loads a server
# that it did not start.
require_free_port() {
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
    die "something already listens on 127.0.0.1:$1; stop it or choose another port"
  fi
}

# Fails when BENCH_BULK_SIZE exceeds the bulk.maxOperations that Hub advertises.
check_bulk_limit() {  # WORK_DIR
  local code max_operations
  code="$(hub_request GET "$SCIM_BASE/ServiceProviderConfig" "$1/service-provider-config.json")"
  [ "$code" = 200 ] || die "GET $SCIM_BASE/ServiceProviderConfig returned $code"
  max_operations="$(jq -r '.bulk.maxOperations // empty' "$1/service-provider-config.json")"
  if [ -n "$max_operations" ] && [ "$BENCH_BULK_SIZE" -gt "$max_operations" ]; then
    die "BENCH_BULK_SIZE ($BENCH_BULK_SIZE) exceeds the $max_operations operations per /Bulk request that Hub accepts"
  fi
}

# Prints a PostgreSQL URL with the same server and credentials as ADMIN_URL and the
# database name DATABASE.
postgres_url_for() {  # ADMIN_URL DATABASE
  local admin_url="$1" database="$2" without_query query=""
  without_query="${admin_url%%\?*}"
  [ "$without_query" != "$admin_url" ] && query="?${admin_url#*\?}"
  local authority="${without_query#*://}"
  authority="${authority%%/*}"
  printf '%s://%s/%s%s' "${without_query%%://*}" "$authority" "$database" "$query"
}

require_loopback_postgres() {
  local authority="${HUB_BENCH_POSTGRES_URL#*://}" host
  authority="${authority%%/*}"
  authority="${authority##*@}"
  case "$authority" in
    \[::1\]*) host="[::1]" ;;
    *) host="${authority%%:*}" ;;
  esac
  case "$host" in
    127.0.0.1 | localhost | "[::1]") ;;
    *) die "HUB_BENCH_POSTGRES_URL names host '$host'; the benchmark uses only a PostgreSQL server on 127.0.0.1, localhost or [::1]" ;;
  esac
}

create_postgres_database() {
  check_tools psql
  require_loopback_postgres
  PG_DATABASE="hub_bench_$(date +%Y%m%d%H%M%S)_$$"
  psql "$HUB_BENCH_POSTGRES_URL" -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE $PG_DATABASE" >/dev/null \
    || die "cannot create database $PG_DATABASE with HUB_BENCH_POSTGRES_URL; the role needs CREATEDB"
  HUB_DATABASE_URL="$(postgres_url_for "$HUB_BENCH_POSTGRES_URL" "$PG_DATABASE")"
  log "created PostgreSQL database $PG_DATABASE"
}

backend_name() {
  if [ -n "$HUB_BENCH_POSTGRES_URL" ]; then echo PostgreSQL; else echo SQLite; fi
}

# Starts Hub on a fresh database and waits until it serves SCIM requests.
# Sets HUB_PID, HUB_URL, HUB_TOKEN, HUB_DATA_DIR and, on PostgreSQL, HUB_DATABASE_URL.
# With SEED_DATA_DIR (SQLite only), Hub starts on a copy of that data folder instead, and
# HUB_TOKEN must already hold the token of the organization stored there.
start_hub() {  # OUT_DIR [SEED_DATA_DIR]
  local out_dir="$1" seed_data_dir="${2:-}"
  require_free_port "$BENCH_PORT"
  HUB_DATA_DIR="$out_dir/hub-data"
  rm -rf "$HUB_DATA_DIR"
  if [ -n "$seed_data_dir" ]; then
    [ -z "$HUB_BENCH_POSTGRES_URL" ] || die "starting Hub on a copied data folder works on SQLite only"
    [ -n "$HUB_TOKEN" ] || die "start_hub with a seeded data folder needs HUB_TOKEN"
    cp -a "$seed_data_dir" "$HUB_DATA_DIR"
  else
    mkdir -p "$HUB_DATA_DIR"
    HUB_TOKEN="$(random_token)"
  fi
  HUB_URL="http://127.0.0.1:$BENCH_PORT"

  local database_args=()
  if [ -n "$HUB_BENCH_POSTGRES_URL" ]; then
    create_postgres_database
    database_args=(--database-url "$HUB_DATABASE_URL")
  fi

  # The load generator is one client far above any identity provider's rate, so the
  # per-token rate limit is off here.
  HUB_BOOTSTRAP_SCIM_TOKEN="$HUB_TOKEN" RUST_LOG=warn "$HUB_BIN" serve \
    --listen "127.0.0.1:$BENCH_PORT" --data-dir "$HUB_DATA_DIR" "${database_args[@]}" \
    --rate-limit 0 \
    >"$out_dir/hub.log" 2>&1 &
  HUB_PID=$!
  log "started Hub (pid $HUB_PID) on $HUB_URL, $(backend_name), log $out_dir/hub.log"

  local code
  for _ in $(seq 1 600); do  # up to 60 s, because migrations run at first start
    if ! kill -0 "$HUB_PID" 2>/dev/null; then
      tail -n 20 "$out_dir/hub.log" >&2
      die "Hub exited during start; the last lines of its log are above"
    fi
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Authorization: Bearer $HUB_TOKEN" \
      "$HUB_URL$SCIM_BASE/ServiceProviderConfig" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  die "Hub did not return 200 for GET $SCIM_BASE/ServiceProviderConfig within 60 s (last status '$code')"
}

stop_hub() {
  [ -n "$HUB_PID" ] || return 0
  if kill -0 "$HUB_PID" 2>/dev/null; then
    kill -TERM "$HUB_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do  # up to 10 s for a graceful shutdown
      kill -0 "$HUB_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$HUB_PID" 2>/dev/null; then
      log "Hub (pid $HUB_PID) did not stop within 10 s of SIGTERM; sending SIGKILL"
      kill -KILL "$HUB_PID" 2>/dev/null || true
    fi
    wait "$HUB_PID" 2>/dev/null || true
    log "stopped Hub (pid $HUB_PID)"
  fi
  HUB_PID=""
}

drop_postgres_database() {
  [ -n "$PG_DATABASE" ] || return 0
  if [ "$BENCH_KEEP" = 1 ]; then
    log "kept PostgreSQL database $PG_DATABASE (BENCH_KEEP=1)"
  elif psql "$HUB_BENCH_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $PG_DATABASE" >/dev/null; then
    log "dropped PostgreSQL database $PG_DATABASE"
  else
    log "cannot drop PostgreSQL database $PG_DATABASE; drop it by hand"
  fi
  PG_DATABASE=""
}

# Stops what this script started: a running wrk, Hub, and the database of this run.
cleanup_common() {
  if [ -n "$WRK_PID" ] && kill -0 "$WRK_PID" 2>/dev/null; then
    kill -TERM "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
  fi
  WRK_PID=""
  stop_hub
  drop_postgres_database
  if [ "$BENCH_KEEP" != 1 ] && [ -n "$HUB_DATA_DIR" ] && [ -d "$HUB_DATA_DIR" ]; then
    rm -rf "$HUB_DATA_DIR"
  fi
}

# Sends one request to Hub and prints the status code; the body goes to BODY_FILE.
# Data, when given, is sent as the body ("@FILE" reads a file).
hub_request() {  # METHOD PATH BODY_FILE [DATA] [CONTENT_TYPE] [BEARER_TOKEN]
  local method="$1" path="$2" body_file="$3" data="${4:-}"
  local content_type="${5:-application/scim+json}" bearer="${6:-$HUB_TOKEN}"
  local args=(-s -o "$body_file" -w '%{http_code}' -m "$BENCH_REQUEST_TIMEOUT" -X "$method"
    -H "Authorization: Bearer $bearer" -H "Accept: application/scim+json, application/json")
  [ -n "$data" ] && args+=(-H "Content-Type: $content_type" --data-binary "$data")
  curl "${args[@]}" "$HUB_URL$path" || echo 000
}

# Prints VmHWM (peak resident set size) of Hub in MiB.
hub_peak_rss_mib() {
  local kib
  kib="$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$HUB_PID/status" 2>/dev/null || true)"
  [ -n "$kib" ] || { echo "-"; return; }
  awk -v kib="$kib" 'BEGIN { printf "%.1f", kib / 1024 }'
}

# Makes users created over SCIM Active without an invitation mail, through the
# organization setting scimUsersActive. Only an Owner with a session may change it, and
# sessions exist only for Active users, so this creates an Owner over SCIM, registers it
# with the link from its invitation mail, and creates a session with `hub session create`.
enable_scim_users_active() {  # OUT_DIR
  local out_dir="$1" body="$1/owner-response.json" code
  code="$(hub_request POST "$SCIM_BASE/Users" "$body" "$(jq -cn --arg name "$OWNER_USER_NAME" --arg schema "$CORE_USER" \
    '{schemas: [$schema], userName: $name, emails: [{value: $name, type: "work", primary: true}], roles: [{value: "Owner", primary: true}]}')")"
  [ "$code" = 201 ] || { log "creating the Owner returned $code: $(head -c 300 "$body")"; return 1; }

  # The mail worker writes the invitation to DATA_DIR/outbox shortly after the commit.
  local mail_file=""
  for _ in $(seq 1 300); do  # up to 30 s
    mail_file="$(find "$HUB_DATA_DIR/outbox" -name '*.eml' -type f 2>/dev/null | head -n 1 || true)"
    [ -n "$mail_file" ] && break
    sleep 0.1
  done
  [ -n "$mail_file" ] || { log "no invitation mail appeared in $HUB_DATA_DIR/outbox within 30 s"; return 1; }
  sleep 0.2  # the file may still be being written

  # Undo quoted-printable soft line breaks and the encoded "=" before reading the link.
  local link_token
  link_token="$(sed -e ':joined' -e '/=\r\{0,1\}$/{N;s/=\r\{0,1\}\n//;b joined' -e '}' "$mail_file" \
    | sed 's/=3D/=/g' | grep -o 'register?token=[A-Za-z0-9_.~%-]*' | head -n 1 | cut -d= -f2 || true)"
  [ -n "$link_token" ] || { log "no registration link found in $mail_file"; return 1; }

  code="$(hub_request POST /api/v1/registrations "$out_dir/registration.json" \
    "$(jq -cn --arg token "$link_token" '{token: $token}')" application/json)"
  [ "$code" = 201 ] || { log "POST /api/v1/registrations returned $code: $(head -c 300 "$out_dir/registration.json")"; return 1; }

  local database_args=() session
  [ -n "$HUB_DATABASE_URL" ] && database_args=(--database-url "$HUB_DATABASE_URL")
  session="$(RUST_LOG=warn "$HUB_BIN" session create --org default --user "$OWNER_USER_NAME" --ttl-minutes 60 \
    --data-dir "$HUB_DATA_DIR" "${database_args[@]}" 2>"$out_dir/session.log" | tail -n 1)"
  [ -n "$session" ] || { log "hub session create printed no token: $(head -c 300 "$out_dir/session.log")"; return 1; }

  code="$(hub_request PATCH /api/v1/organization "$out_dir/organization.json" '{"scimUsersActive":true}' \
    application/json "$session")"
  [ "$code" = 200 ] || { log "PATCH /api/v1/organization returned $code: $(head -c 300 "$out_dir/organization.json")"; return 1; }
  [ "$(jq -r .scimUsersActive "$out_dir/organization.json")" = true ] \
    || { log "PATCH /api/v1/organization did not turn on scimUsersActive"; return 1; }
  rm -f "$HUB_DATA_DIR"/outbox/*.eml
  log "turned on scimUsersActive, so seeded users get no invitation mail"
}

# Writes a /Bulk request that creates COUNT users numbered from FIRST. User number i has
# userName PREFIX-i@seed.example (i zero-padded to 7 digits), externalId PREFIX-ext-i
# and bulkId i.
write_user_bulk() {  # PREFIX FIRST COUNT FILE
  awk -v prefix="$1" -v first="$2" -v count="$3" -v user_schema="$CORE_USER" -v bulk_schema="$BULK_REQUEST" 'BEGIN {
    printf "{\"schemas\":[\"%s\"],\"Operations\":[", bulk_schema
    for (i = first; i < first + count; i++) {
      key = sprintf("%s-%07d", prefix, i)
      if (i > first) printf ","
      printf "{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"%d\",\"data\":{\"schemas\":[\"%s\"],", i, user_schema
      printf "\"userName\":\"%s@seed.example\",\"externalId\":\"%s-ext-%07d\",", key, prefix, i
      printf "\"name\":{\"givenName\":\"Given\",\"familyName\":\"%s\"},\"displayName\":\"Seed %s\",", key, key
      printf "\"emails\":[{\"value\":\"%s@seed.example\",\"type\":\"work\",\"primary\":true}],\"active\":true}}", key
    }
    printf "]}"
  }' >"$4"
}

# Posts one /Bulk batch of seeded users and writes "id, userName, externalId" lines to
# WORK_DIR/batch-PREFIX-FIRST.tsv. When the request or any operation fails, it writes the
# reason to WORK_DIR/batch-PREFIX-FIRST.error and returns 1.
seed_user_batch() {  # PREFIX FIRST COUNT WORK_DIR
  local prefix="$1" first="$2" count="$3" work_dir="$4"
  local name="batch-$prefix-$first"
  write_user_bulk "$prefix" "$first" "$count" "$work_dir/$name.json"
  local code
  code="$(hub_request POST "$SCIM_BASE/Bulk" "$work_dir/$name.response.json" "@$work_dir/$name.json")"
  if [ "$code" != 200 ]; then
    echo "POST /Bulk (users $first to $((first + count - 1))) returned $code: $(head -c 500 "$work_dir/$name.response.json")" \
      >"$work_dir/$name.error"
    return 1
  fi
  # The number is zero-padded to 7 digits, like awk's %07d in write_user_bulk.
  jq -r --arg prefix "$prefix" '.Operations[] | select(.status == "201")
      | (.bulkId | if length < 7 then ("0000000" + .)[-7:] else . end) as $number
      | [(.location | split("/") | last), ($prefix + "-" + $number + "@seed.example"), ($prefix + "-ext-" + $number)]
      | @tsv' \
    "$work_dir/$name.response.json" >"$work_dir/$name.tsv"
  local created
  created="$(wc -l <"$work_dir/$name.tsv")"
  if [ "$created" -ne "$count" ]; then
    echo "POST /Bulk (users $first to $((first + count - 1))) created $created of $count users; first failure: $(jq -c \
      '[.Operations[] | select(.status != "201")][0]' "$work_dir/$name.response.json" | head -c 500)" >"$work_dir/$name.error"
    return 1
  fi
  rm -f "$work_dir/$name.json" "$work_dir/$name.response.json"
}

# Prints those of the given PIDs whose processes still run.
live_pids() {
  local pid
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
  done
}

# Creates COUNT users through /Bulk, numbered from FIRST (default 0), BENCH_BULK_SIZE per
# request and BENCH_SEED_PARALLEL requests at a time. Appends "id, userName, externalId"
# lines to TSV_FILE.
seed_users() {  # PREFIX COUNT TSV_FILE WORK_DIR [FIRST]
  local prefix="$1" count_total="$2" tsv_file="$3" work_dir="$4" first="${5:-0}"
  local total=$((first + count_total))
  mkdir -p "$work_dir"
  rm -f "$work_dir"/batch-"$prefix"-*
  local started_at pid
  local running=()  # PIDs of the batches in flight; Hub is a child too, so wait names them
  started_at="$(date +%s.%N)"
  while [ "$first" -lt "$total" ]; do
    local count=$((total - first))
    [ "$count" -gt "$BENCH_BULK_SIZE" ] && count="$BENCH_BULK_SIZE"
    seed_user_batch "$prefix" "$first" "$count" "$work_dir" &
    running+=("$!")
    first=$((first + count))
    if [ "${#running[@]}" -ge "$BENCH_SEED_PARALLEL" ]; then
      wait -n "${running[@]}" || true
      mapfile -t running < <(live_pids "${running[@]}")
    fi
    # Stop early instead of sending the remaining batches after a failure.
    if compgen -G "$work_dir/batch-$prefix-*.error" >/dev/null; then break; fi
  done
  for pid in "${running[@]}"; do wait "$pid" || true; done

  local error_file
  error_file="$(compgen -G "$work_dir/batch-$prefix-*.error" | head -n 1 || true)"
  [ -z "$error_file" ] || die "seeding users failed: $(cat "$error_file")"
  find "$work_dir" -name "batch-$prefix-*.tsv" -print0 | sort -zV | xargs -0 cat >>"$tsv_file"
  rm -f "$work_dir"/batch-"$prefix"-*.tsv
  local elapsed
  elapsed="$(awk -v start="$started_at" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }')"
  log "seeded $count_total users ($prefix) in $elapsed s ($(awk -v n="$count_total" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }') users/s)"
}

# Creates the large group (no members yet) and BENCH_GROUPS - 1 small groups of
# BENCH_SMALL_GROUP_SIZE members each, drawn in turn from the seeded users. Writes the
# large group's id to large-group.txt and the small groups' ids to groups.txt.
seed_groups() {  # OUT_DIR
  local out_dir="$1" work_dir="$1/seed" code
  code="$(hub_request POST "$SCIM_BASE/Groups" "$work_dir/large-group.json" \
    "$(jq -cn --arg schema "$CORE_GROUP" '{schemas: [$schema], displayName: "bench-large-group"}')")"
  [ "$code" = 201 ] || die "POST $SCIM_BASE/Groups (large group) returned $code: $(head -c 300 "$work_dir/large-group.json")"
  jq -r .id "$work_dir/large-group.json" >"$out_dir/large-group.txt"

  : >"$out_dir/groups.txt"
  local small_groups=$((BENCH_GROUPS - 1)) first=0
  while [ "$first" -lt "$small_groups" ]; do
    local count=$((small_groups - first))
    [ "$count" -gt "$BENCH_BULK_SIZE" ] && count="$BENCH_BULK_SIZE"
    awk -F'\t' -v first="$first" -v count="$count" -v size="$BENCH_SMALL_GROUP_SIZE" \
      -v group_schema="$CORE_GROUP" -v bulk_schema="$BULK_REQUEST" '
      { ids[NR - 1] = $1 }
      END {
        printf "{\"schemas\":[\"%s\"],\"Operations\":[", bulk_schema
        for (g = first; g < first + count; g++) {
          if (g > first) printf ","
          printf "{\"method\":\"POST\",\"path\":\"/Groups\",\"bulkId\":\"g%d\",\"data\":{\"schemas\":[\"%s\"],", g, group_schema
          printf "\"displayName\":\"bench-group-%05d\",\"members\":[", g
          for (j = 0; j < size; j++) {
            if (j > 0) printf ","
            printf "{\"value\":\"%s\"}", ids[(g * size + j) % NR]
          }
          printf "]}}"
        }
        printf "]}"
      }' "$out_dir/users.tsv" >"$work_dir/groups-$first.json"
    code="$(hub_request POST "$SCIM_BASE/Bulk" "$work_dir/groups-$first.response.json" "@$work_dir/groups-$first.json")"
    [ "$code" = 200 ] || die "POST $SCIM_BASE/Bulk (groups) returned $code: $(head -c 300 "$work_dir/groups-$first.response.json")"
    jq -r '.Operations[] | select(.status == "201") | .location | split("/") | last' \
      "$work_dir/groups-$first.response.json" >>"$out_dir/groups.txt"
    first=$((first + count))
  done
  local created
  created="$(wc -l <"$out_dir/groups.txt")"
  [ "$created" -eq "$small_groups" ] || die "created $created of $small_groups small groups; see $work_dir/groups-*.response.json"
  log "created $BENCH_GROUPS groups: 1 large and $small_groups with $BENCH_SMALL_GROUP_SIZE members each"
}

# Adds every seeded user to the large group, BENCH_MEMBER_BATCH members per PATCH.
fill_large_group() {  # OUT_DIR
  local out_dir="$1" work_dir="$1/seed" large_group started_at
  large_group="$(cat "$out_dir/large-group.txt")"
  started_at="$(date +%s)"
  rm -f "$work_dir"/members-*
  cut -f1 "$out_dir/users.tsv" | split -l "$BENCH_MEMBER_BATCH" -d -a 4 - "$work_dir/members-"
  local chunk code
  for chunk in "$work_dir"/members-*; do
    jq -Rn --arg schema "$PATCH_OP" \
      '{schemas: [$schema], Operations: [{op: "add", path: "members", value: [inputs | {value: .}]}]}' \
      <"$chunk" >"$chunk.json"
    code="$(hub_request PATCH "$SCIM_BASE/Groups/$large_group" "$chunk.response" "@$chunk.json")"
    [ "$code" = 204 ] || die "PATCH $SCIM_BASE/Groups/$large_group (add $(wc -l <"$chunk") members) returned $code: $(head -c 300 "$chunk.response")"
    rm -f "$chunk" "$chunk.json" "$chunk.response"
  done
  log "added $(wc -l <"$out_dir/users.tsv") members to the large group in $(($(date +%s) - started_at)) s"
}

# Checks the /Bulk size against Hub's limit and turns on scimUsersActive, so that seeded users
# get no invitation mail. Stops the run when that fails, unless BENCH_ALLOW_INVITATIONS=1.
prepare_seeding() {  # OUT_DIR
  local out_dir="$1"
  mkdir -p "$out_dir/seed"
  check_bulk_limit "$out_dir/seed"
  if ! enable_scim_users_active "$out_dir"; then
    [ "$BENCH_ALLOW_INVITATIONS" = 1 ] \
      || die "cannot turn on scimUsersActive (reason above), so every seeded user would get an invitation mail; set BENCH_ALLOW_INVITATIONS=1 to run anyway"
    log "WARNING: scimUsersActive is off, so Hub writes an invitation mail for every user"
  fi
}

# Seeds the running Hub: turns on scimUsersActive, creates BENCH_USERS users through /Bulk
# (listed in OUT_DIR/users.tsv as "id, userName, externalId"), BENCH_GROUPS groups, and puts
# every user in the large group.
seed_hub() {  # OUT_DIR
  local out_dir="$1"
  prepare_seeding "$out_dir"
  : >"$out_dir/users.tsv"
  seed_users user "$BENCH_USERS" "$out_dir/users.tsv" "$out_dir/seed"
  seed_groups "$out_dir"
  fill_large_group "$out_dir"
}

# Prints how many users Hub lists in the organization.
hub_user_count() {  # WORK_DIR
  local code
  code="$(hub_request GET "$SCIM_BASE/Users?count=0" "$1/count.json")"
  [ "$code" = 200 ] || die "GET $SCIM_BASE/Users?count=0 returned $code: $(head -c 300 "$1/count.json")"
  jq -r .totalResults "$1/count.json"
}

# Runs one wrk phase of OPERATION against Hub and appends a row to RESULTS_FILE:
# target, operation, req/s, p50 ms, p99 ms, errors, requests, note.
# Extra arguments are passed to load.lua as key=value pairs.
run_wrk_phase() {  # RESULTS_FILE OUT_DIR OPERATION CONNECTIONS DURATION [KEY=VALUE...]
  local results_file="$1" out_dir="$2" operation="$3" connections="$4" duration="$5"
  shift 5
  wait_until_idle
  local output="$out_dir/wrk-$operation.txt"
  log "measuring $operation: $connections connections for $duration s"
  wrk -t"$BENCH_THREADS" -c"$connections" -d"${duration}s" --timeout "${BENCH_TIMEOUT}s" \
    -s "$BENCH_DIR/load.lua" "$HUB_URL" -- op="$operation" base="$SCIM_BASE" token="$HUB_TOKEN" \
    threads="$BENCH_THREADS" out="$out_dir" tag="$(basename "$out_dir")" "$@" >"$output" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=""
  record_wrk_result "$results_file" hub "$operation" "$output"
}

# Reads the RESULT line of a wrk output file and appends one row to RESULTS_FILE.
record_wrk_result() {  # RESULTS_FILE TARGET OPERATION WRK_OUTPUT
  local results_file="$1" target="$2" operation="$3" output="$4" line
  line="$(grep '^RESULT ' "$output" || true)"
  if [ -z "$line" ]; then
    log "wrk returned no result for $operation; its output is in $output:"
    head -n 20 "$output" >&2
    printf '%s\t%s\t-\t-\t-\t-\t-\twrk failed\n' "$target" "$operation" >>"$results_file"
    return
  fi
  local failure
  failure="$(sed -n 's/^FIRST_FAILURE //p' "$output" | head -n 1)"
  [ -z "$failure" ] || log "first failed response of $operation: $failure"
  awk -v target="$target" -v operation="$operation" '
    {
      for (i = 2; i <= NF; i++) { split($i, pair, "="); value[pair[1]] = pair[2] }
      seconds = value["duration_us"] / 1e6
      rate = (seconds > 0) ? value["requests"] / seconds : 0
      errors = value["status_errors"] + value["timeouts"] + value["socket_errors"] + value["failed"]
      note = ""
      if (operation == "bulk-create") note = sprintf("%.0f users/s", (seconds > 0) ? value["created"] / seconds : 0)
      if (value["reused"] > 0) note = note (note == "" ? "" : ", ") sprintf("%d requests re-added a member", value["reused"])
      if (value["timeouts"] > 0) note = note (note == "" ? "" : ", ") sprintf("%d timeouts", value["timeouts"])
      printf "%s\t%s\t%s\t%.2f\t%.2f\t%d\t%d\t%s\n", target, operation,
        (rate < 100) ? sprintf("%.1f", rate) : sprintf("%.0f", rate),
        value["p50_us"] / 1000, value["p99_us"] / 1000, errors, value["requests"], note
    }' <<<"$line" >>"$results_file"
}

# Waits until Hub has worked off requests left from the previous phase: wrk stops sending
# at the end of its duration, but the server may still process what it had accepted.
wait_until_idle() {
  for _ in 1 2 3; do
    curl -s -o /dev/null -m 120 -H "Authorization: Bearer $HUB_TOKEN" "$HUB_URL$SCIM_BASE/ServiceProviderConfig" || true
  done
}
