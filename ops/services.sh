#!/usr/bin/env bash
# Make sure the local services AgentOS needs are running on 127.0.0.1:
#
#   postgres  PostgreSQL, port 5432, user `postgres` trusted over local TCP
#   redis     Redis, port 6379, no persistence
#   nats      NATS with JetStream, port 4222
#
# Missing packages are installed with apt-get (Debian). Services are started
# without systemd, so this works in containers and CI runners. Safe to run any
# number of times: a service that is already up is left alone.
#
# Overrides (for services that are provided from outside):
#   AGENTOS_SKIP_SERVICES=1            skip everything ("all" and "true" work too)
#   AGENTOS_SKIP_SERVICES=redis,nats   skip the services named (comma or space separated)
#   AGENTOS_SKIP_POSTGRES=1 / AGENTOS_SKIP_REDIS=1 / AGENTOS_SKIP_NATS=1
#   AGENTOS_SERVICES_TIMEOUT=30        seconds to wait for each service to come up
#
# Prints one line per service on stdout ("postgres: up"); progress goes to stderr.
set -euo pipefail

HOST=127.0.0.1
PG_PORT=5432
PG_CLUSTER=main
REDIS_PORT=6379
NATS_PORT=4222
NATS_STORE_DIR=/var/lib/nats-server
NATS_LOG=/var/log/nats-server.log
NATS_PIDFILE=/run/agentos-nats-server.pid
TIMEOUT="${AGENTOS_SERVICES_TIMEOUT:-30}"

log() { printf '%s\n' "$*" >&2; }
die() {
  printf 'services: error: %s\n' "$*" >&2
  exit 1
}

# Run a command as root: directly when we are root, through sudo when it exists.
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------- overrides

is_true() {
  case "${1,,}" in
    1 | true | yes | on | all) return 0 ;;
    *) return 1 ;;
  esac
}

# skipped NAME: true when the environment says NAME is provided from outside.
skipped() {
  local name="$1" list="${AGENTOS_SKIP_SERVICES:-}" per_service item
  per_service="AGENTOS_SKIP_${name^^}"
  if is_true "$list" || is_true "${!per_service:-}"; then
    return 0
  fi
  for item in ${list//,/ }; do
    [[ "${item,,}" == "$name" ]] && return 0
  done
  return 1
}

# ------------------------------------------------------------- reachability

tcp_open() {
  timeout 2 bash -c ": >/dev/tcp/$1/$2" >/dev/null 2>&1
}

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
  else
    tcp_open "$HOST" "$PG_PORT"
  fi
}

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(timeout 2 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
  else
    tcp_open "$HOST" "$REDIS_PORT"
  fi
}

nats_up() {
  tcp_open "$HOST" "$NATS_PORT"
}

# True when the NATS server answers a JetStream API request ($JS.API.INFO)
# without an error, i.e. it was started with JetStream enabled. Speaks the
# plain-text NATS protocol over a bash TCP socket, so no NATS client is needed.
nats_jetstream_ok() {
  local fd line deadline ok=1
  { exec {fd}<>"/dev/tcp/$HOST/$NATS_PORT"; } 2>/dev/null || return 1
  # shellcheck disable=SC2016 # $JS.API.INFO is a NATS subject, not a variable
  printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.agentos_services 1\r\nPUB $JS.API.INFO _INBOX.agentos_services 0\r\n\r\nPING\r\n' >&"$fd"
  deadline=$((SECONDS + 3))
  while ((SECONDS < deadline)) && read -r -t 3 -u "$fd" line; do
    if [[ "$line" == *account_info_response* ]]; then
      [[ "$line" != *'"error"'* ]] && ok=0
      break
    fi
    [[ "$line" == -ERR* ]] && break
  done
  exec {fd}>&-
  return "$ok"
}

# wait_for NAME CHECK: poll CHECK until it succeeds or TIMEOUT seconds passed.
wait_for() {
  local name="$1" check="$2" start=$SECONDS
  until "$check"; do
    if ((SECONDS - start >= TIMEOUT)); then
      return 1
    fi
    sleep 0.5
  done
  log "$name: came up after $((SECONDS - start))s"
}

# ------------------------------------------------------------------ install

APT_UPDATED=0

apt_install() {
  (($# > 0)) || return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "missing packages ($*) and no apt-get on this machine: install them yourself"
  if ((APT_UPDATED == 0)); then
    log "services: apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "services: apt-get install -y $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_server_installed() {
  command -v pg_ctlcluster >/dev/null 2>&1 &&
    command -v pg_createcluster >/dev/null 2>&1 &&
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# ------------------------------------------------------------------ postgres

# Version of the cluster $PG_CLUSTER listening on $PG_PORT, from /etc/postgresql
# (via pg_lsclusters); empty when there is no such cluster.
pg_cluster_version() {
  compgen -G "/etc/postgresql/*/$PG_CLUSTER/postgresql.conf" >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null |
    awk -v c="$PG_CLUSTER" -v p="$PG_PORT" '$2 == c && $3 == p { print $1 }' |
    sort -V | tail -n 1
}

pg_ctl_cluster() {
  as_root pg_ctlcluster --skip-systemctl-redirect "$1" "$PG_CLUSTER" "$2"
}

pg_start() {
  local version
  version="$(pg_cluster_version)"
  if [[ -z "$version" ]]; then
    if compgen -G "/etc/postgresql/*/$PG_CLUSTER/postgresql.conf" >/dev/null; then
      die "postgres: a cluster named '$PG_CLUSTER' exists but none listens on port $PG_PORT:
$(pg_lsclusters 2>&1)"
    fi
    version="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' |
      awk -F/ '{ print $(NF - 2) }' | sort -V | tail -n 1)"
    [[ -n "$version" ]] || die "postgres: no PostgreSQL server installed under /usr/lib/postgresql"
    log "postgres: creating cluster $version/$PG_CLUSTER on port $PG_PORT"
    as_root pg_createcluster "$version" "$PG_CLUSTER" --port "$PG_PORT" >&2
  fi
  log "postgres: starting cluster $version/$PG_CLUSTER"
  # "already running" (e.g. up but not yet reachable) is not an error here.
  pg_ctl_cluster "$version" start >&2 || log "postgres: pg_ctlcluster start returned $?"
  if ! wait_for postgres pg_up; then
    log "postgres: last lines of /var/log/postgresql/postgresql-$version-$PG_CLUSTER.log:"
    as_root tail -n 20 "/var/log/postgresql/postgresql-$version-$PG_CLUSTER.log" >&2 || true
    die "postgres: not accepting connections on $HOST:$PG_PORT after ${TIMEOUT}s"
  fi
}

# Can user `postgres` connect over TCP without a password?
pg_trusted() {
  env -u PGPASSWORD PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 \
    psql -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -XAtqw -c 'select 1' >/dev/null 2>&1
}

pg_ensure_trust() {
  pg_trusted && return 0
  local version hba tmp
  version="$(pg_cluster_version)"
  [[ -n "$version" ]] ||
    die "postgres: user postgres cannot connect to $HOST:$PG_PORT without a password, and no Debian cluster '$PG_CLUSTER' on that port was found to fix it"
  hba="/etc/postgresql/$version/$PG_CLUSTER/pg_hba.conf"
  if ! as_root grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "postgres: adding trust for 127.0.0.1 and ::1 at the top of $hba"
    tmp="$(mktemp)"
    {
      echo '# Added by ops/services.sh: local TCP connections need no password (development only).'
      echo 'host    all             all             127.0.0.1/32            trust'
      echo 'host    all             all             ::1/128                 trust'
      as_root cat "$hba"
    } >"$tmp"
    # cp onto the existing file keeps its owner and mode.
    as_root cp "$tmp" "$hba"
    rm -f "$tmp"
  fi
  pg_ctl_cluster "$version" reload >&2
  local deadline=$((SECONDS + 10))
  until pg_trusted; do
    ((SECONDS < deadline)) ||
      die "postgres: user postgres still cannot connect to $HOST:$PG_PORT without a password (see $hba)"
    sleep 0.5
  done
}

# The test suite runs many platforms side by side, each with a pool, a relay connection
# and a lock session: the default of 100 connections is too few.
PG_MIN_CONNECTIONS=400

pg_ensure_capacity() {
  local version current
  version="$(pg_cluster_version)"
  [[ -n "$version" ]] && command -v pg_conftool >/dev/null 2>&1 || return 0
  # Read from the configuration, not a connection: a server out of connections is the
  # very case this is for.
  current="$(as_root pg_conftool -s "$version" "$PG_CLUSTER" show max_connections 2>/dev/null || echo 100)"
  ((current >= PG_MIN_CONNECTIONS)) && return 0
  log "postgres: raising max_connections from $current to $PG_MIN_CONNECTIONS (restart)"
  as_root pg_conftool "$version" "$PG_CLUSTER" set max_connections "$PG_MIN_CONNECTIONS" >&2
  pg_ctl_cluster "$version" restart >&2
  wait_for postgres pg_up || die "postgres: not back after the restart"
}

ensure_postgres() {
  if skipped postgres; then
    echo "postgres: skipped (external)"
    return 0
  fi
  if ! pg_up; then
    pg_start
  fi
  pg_ensure_capacity
  pg_ensure_trust
  echo "postgres: up"
}

# --------------------------------------------------------------------- redis

redis_start() {
  log "redis: starting redis-server"
  redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no >&2
  wait_for redis redis_up || die "redis: not answering PING on $HOST:$REDIS_PORT after ${TIMEOUT}s"
}

ensure_redis() {
  if skipped redis; then
    echo "redis: skipped (external)"
    return 0
  fi
  if ! redis_up; then
    redis_start
  fi
  echo "redis: up"
}

# ---------------------------------------------------------------------- nats

nats_start() {
  local bin
  bin="$(command -v nats-server)" || die "nats: nats-server not found"
  log "nats: starting $bin with JetStream (store $NATS_STORE_DIR, log $NATS_LOG)"
  as_root mkdir -p "$NATS_STORE_DIR"
  as_root start-stop-daemon --start --oknodo --background \
    --pidfile "$NATS_PIDFILE" --make-pidfile --exec "$bin" -- \
    -a "$HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE_DIR" -l "$NATS_LOG" >&2
  if ! wait_for nats nats_up; then
    log "nats: last lines of $NATS_LOG:"
    as_root tail -n 20 "$NATS_LOG" >&2 || true
    die "nats: not accepting connections on $HOST:$NATS_PORT after ${TIMEOUT}s"
  fi
}

ensure_nats() {
  if skipped nats; then
    echo "nats: skipped (external)"
    return 0
  fi
  if ! nats_up; then
    nats_start
  fi
  nats_jetstream_ok ||
    die "nats: the server on $HOST:$NATS_PORT does not answer JetStream requests (was it started with -js?)"
  echo "nats: up"
}

# ---------------------------------------------------------------------- main

main() {
  local missing=()
  if ! skipped postgres; then
    if ! pg_up && ! pg_server_installed; then
      missing+=(postgresql)
    elif ! command -v psql >/dev/null 2>&1; then
      missing+=(postgresql-client)
    fi
  fi
  if ! skipped redis && ! redis_up && ! command -v redis-server >/dev/null 2>&1; then
    missing+=(redis-server)
  fi
  if ! skipped nats && ! nats_up && ! command -v nats-server >/dev/null 2>&1; then
    missing+=(nats-server)
  fi
  apt_install "${missing[@]}"

  ensure_postgres
  ensure_redis
  ensure_nats
}

# Run only when executed, not when sourced.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
