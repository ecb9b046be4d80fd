#!/usr/bin/env bash
# Start, stop or query a throwaway PostgreSQL cluster for the tests.
#
#   .ci/scripts/postgres.sh start    start it if needed, then print its URL on stdout
#   .ci/scripts/postgres.sh stop     stop the server named in the cluster's pid file
#   .ci/scripts/postgres.sh status   print the URL and exit 0 if it runs, else exit 3
#   .ci/scripts/postgres.sh url      print the URL
#
# The server listens on 127.0.0.1 only, on port $HUB_PG_PORT (default 55432), and
# keeps its files in $HUB_PG_DIR (default ${TMPDIR:-/tmp}/hub-test-postgres).
# The URL is postgres://hub:hub@127.0.0.1:PORT/postgres, and the role hub is a
# superuser, so tests can CREATE DATABASE. Durability is switched off (fsync,
# synchronous_commit, full_page_writes): a crash can corrupt the cluster, so keep
# nothing in it. Delete the folder after `stop` to start from an empty cluster.
#
# Run as root, the server runs as the OS user $HUB_PG_OS_USER (default postgres,
# created if missing), because postgres refuses to run as root. When the server
# binaries are missing, root installs Debian's postgresql package with apt-get.
set -euo pipefail

port="${HUB_PG_PORT:-55432}"
dir="${HUB_PG_DIR:-${TMPDIR:-/tmp}/hub-test-postgres}"
data="$dir/data"
socket_dir="$dir/socket"
log_file="$dir/postgres.log"
os_user="${HUB_PG_OS_USER:-postgres}"
url="postgres://hub:hub@127.0.0.1:$port/postgres"

log() { echo "postgres.sh: $*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# Print the newest /usr/lib/postgresql/VERSION/bin that contains initdb, or $PG_BIN.
find_bin_dir() {
  if [[ -n "${PG_BIN:-}" ]]; then
    echo "$PG_BIN"
    return
  fi
  local candidate
  candidate="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [[ -n "$candidate" && -x "$candidate/initdb" ]]; then
    echo "$candidate"
  fi
}

install_server() {
  is_root || fail "PostgreSQL server binaries not found under /usr/lib/postgresql; install the 'postgresql' package or set PG_BIN"
  log "PostgreSQL server binaries not found; installing Debian's postgresql package"
  # The package would otherwise create and start a 'main' cluster on port 5432,
  # which the tests do not use.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/hub-tests.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends postgresql >&2
}

ensure_os_user() {
  is_root || return 0
  if ! id "$os_user" >/dev/null 2>&1; then
    log "creating system user $os_user to run the server"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$os_user"
  fi
}

# Run a command as the OS user that owns the cluster, from inside the cluster folder
# so that the command can read its working directory.
as_owner() {
  if is_root; then
    (cd "$dir" && runuser -u "$os_user" -- "$@")
  else
    (cd "$dir" && "$@")
  fi
}

server_pid() {
  [[ -f "$data/postmaster.pid" ]] && head -n 1 "$data/postmaster.pid"
}

# Succeed when the pid file names a live postgres process that serves this cluster,
# so that a stale file or a recycled PID is never mistaken for the server.
is_running() {
  local pid
  pid="$(server_pid 2>/dev/null)" || return 1
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$data"
}

init_cluster() {
  local bin="$1" major
  major="$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
  if [[ -f "$data/PG_VERSION" && "$(cat "$data/PG_VERSION")" != "$major" ]]; then
    log "removing $data: it was initialized by PostgreSQL $(cat "$data/PG_VERSION"), and the server is $major"
    rm -rf "$data"
  fi
  if [[ -f "$data/PG_VERSION" ]]; then
    return
  fi

  log "initializing a PostgreSQL $major cluster in $data"
  rm -rf "$data"
  if ! as_owner "$bin/initdb" --pgdata="$data" --username=postgres --encoding=UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
      >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    fail "initdb failed; its output is above"
  fi
  cat >>"$data/postgresql.conf" <<'EOF'

# Settings for a throwaway test cluster. Durability is off, so a crash can lose or
# corrupt data. The address, port and socket folder are set by postgres.sh at start.
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
}

# Create the role hub, or reset its password and rights if it exists.
ensure_role() {
  local bin="$1"
  as_owner "$bin/psql" --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
    --host="$socket_dir" --port="$port" --username=postgres --dbname=postgres \
    --command="DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hub') THEN CREATE ROLE hub; END IF;
      END \$\$;
      ALTER ROLE hub WITH LOGIN SUPERUSER CREATEDB PASSWORD 'hub';" >&2
  PGPASSWORD=hub PGCONNECT_TIMEOUT=10 "$bin/psql" --no-psqlrc --quiet --tuples-only \
    --command='SELECT 1' "$url" >/dev/null \
    || fail "role hub cannot log in over TCP at 127.0.0.1:$port; see $log_file"
}

start() {
  local bin
  bin="$(find_bin_dir)"
  if [[ -z "$bin" ]]; then
    install_server
    bin="$(find_bin_dir)"
    [[ -n "$bin" ]] || fail "installed the postgresql package, but no /usr/lib/postgresql/*/bin/initdb exists"
  fi

  ensure_os_user
  mkdir -p "$dir" "$socket_dir"
  if is_root; then
    chown "$os_user": "$dir" "$socket_dir"
  fi
  chmod 700 "$dir"

  if is_running; then
    log "already running (pid $(server_pid)) on 127.0.0.1:$port"
  else
    init_cluster "$bin"
    log "starting PostgreSQL on 127.0.0.1:$port (log: $log_file)"
    if ! as_owner "$bin/pg_ctl" --pgdata="$data" --log="$log_file" --wait --timeout=60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$socket_dir" \
        start >&2; then
      tail -n 20 "$log_file" >&2 || true
      fail "PostgreSQL did not start; the last lines of $log_file are above"
    fi
  fi

  ensure_role "$bin"
  echo "$url"
}

stop() {
  if ! is_running; then
    log "not running (no live server in $data/postmaster.pid)"
    return 0
  fi

  local pid
  pid="$(server_pid)"
  log "stopping PostgreSQL (pid $pid)"
  # SIGINT requests a fast shutdown; SIGQUIT an immediate one if that takes too long.
  kill -INT "$pid"
  for _ in $(seq 1 300); do
    [[ -d "/proc/$pid" ]] || return 0
    sleep 0.1
  done
  log "fast shutdown took over 30 s; sending SIGQUIT to pid $pid"
  kill -QUIT "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    [[ -d "/proc/$pid" ]] || return 0
    sleep 0.1
  done
  fail "PostgreSQL (pid $pid) is still running after SIGQUIT"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status)
    if is_running; then
      echo "$url"
    else
      log "not running"
      exit 3
    fi
    ;;
  url) echo "$url" ;;
  *)
    echo "usage: $0 [start|stop|status|url]" >&2
    exit 2
    ;;
esac
