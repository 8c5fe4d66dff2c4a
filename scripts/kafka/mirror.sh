#!/usr/bin/env bash
# Turns a MirrorMaker 2 properties file into a running dedicated MirrorMaker 2 (Kafka Connect's
# connect-mirror, from Maven Central: scripts/kafka/mirror/pom.xml, the brokers' Kafka version) and
# stops it again: replication between the test clusters, with consumer group offsets translated.
#
#   mirror.sh start DIR PROPERTIES   fetch the jars into target/services/kafka/mirror-libs when absent,
#                                    start MirrorMaker in the background; pid in DIR/mirror.pid, log
#                                    DIR/mirror.log
#   mirror.sh stop DIR               stop the MirrorMaker of DIR (TERM, then KILL after 10 s)
#
# Needs java (as the brokers do) and mvn for the first fetch.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIBS="$REPO/target/services/kafka/mirror-libs"

die() {
  printf 'mirror.sh: %s\n' "$*" >&2
  exit 1
}

fetch() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: it fetches the MirrorMaker jars (apt-get install -y maven)"
  mkdir -p "$LIBS"
  mvn -q -B -f "$REPO/scripts/kafka/mirror/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIBS" >"$LIBS/mvn.log" 2>&1 || die "mvn could not fetch the MirrorMaker jars; see $LIBS/mvn.log"
  touch "$LIBS/.complete"
}

running() {
  local pid
  pid="$(cat "$1/mirror.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "connect.mirror.MirrorMaker" || return 1
  printf '%s' "$pid"
}

start() {
  local dir properties
  dir="$(realpath -m "$1")" properties="$(realpath "$2")"
  [[ -f "$properties" ]] || die "no properties file $2"
  running "$dir" >/dev/null && die "a MirrorMaker of $dir is running already"
  fetch
  mkdir -p "$dir"
  # setsid: the MirrorMaker outlives the shell that started it; its fds are not the caller's.
  setsid java -Xms64m -Xmx384m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$LIBS/*" \
    org.apache.kafka.connect.mirror.MirrorMaker "$properties" </dev/null >"$dir/mirror.log" 2>&1 &
  printf '%s' "$!" >"$dir/mirror.pid"
}

stop() {
  local dir pid
  dir="$(realpath -m "$1")"
  pid="$(running "$dir")" || return 0
  kill "$pid"
  for _ in $(seq 100); do
    [[ -r "/proc/$pid/cmdline" ]] || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
start) (($# == 3)) || die "usage: mirror.sh start DIR PROPERTIES"; start "$2" "$3" ;;
stop) (($# == 2)) || die "usage: mirror.sh stop DIR"; stop "$2" ;;
*) die "usage: mirror.sh start DIR PROPERTIES | stop DIR" ;;
esac
