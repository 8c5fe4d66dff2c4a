# shellcheck shell=bash
# Turns the opensearch target of scripts/services into a single-node OpenSearch 3 on 127.0.0.1:19200:
# fetches the distribution zip with mvn, unpacks it once, runs it under Java 21+ (OPENSEARCH_JAVA_HOME)
# as a dedicated system user (OpenSearch refuses to run as root), waits for it and stops it.
# Sourced by scripts/services (which defines REPO, SERVICES_DIR, READY_TIMEOUT, say, die, rel, pid_of,
# tcp_open, external_note, exec_detached); not meant to run on its own.

OS_VERSION=3.3.2
OS_ARTIFACT="org.opensearch.distribution.integ-test-zip:opensearch:$OS_VERSION:zip"
OS_PORT=19200
OS_TRANSPORT_PORT=19300
OS_URL_DEFAULT="http://127.0.0.1:$OS_PORT"
OS_USER=carebus-opensearch
OS_MARKER="carebus.service=opensearch "
OS_HOME=""
OS_JAVA=""

os_external() { [[ -n "${CAREBUS_OPENSEARCH_URL:-}" ]]; }

# The JDK OpenSearch runs on: OPENSEARCH_JAVA_HOME, else the Temurin 25 this project's machines
# carry, else JAVA_HOME; it must be Java 21 or newer.
os_find_java() {
  [[ -n "$OS_JAVA" ]] && return 0
  local home="${OPENSEARCH_JAVA_HOME:-}"
  if [[ -z "$home" && -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
    home=/usr/lib/jvm/temurin-25-jdk-amd64
  fi
  home="${home:-${JAVA_HOME:-}}"
  [[ -n "$home" && -x "$home/bin/java" ]] ||
    die "OpenSearch $OS_VERSION needs Java 21 or newer: set OPENSEARCH_JAVA_HOME to a JDK 21+ (e.g. apt-get install -y temurin-25-jdk, or any JDK 21+), or set CAREBUS_OPENSEARCH_URL to an existing OpenSearch"
  local major
  major="$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 21)) ||
    die "OpenSearch $OS_VERSION needs Java 21 or newer, but $home is Java ${major:-unknown}: set OPENSEARCH_JAVA_HOME to a JDK 21+"
  OS_JAVA="$home"
}

# Where OpenSearch lives: target/services/opensearch, or (as root, when the service user cannot
# reach the checkout) a directory under /var/tmp that target/services/opensearch links to.
os_home() {
  [[ -n "$OS_HOME" ]] && return 0
  OS_HOME="$SERVICES_DIR/opensearch"
  mkdir -p "$SERVICES_DIR"
  if ((EUID == 0)) && [[ ! -e "$OS_HOME" ]] && ! runuser -u "$OS_USER" -- test -x "$SERVICES_DIR" 2>/dev/null; then
    local outside
    outside="/var/tmp/carebus-services-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)/opensearch"
    say "the $OS_USER user cannot reach $(rel "$SERVICES_DIR"); keeping OpenSearch in $outside"
    mkdir -p "$outside"
    ln -s "$outside" "$OS_HOME"
  fi
  mkdir -p "$OS_HOME"
  OS_HOME="$(cd "$OS_HOME" && pwd -P)"
}

# The OS user OpenSearch runs as: a system user created once when we are root, ourselves otherwise.
os_user() {
  ((EUID == 0)) || return 0
  if ! id "$OS_USER" >/dev/null 2>&1; then
    say "creating system user $OS_USER (OpenSearch refuses to run as root)"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$OS_USER" ||
      die "could not create the system user $OS_USER (useradd failed)"
  fi
}

as_os() {
  if ((EUID == 0)); then
    (cd / && runuser -u "$OS_USER" -- "$@")
  else
    "$@"
  fi
}

# Fetches the distribution zip (mvn caches it in ~/.m2) and unpacks it once.
opensearch_prepare() {
  os_external && return 0
  os_find_java
  os_user
  os_home
  local dist="$OS_HOME/opensearch-$OS_VERSION"
  if [[ ! -x "$dist/bin/opensearch" ]]; then
    command -v mvn >/dev/null || die "mvn not found: it fetches OpenSearch from Maven Central (apt-get install -y maven)"
    command -v unzip >/dev/null || die "unzip not found: it unpacks the OpenSearch zip (apt-get install -y unzip)"
    say "fetching OpenSearch $OS_VERSION with mvn into $(rel "$SERVICES_DIR/opensearch") (cached in ~/.m2 after the first run)"
    if ! mvn -q -B dependency:copy -Dartifact="$OS_ARTIFACT" -DoutputDirectory="$OS_HOME" \
      >"$OS_HOME/mvn.log" 2>&1; then
      die "mvn could not fetch $OS_ARTIFACT; see $(rel "$SERVICES_DIR/opensearch/mvn.log")"
    fi
    rm -rf "$dist.partial"
    mkdir -p "$dist.partial"
    unzip -q "$OS_HOME/opensearch-$OS_VERSION.zip" -d "$dist.partial" ||
      die "could not unpack $(rel "$SERVICES_DIR/opensearch/opensearch-$OS_VERSION.zip")"
    mv "$dist.partial/opensearch-$OS_VERSION" "$dist"
    rm -rf "$dist.partial" "$OS_HOME/opensearch-$OS_VERSION.zip"
  fi
  mkdir -p "$OS_HOME/data" "$OS_HOME/logs" "$OS_HOME/config"
  if [[ ! -f "$OS_HOME/config/log4j2.properties" ]]; then
    cp -r "$dist/config/." "$OS_HOME/config/"
  fi
  # The shipped jvm.options writes GC logs, heap dumps and crash files relative to the working
  # directory; point them under OS_HOME.
  sed -e "s#file=logs/#file=$OS_HOME/logs/#; s#HeapDumpPath=data#HeapDumpPath=$OS_HOME/data#; s#ErrorFile=logs/#ErrorFile=$OS_HOME/logs/#" \
    "$dist/config/jvm.options" >"$OS_HOME/config/jvm.options"
  if ((EUID == 0)); then chown -R "$OS_USER:" "$OS_HOME/data" "$OS_HOME/logs" "$OS_HOME/config"; fi
}

os_write_config() {
  cat >"$OS_HOME/config/opensearch.yml" <<YML
# Written by scripts/services on every start; edits here are overwritten.
cluster.name: carebus-test
node.name: carebus-opensearch
path.data: $OS_HOME/data
path.logs: $OS_HOME/logs
network.host: 127.0.0.1
http.port: $OS_PORT
transport.port: $OS_TRANSPORT_PORT
discovery.type: single-node
# The tests fill the disk of a small machine; keep writing until it is really full.
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: true
YML
  if ((EUID == 0)); then chown "$OS_USER:" "$OS_HOME/config/opensearch.yml"; fi
}

os_pidfile() { printf '%s' "$OS_HOME/logs/opensearch.pid"; }

opensearch_start() {
  if os_external; then
    external_note "opensearch" "$(os_authority "$CAREBUS_OPENSEARCH_URL")"
    return 0
  fi
  os_home
  local pid
  if pid="$(pid_of "$OS_MARKER" "$(os_pidfile)")"; then
    say "opensearch already running (pid $pid) on $OS_URL_DEFAULT"
    return 0
  fi
  local port
  for port in "$OS_PORT" "$OS_TRANSPORT_PORT"; do
    tcp_open 127.0.0.1 "$port" &&
      die "port 127.0.0.1:$port needed by OpenSearch is taken by another process (see: ss -ltnp)"
  done
  os_write_config
  printf '=== %s starting opensearch\n' "$(date -u +%FT%TZ)" >>"$OS_HOME/logs/stdout.log"
  if ((EUID == 0)); then chown "$OS_USER:" "$OS_HOME/logs/stdout.log"; fi
  local cmd=(env OPENSEARCH_JAVA_HOME="$OS_JAVA" OPENSEARCH_PATH_CONF="$OS_HOME/config"
    OPENSEARCH_JAVA_OPTS="${CAREBUS_OPENSEARCH_HEAP:--Xms512m -Xmx512m} -D${OS_MARKER% }"
    "$OS_HOME/opensearch-$OS_VERSION/bin/opensearch" -p "$(os_pidfile)")
  if ((EUID == 0)); then cmd=(runuser -u "$OS_USER" -- "${cmd[@]}"); fi
  # OpenSearch writes its own pid (the JVM's) into the pid file once it runs.
  rm -f "$(os_pidfile)"
  (cd / && exec_detached "${cmd[@]}" >>"$OS_HOME/logs/stdout.log" 2>&1 </dev/null) &
  say "opensearch starting on $OS_URL_DEFAULT; log $(rel "$SERVICES_DIR/opensearch/logs/carebus-test.log")"
}

# host:port of a URL, for the reachability note.
os_authority() {
  local rest="${1#*://}"
  rest="${rest%%/*}"
  printf '%s' "${rest##*@}"
}

opensearch_wait() {
  os_external && return 0
  os_home
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS "$OS_URL_DEFAULT/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; do
    if ! pgrep -f -- "-D${OS_MARKER% }" >/dev/null; then
      die "OpenSearch exited while starting; see $(rel "$SERVICES_DIR/opensearch/logs/stdout.log") and logs/carebus-test.log there"
    fi
    ((SECONDS < deadline)) ||
      die "OpenSearch did not answer on $OS_URL_DEFAULT within ${READY_TIMEOUT}s; see $(rel "$SERVICES_DIR/opensearch/logs/carebus-test.log")"
    sleep 1
  done
  say "opensearch ready at $OS_URL_DEFAULT"
}

# opensearch_stop [down]: stops our OpenSearch (SIGTERM, then SIGKILL after 60 s).
opensearch_stop() {
  if os_external; then
    [[ "${1:-}" == down ]] && say "opensearch: CAREBUS_OPENSEARCH_URL is set; nothing to stop" && return 0
    die "CAREBUS_OPENSEARCH_URL is set: that OpenSearch is not started by scripts/services, so it cannot stop it"
  fi
  os_home
  local pid
  if ! pid="$(pid_of "$OS_MARKER" "$(os_pidfile)")"; then
    say "opensearch is not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "opensearch did not stop within 60s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
    fi
    sleep 0.3
  done
  rm -f "$(os_pidfile)"
  say "opensearch stopped"
}

opensearch_status() {
  if os_external; then
    printf '%-9s external (CAREBUS_OPENSEARCH_URL) %s\n' opensearch "$(os_authority "$CAREBUS_OPENSEARCH_URL")"
    return 0
  fi
  os_home
  local pid state
  if pid="$(pid_of "$OS_MARKER" "$(os_pidfile)")"; then
    if tcp_open 127.0.0.1 "$OS_PORT"; then state="running (pid $pid)"; else state="starting (pid $pid)"; fi
  else
    state="stopped"
  fi
  printf '%-9s %-15s %-20s 127.0.0.1:%-6s log %s\n' opensearch "single node" "$state" "$OS_PORT" \
    "$(rel "$SERVICES_DIR/opensearch/logs/carebus-test.log")"
}

# Deletes the data kept outside the checkout (when target/services/opensearch links there).
opensearch_clean() {
  local link="$SERVICES_DIR/opensearch"
  if [[ -L "$link" ]]; then
    local outside
    outside="$(readlink -f "$link")"
    say "deleting $outside"
    rm -rf "$outside"
  fi
}
