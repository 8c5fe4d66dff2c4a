# shellcheck shell=bash
# Turns the postgres target of scripts/services into a private PostgreSQL cluster on 127.0.0.1:15432
# with role carebus and database carebus_test: installs the server from Debian when absent, initdb's
# once under target/services/postgres, turns TLS on with a certificate from scripts/pki (clients can
# connect with sslmode=verify-full and sslrootcert=target/services/pki/ca.crt; passwords are SCRAM),
# starts, stops and reports it. Never touches the system cluster.
# Sourced by scripts/services (which defines REPO, SERVICES_DIR, READY_TIMEOUT, say, die, rel, tcp_open,
# external_note); not meant to run on its own.

PG_PORT=15432
PG_HOME="$SERVICES_DIR/postgres"
PG_DB_URL_DEFAULT="postgres://carebus:carebus@127.0.0.1:$PG_PORT/carebus_test"
PG_BIN=""

# Runs a command as the OS user owning the cluster: `postgres` when we are root (the server refuses to
# run as root), ourselves otherwise.
as_pg() {
  if ((EUID == 0)); then
    # From /, which the postgres user can enter whatever our working directory is.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Finds the newest installed server binaries, installing Debian's postgresql package when there are none.
pg_find_bin() {
  [[ -n "$PG_BIN" ]] && return 0
  PG_BIN="$(find_pg_bin_dir)"
  if [[ -z "$PG_BIN" ]]; then
    ((EUID == 0)) ||
      die "PostgreSQL server binaries not found under /usr/lib/postgresql; install them (sudo apt-get install -y postgresql) or set CAREBUS_DATABASE_URL"
    mkdir -p "$SERVICES_DIR"
    say "installing PostgreSQL from Debian's packages (log $(rel "$SERVICES_DIR/apt.log"))"
    {
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
    } >"$SERVICES_DIR/apt.log" 2>&1 ||
      die "apt-get could not install postgresql; see $(rel "$SERVICES_DIR/apt.log")"
    PG_BIN="$(find_pg_bin_dir)"
    [[ -n "$PG_BIN" ]] || die "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
  fi
}

find_pg_bin_dir() {
  local d
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [[ -n "$d" && -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && printf '%s' "$d"
  return 0
}

# Chooses where the cluster lives. As root the `postgres` user must be able to reach it; when the
# checkout's path is closed to other users, the data goes to /var/tmp and target/services/postgres
# becomes a link to it.
pg_home() {
  mkdir -p "$SERVICES_DIR"
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "OS user 'postgres' is missing; reinstall the postgresql package"
    if [[ ! -e "$PG_HOME" ]] && ! runuser -u postgres -- test -x "$SERVICES_DIR"; then
      local outside
      outside="/var/tmp/carebus-services-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)/postgres"
      say "the postgres user cannot reach $(rel "$SERVICES_DIR"); keeping PostgreSQL data in $outside"
      mkdir -p "$outside"
      chmod 755 "$(dirname "$outside")"
      ln -sfn "$outside" "$PG_HOME"
    fi
    mkdir -p "$PG_HOME"
    chown postgres:postgres "$PG_HOME"
    [[ -L "$PG_HOME" ]] && chown postgres:postgres "$(readlink -f "$PG_HOME")"
  else
    mkdir -p "$PG_HOME"
  fi
  # Real paths: the postgres user may not be able to pass through target/ to follow the link.
  local real
  real="$(readlink -f "$PG_HOME")"
  PG_DATA="$real/data"
  PG_RUN="$real/run"
  PG_LOG="$real/postgres.log"
}

pg_init() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  say "initdb of a private PostgreSQL cluster in $(rel "$PG_DATA")"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$PG_HOME/initdb.log" 2>&1 ||
    die "initdb failed; see $(rel "$PG_HOME/initdb.log")"
  # Later settings win over initdb's defaults. The unix socket lives in a directory only the owner
  # can enter, which is what makes `trust` for local connections safe.
  as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF

# --- carebus test services (scripts/services) ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 128MB
EOF
}

# TLS with the test CA's PostgreSQL certificate (SAN 127.0.0.1, localhost): the key and certificate are
# copied into the data directory (the server wants its key private to its OS user), and an included
# file turns ssl on. A running server takes it on reload.
pg_tls() {
  pki_ensure
  as_pg install -m 600 /dev/null "$PG_DATA/carebus-server.key"
  as_pg tee "$PG_DATA/carebus-server.key" >/dev/null <"$PKI_HOME/postgres.key"
  as_pg tee "$PG_DATA/carebus-server.crt" >/dev/null <"$PKI_HOME/postgres.crt"
  as_pg tee "$PG_DATA/carebus-tls.conf" >/dev/null <<EOF
# Written by scripts/services on every start; edits here are overwritten.
ssl = on
ssl_cert_file = 'carebus-server.crt'
ssl_key_file = 'carebus-server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
EOF
  if ! grep -q "^include_if_exists = 'carebus-tls.conf'" "$PG_DATA/postgresql.conf"; then
    printf "\ninclude_if_exists = 'carebus-tls.conf'\n" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi
}

pg_running() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

# psql as the cluster's superuser over the private socket.
pg_admin_sql() {
  as_pg "$PG_BIN/psql" -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA
}

pg_create_role_and_db() {
  pg_admin_sql >/dev/null <<'EOF' || die "could not create roles carebus, carebus_tenant / database carebus_test; see $(rel "$PG_LOG")"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carebus') THEN
    CREATE ROLE carebus LOGIN SUPERUSER PASSWORD 'carebus';
  END IF;
  -- The administrator's one-time setup of runtime/postgres/sql/roles.sql that the store's
  -- migrations need: the group role row-level security applies to.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carebus_tenant') THEN
    CREATE ROLE carebus_tenant NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END $$;
SELECT 'CREATE DATABASE carebus_test OWNER carebus'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'carebus_test') \gexec
EOF
}

postgres_up() {
  if [[ -n "${CAREBUS_DATABASE_URL:-}" ]]; then
    local authority="${CAREBUS_DATABASE_URL#*://}"
    authority="${authority#*@}"
    authority="${authority%%/*}"
    [[ "$authority" == *:* ]] || authority="$authority:5432"
    external_note "postgres" "$authority"
    return 0
  fi
  pg_find_bin
  pg_home
  pg_init
  pg_tls
  as_pg mkdir -p -m 700 "$PG_RUN"
  if pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null || die "PostgreSQL did not reload its TLS settings; see $(rel "$PG_LOG")"
    say "postgres already running on 127.0.0.1:$PG_PORT"
  else
    tcp_open 127.0.0.1 "$PG_PORT" &&
      die "port 127.0.0.1:$PG_PORT is taken by another process (see: ss -ltnp); stop it or set CAREBUS_DATABASE_URL"
    say "postgres starting on 127.0.0.1:$PG_PORT; log $(rel "$PG_LOG")"
    # The server outlives this script: start it without the caller's open file descriptors.
    (
      close_inherited_fds
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$READY_TIMEOUT" start >/dev/null </dev/null
    ) ||
      die "PostgreSQL did not start within ${READY_TIMEOUT}s; see $(rel "$PG_LOG")"
  fi
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
    ((SECONDS < deadline)) || die "PostgreSQL on 127.0.0.1:$PG_PORT not ready within ${READY_TIMEOUT}s; see $(rel "$PG_LOG")"
    sleep 0.5
  done
  pg_create_role_and_db
  PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" "$PG_DB_URL_DEFAULT" -qtAc 'SELECT 1' >/dev/null ||
    die "PostgreSQL runs but $PG_DB_URL_DEFAULT does not log in; see $(rel "$PG_LOG")"
  say "postgres ready at $PG_DB_URL_DEFAULT"
}

postgres_down() {
  if [[ -n "${CAREBUS_DATABASE_URL:-}" ]]; then
    say "postgres: CAREBUS_DATABASE_URL is set; nothing to stop"
    return 0
  fi
  PG_BIN="$(find_pg_bin_dir)"
  if [[ -z "$PG_BIN" || ! -f "$PG_HOME/data/PG_VERSION" ]]; then
    say "postgres is not set up"
    return 0
  fi
  pg_home
  if pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null ||
      die "PostgreSQL did not stop; see $(rel "$PG_LOG")"
    say "postgres stopped"
  else
    say "postgres is not running"
  fi
}

# Stops the server in immediate mode (every backend killed, no shutdown checkpoint: what a crash
# or a lost host looks like to clients; recovery replays the WAL) and starts it again.
postgres_crash_restart() {
  [[ -z "${CAREBUS_DATABASE_URL:-}" ]] || die "CAREBUS_DATABASE_URL is set: refusing to crash an external PostgreSQL"
  PG_BIN="$(find_pg_bin_dir)"
  [[ -n "$PG_BIN" && -f "$PG_HOME/data/PG_VERSION" ]] || die "postgres is not set up; run scripts/services up postgres"
  pg_home
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 60 stop >/dev/null ||
    die "PostgreSQL did not stop; see $(rel "$PG_LOG")"
  say "postgres stopped in immediate mode"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$READY_TIMEOUT" start >/dev/null </dev/null ||
    die "PostgreSQL did not start again within ${READY_TIMEOUT}s; see $(rel "$PG_LOG")"
  say "postgres running again"
}

postgres_status() {
  if [[ -n "${CAREBUS_DATABASE_URL:-}" ]]; then
    printf '%-9s external (CAREBUS_DATABASE_URL)\n' postgres
    return 0
  fi
  local state="stopped" pid
  PG_BIN="$(find_pg_bin_dir)"
  if [[ -n "$PG_BIN" && -f "$PG_HOME/data/PG_VERSION" ]]; then
    pg_home
    if pg_running; then
      pid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
      state="running (pid $pid)"
    fi
  elif [[ -z "$PG_BIN" ]]; then
    state="not installed"
  fi
  printf '%-9s %-15s %-20s 127.0.0.1:%-6s log %s  (%s)\n' postgres "carebus_test" "$state" "$PG_PORT" \
    "$(rel "$PG_HOME/postgres.log")" "$PG_DB_URL_DEFAULT"
}

# Deletes the cluster's data, including a copy kept outside target/ (see pg_home).
postgres_clean() {
  if [[ -L "$PG_HOME" ]]; then
    local outside
    outside="$(readlink -f "$PG_HOME")"
    [[ "$outside" == /var/tmp/carebus-services-*/postgres ]] && rm -rf "$(dirname "$outside")"
  fi
  return 0
}
