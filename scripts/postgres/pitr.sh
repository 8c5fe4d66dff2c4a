#!/usr/bin/env bash
# Turns a PostgreSQL base backup and a WAL archive into a server restored to a point in time (and, for
# tests and rehearsals, creates a throwaway archiving primary to back up): the steps of the restore
# runbook in docs/operations.md, one subcommand each.
#
#   pitr.sh primary DIR PORT            initdb DIR/data (trust on 127.0.0.1 only, no unix socket),
#                                       wal_level=replica, archive_mode=on, archive_command copying
#                                       into DIR/archive; start it on 127.0.0.1:PORT
#   pitr.sh basebackup CONNINFO BACKUP  pg_basebackup (plain format, WAL streamed, fast checkpoint)
#   pitr.sh flush CONNINFO              switch to a new WAL segment and wait until the archiver has
#                                       archived it (so the archive holds everything written so far)
#   pitr.sh restore BACKUP ARCHIVE DATA PORT (--lsn LSN | --time TIMESTAMPTZ | --name RESTORE_POINT)
#                                       copy BACKUP into DATA, recover from ARCHIVE up to the target
#                                       (inclusive), promote, start on 127.0.0.1:PORT; returns once the
#                                       server accepts writes (recovery finished)
#   pitr.sh stop DATA                   stop the server of DATA (fast shutdown); no error when stopped
#
# CONNINFO is a libpq connection string or URL (postgres://user@127.0.0.1:PORT/postgres); passwords
# come from PGPASSWORD or ~/.pgpass, never the command line. As root, the server runs as the OS user
# `postgres` (it refuses root) and the directories are handed to it. Server binaries: the newest
# /usr/lib/postgresql/*/bin, or PG_BIN. Bounded waits: PITR_TIMEOUT seconds (default 60).
set -euo pipefail

PITR_TIMEOUT="${PITR_TIMEOUT:-60}"

die() {
  printf 'pitr.sh: %s\n' "$*" >&2
  exit 1
}

pg_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    printf '%s' "$PG_BIN"
    return
  fi
  local d
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [[ -x "$d/pg_ctl" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install postgresql or set PG_BIN"
  printf '%s' "$d"
}
BIN="$(pg_bin)"

# Runs a command as the OS user owning the cluster: `postgres` when we are root.
as_pg() {
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Hands a directory to the server's OS user when we are root.
give() {
  mkdir -p "$1"
  if ((EUID == 0)); then chown -R postgres:postgres "$1"; fi
}

# SQL as a single value.
sql() {
  local conninfo="$1" query="$2"
  "$BIN/psql" "$conninfo" -v ON_ERROR_STOP=1 -qtAc "$query"
}

cmd_primary() {
  local dir port
  dir="$(realpath -m "$1")" port="$2"
  [[ ! -e "$dir/data/PG_VERSION" ]] || die "$dir/data already holds a cluster; choose an empty directory"
  give "$dir"
  give "$dir/archive"
  as_pg "$BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale --no-sync --auth=trust >"$dir/initdb.log" 2>&1 ||
    die "initdb failed; see $dir/initdb.log"
  as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# --- scripts/postgres/pitr.sh primary: a throwaway archiving server ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $dir/archive/%f && cp %p $dir/archive/%f'
archive_timeout = 0
max_wal_senders = 4
shared_buffers = 16MB
fsync = off
EOF
  start "$dir/data" "$dir/server.log"
}

start() {
  local data="$1" log="$2"
  touch "$log"
  if ((EUID == 0)); then chown postgres:postgres "$log"; fi
  as_pg "$BIN/pg_ctl" -D "$data" -l "$log" -w -t "$PITR_TIMEOUT" start >/dev/null ||
    die "the server of $data did not start; see $log"
}

cmd_basebackup() {
  local conninfo="$1" backup
  backup="$(realpath -m "$2")"
  [[ ! -e "$backup" ]] || [[ -z "$(ls -A "$backup")" ]] || die "$backup is not empty; choose a new directory"
  give "$backup"
  as_pg "$BIN/pg_basebackup" -d "$conninfo" -D "$backup" -Fp -X stream -c fast --no-password ||
    die "pg_basebackup from the server failed (is it running, does the role have REPLICATION?)"
}

cmd_flush() {
  local conninfo="$1" segment waited=0
  segment="$(sql "$conninfo" "SELECT pg_walfile_name(pg_switch_wal())")"
  until [[ "$(sql "$conninfo" "SELECT coalesce(last_archived_wal >= '$segment', false) FROM pg_stat_archiver")" == t ]]; do
    ((waited < PITR_TIMEOUT * 10)) || die "WAL segment $segment not archived within ${PITR_TIMEOUT}s; check archive_command and the server log"
    sleep 0.1
    waited=$((waited + 1))
  done
}

cmd_restore() {
  local backup archive data port kind target
  backup="$(realpath -m "$1")" archive="$(realpath -m "$2")" data="$(realpath -m "$3")" port="$4"
  kind="${5:-}" target="${6:-}"
  case "$kind" in
  --lsn) kind=recovery_target_lsn ;;
  --time) kind=recovery_target_time ;;
  --name) kind=recovery_target_name ;;
  *) die "restore needs a target: --lsn LSN, --time TIMESTAMPTZ or --name RESTORE_POINT" ;;
  esac
  [[ -n "$target" ]] || die "restore: the target after $5 is empty"
  [[ -f "$backup/PG_VERSION" ]] || die "$backup is not a plain-format base backup (no PG_VERSION)"
  [[ -d "$archive" ]] || die "WAL archive $archive does not exist"
  [[ ! -e "$data" ]] || die "$data exists; restore into a fresh directory"
  cp -a "$backup" "$data"
  rm -f "$data/postmaster.pid"
  chmod 700 "$data"
  give "$data"
  # postgresql.auto.conf is read last: these settings win over the copied configuration.
  as_pg tee -a "$data/postgresql.auto.conf" >/dev/null <<EOF
# --- scripts/postgres/pitr.sh restore ---
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
archive_mode = off
restore_command = 'cp $archive/%f %p'
$kind = '$target'
recovery_target_inclusive = on
recovery_target_action = 'promote'
EOF
  as_pg touch "$data/recovery.signal"
  start "$data" "$data.log"
  local conninfo="postgres://postgres@127.0.0.1:$port/postgres" waited=0
  until [[ "$(sql "$conninfo" "SELECT NOT pg_is_in_recovery()" 2>/dev/null || true)" == t ]]; do
    ((waited < PITR_TIMEOUT * 10)) || die "recovery of $data did not finish within ${PITR_TIMEOUT}s (target not reached?); see $data.log"
    sleep 0.1
    waited=$((waited + 1))
  done
}

cmd_stop() {
  local data
  data="$(realpath -m "$1")"
  [[ -f "$data/postmaster.pid" ]] || return 0
  as_pg "$BIN/pg_ctl" -D "$data" -m fast -w -t "$PITR_TIMEOUT" stop >/dev/null ||
    die "the server of $data did not stop"
}

case "${1:-}" in
primary) (($# == 3)) || die "usage: pitr.sh primary DIR PORT"; cmd_primary "$2" "$3" ;;
basebackup) (($# == 3)) || die "usage: pitr.sh basebackup CONNINFO BACKUP_DIR"; cmd_basebackup "$2" "$3" ;;
flush) (($# == 2)) || die "usage: pitr.sh flush CONNINFO"; cmd_flush "$2" ;;
restore) (($# == 7)) || die "usage: pitr.sh restore BACKUP ARCHIVE DATA PORT --lsn|--time|--name TARGET"; cmd_restore "$2" "$3" "$4" "$5" "$6" "$7" ;;
stop) (($# == 2)) || die "usage: pitr.sh stop DATA_DIR"; cmd_stop "$2" ;;
*) die "usage: pitr.sh primary|basebackup|flush|restore|stop ... (see the comment at the top of this script)" ;;
esac
