# shellcheck shell=bash
# Turns the kafka/cluster/secure targets of scripts/services into running KRaft brokers: fetches the jars
# with mvn, writes each node's server.properties, formats its storage once, starts and waits for it.
# The secure broker speaks SASL_SSL (SCRAM-SHA-512 over TLS from scripts/pki) with the StandardAuthorizer
# denying what no ACL allows, and writes its authorizer decisions to logs/kafka-authorizer.log.
# Every broker runs the Prometheus JMX exporter java agent (fetched with mvn, rules in
# scripts/kafka/jmx-exporter.yml) on its own metrics port: its client port + 300.
# Sourced by scripts/services (which defines REPO, SERVICES_DIR, READY_TIMEOUT, say, die, rel, pid_of,
# tcp_open, external_note, and sources scripts/pki/pki.sh); not meant to run on its own.

KAFKA_HOME="$SERVICES_DIR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_PROBE="$KAFKA_HOME/probe"
KAFKA_SCRIPTS="$REPO/scripts/kafka"
KAFKA_CLUSTER_VOTERS="1@127.0.0.1:29192,2@127.0.0.1:29193,3@127.0.0.1:29194"
KAFKA_CLUSTER_DEFAULT="127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
KAFKA_SINGLE_DEFAULT="127.0.0.1:19092"
KAFKA_SECURE_DEFAULT="127.0.0.1:39092"
KAFKA_SECURE_HOME="$KAFKA_HOME/secure"
# Who gets a SCRAM credential on the secure broker: the admin (super user) and every service of the
# manifest. Passwords are random, made before the storage is formatted, one per file (mode 600).
KAFKA_SECURE_CREDENTIALS="$KAFKA_SECURE_HOME/credentials"
KAFKA_PREPARED=""
# The Prometheus JMX exporter java agent each broker loads (0.20.0 resolves from Maven Central here).
KAFKA_JMX_VERSION=0.20.0
KAFKA_JMX_ARTIFACT="io.prometheus.jmx:jmx_prometheus_javaagent:$KAFKA_JMX_VERSION"
KAFKA_JMX_HOME="$KAFKA_HOME/jmx-exporter"
KAFKA_JMX_JAR="$KAFKA_JMX_HOME/jmx_prometheus_javaagent-$KAFKA_JMX_VERSION.jar"
# A broker's metrics port is its client port plus this.
KAFKA_METRICS_PORT_OFFSET=300

# Fetches the JMX exporter agent jar once (mvn caches it in ~/.m2). It sits apart from the broker
# jars: fetching it never replaces the libs running brokers use.
kafka_jmx_prepare() {
  [[ -f "$KAFKA_JMX_JAR" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: it fetches the JMX exporter agent from Maven Central (apt-get install -y maven)"
  mkdir -p "$KAFKA_JMX_HOME"
  say "fetching the Prometheus JMX exporter agent $KAFKA_JMX_VERSION with mvn into $(rel "$KAFKA_JMX_HOME")"
  if ! mvn -q -B dependency:copy -Dartifact="$KAFKA_JMX_ARTIFACT" -DoutputDirectory="$KAFKA_JMX_HOME" \
    >"$KAFKA_JMX_HOME/mvn.log" 2>&1; then
    die "mvn could not fetch $KAFKA_JMX_ARTIFACT; see $(rel "$KAFKA_JMX_HOME/mvn.log")"
  fi
}

# Fetches the broker jars (once per pom.xml content; mvn caches them in ~/.m2) and compiles the probe.
kafka_prepare() {
  [[ -n "$KAFKA_PREPARED" ]] && return 0
  command -v java >/dev/null || die "java not found: Kafka 4 needs Java 17 or newer on PATH"
  local stamp
  stamp="$(sha256sum "$KAFKA_SCRIPTS/pom.xml" | cut -d' ' -f1)"
  if [[ "$(cat "$KAFKA_LIBS/.pom.sha256" 2>/dev/null)" != "$stamp" ]]; then
    command -v mvn >/dev/null || die "mvn not found: it fetches the Kafka jars from Maven Central (apt-get install -y maven)"
    say "fetching Kafka jars with mvn into $(rel "$KAFKA_LIBS") (cached in ~/.m2 after the first run)"
    rm -rf "$KAFKA_LIBS" "$KAFKA_PROBE"
    mkdir -p "$KAFKA_HOME"
    if ! mvn -q -B -f "$KAFKA_SCRIPTS/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$KAFKA_HOME/mvn.log" 2>&1; then
      die "mvn could not fetch the Kafka jars; see $(rel "$KAFKA_HOME/mvn.log")"
    fi
    printf '%s\n' "$stamp" >"$KAFKA_LIBS/.pom.sha256"
  fi
  if [[ ! -f "$KAFKA_PROBE/BrokerReady.class" || "$KAFKA_SCRIPTS/BrokerReady.java" -nt "$KAFKA_PROBE/BrokerReady.class" ]]; then
    mkdir -p "$KAFKA_PROBE"
    javac -nowarn -cp "$KAFKA_LIBS/*" -d "$KAFKA_PROBE" "$KAFKA_SCRIPTS/BrokerReady.java" ||
      die "could not compile scripts/kafka/BrokerReady.java (needs a JDK 17+ javac)"
  fi
  kafka_jmx_prepare
  KAFKA_PREPARED=1
}

# node_params NAME: sets N_* for node NAME ("single" or "node1".."node3").
node_params() {
  case "$1" in
    single)
      N_ID=1 N_PORT=19092 N_CPORT=19093 N_VOTERS="1@127.0.0.1:19093" N_RF=1 N_MINISR=1
      N_DIR="$KAFKA_HOME/single" N_ID_FILE="$KAFKA_HOME/single/cluster.id" N_LABEL="single broker"
      ;;
    node[123])
      N_ID="${1#node}"
      N_PORT=$((29091 + N_ID)) N_CPORT=$((29191 + N_ID)) N_VOTERS="$KAFKA_CLUSTER_VOTERS" N_RF=3 N_MINISR=2
      N_DIR="$KAFKA_HOME/cluster/$1" N_ID_FILE="$KAFKA_HOME/cluster/cluster.id" N_LABEL="cluster node $N_ID"
      ;;
    secure)
      N_ID=1 N_PORT=39092 N_CPORT=39093 N_VOTERS="1@127.0.0.1:39093" N_RF=1 N_MINISR=1
      N_DIR="$KAFKA_SECURE_HOME" N_ID_FILE="$KAFKA_SECURE_HOME/cluster.id" N_LABEL="secure broker"
      ;;
    *) die "internal: unknown Kafka node '$1'" ;;
  esac
  N_METRICS_PORT=$((N_PORT + KAFKA_METRICS_PORT_OFFSET))
  N_MARKER="carebus.service=kafka-$1 "
  N_PIDFILE="$N_DIR/kafka.pid"
  N_LOG="$N_DIR/logs/server.log"
}

# The listeners of the node: PLAINTEXT, or for the secure broker SASL_SSL for clients and brokers
# (SCRAM-SHA-512) and mutual TLS for the controller, with every operation authorized by ACLs.
node_listeners() {
  if [[ "$N_DIR" != "$KAFKA_SECURE_HOME" ]]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$N_PORT,CONTROLLER://127.0.0.1:$N_CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$N_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return 0
  fi
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$N_PORT,CONTROLLER://127.0.0.1:$N_CPORT
advertised.listeners=SASL_SSL://127.0.0.1:$N_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$KAFKA_SECURE_CREDENTIALS/admin.password")";
ssl.keystore.type=PEM
ssl.keystore.location=$PKI_HOME/kafka-broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_HOME/ca.crt
ssl.endpoint.identification.algorithm=https
# The controller listener takes only the broker's own certificate (KRaft controllers do not take SCRAM).
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:CN=carebus-kafka-broker
EOF
}

# The user names of the secure broker's SCRAM credentials: admin, then each service of the manifest.
secure_users() {
  printf 'admin\n'
  sed -n 's/^name *= *"\([A-Za-z0-9._-]*\)".*/\1/p' "$REPO/schemas/services.toml"
}

# Makes a random password for each user that has none yet (the broker's admin needs its own in
# server.properties before the storage is formatted).
secure_credentials() {
  mkdir -p "$KAFKA_SECURE_CREDENTIALS"
  chmod 700 "$KAFKA_SECURE_CREDENTIALS"
  local user file
  for user in $(secure_users); do
    file="$KAFKA_SECURE_CREDENTIALS/$user.password"
    if [[ ! -s "$file" ]]; then
      (umask 077 && head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$file")
    fi
  done
}

# The storage tool's --add-scram arguments, one per line, for every user's credential.
secure_scram_args() {
  local user
  for user in $(secure_users); do
    printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' "$user" "$(cat "$KAFKA_SECURE_CREDENTIALS/$user.password")"
  done
}

node_write_config() {
  if [[ "$N_DIR" == "$KAFKA_SECURE_HOME" ]]; then
    pki_ensure
    secure_credentials
  fi
  cat >"$N_DIR/server.properties" <<EOF
# Written by scripts/services on every start; edits here are overwritten.
process.roles=broker,controller
node.id=$N_ID
controller.quorum.voters=$N_VOTERS
$(node_listeners)
log.dirs=$N_DIR/data
num.partitions=1
default.replication.factor=$N_RF
min.insync.replicas=$N_MINISR
offsets.topic.replication.factor=$N_RF
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$N_RF
transaction.state.log.min.isr=$N_MINISR
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$N_RF
share.coordinator.state.topic.min.isr=$N_MINISR
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.retention.hours=24
# Topics exist only when declared (carebus-topics apply, or a test creating its own): a missing
# declaration fails instead of creating a topic with broker defaults.
auto.create.topics.enable=false
EOF
}

# Formats the node's storage once, with the cluster id shared by every node of its shape.
node_format() {
  [[ -f "$N_DIR/data/meta.properties" ]] && return 0
  if [[ ! -s "$N_ID_FILE" || "$(head -c 1 "$N_ID_FILE")" == "-" ]]; then
    # A Kafka cluster id is 16 random bytes in URL-safe base64 without padding. Like Kafka's
    # own Uuid.randomUuid, never one that starts with '-': the storage tool's argument parser
    # would take it for an option (one fresh machine in 64 failed to format).
    local id="-"
    while [[ "$id" == -* ]]; do
      id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    printf '%s' "$id" >"$N_ID_FILE"
  fi
  local scram=()
  if [[ "$N_DIR" == "$KAFKA_SECURE_HOME" ]]; then
    mapfile -t scram < <(secure_scram_args)
  fi
  if ! java -cp "$KAFKA_LIBS/*" -Dkafka.logs.dir="$N_DIR/logs" \
    -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.xml" \
    kafka.tools.StorageTool format --cluster-id="$(cat "$N_ID_FILE")" -c "$N_DIR/server.properties" \
    "${scram[@]}" >"$N_DIR/logs/format.log" 2>&1; then
    die "formatting Kafka storage of the $N_LABEL failed; see $(rel "$N_DIR/logs/format.log")"
  fi
}

# kafka_node_start NAME: starts the node unless it runs already; does not wait.
kafka_node_start() {
  node_params "$1"
  local pid
  if pid="$(pid_of "$N_MARKER" "$N_PIDFILE")"; then
    say "kafka $N_LABEL already running (pid $pid) on 127.0.0.1:$N_PORT"
    return 0
  fi
  local port
  for port in "$N_PORT" "$N_CPORT" "$N_METRICS_PORT"; do
    tcp_open 127.0.0.1 "$port" &&
      die "port 127.0.0.1:$port needed by the Kafka $N_LABEL is taken by another process (see: ss -ltnp)"
  done
  mkdir -p "$N_DIR/logs" "$N_DIR/data"
  node_write_config
  node_format
  printf '=== %s starting %s\n' "$(date -u +%FT%TZ)" "$N_LABEL" >>"$N_DIR/logs/stdout.log"
  # shellcheck disable=SC2086 # heap options are a word list on purpose
  exec_detached java ${CAREBUS_KAFKA_HEAP:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "-javaagent:$KAFKA_JMX_JAR=127.0.0.1:$N_METRICS_PORT:$KAFKA_SCRIPTS/jmx-exporter.yml" \
    "-D${N_MARKER% }" -Dkafka.logs.dir="$N_DIR/logs" \
    -Dcarebus.audit.level="$([[ "${CAREBUS_KAFKA_AUDIT_ALLOWED:-}" == 1 ]] && echo DEBUG || echo INFO)" \
    -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.xml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$N_DIR/server.properties" \
    >>"$N_DIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$N_PIDFILE"
  say "kafka $N_LABEL starting (pid $!) on 127.0.0.1:$N_PORT (metrics http://127.0.0.1:$N_METRICS_PORT/metrics); log $(rel "$N_LOG")"
}

# kafka_node_wait_port NAME: waits until the node's client port accepts connections.
kafka_node_wait_port() {
  node_params "$1"
  local deadline=$((SECONDS + READY_TIMEOUT))
  until tcp_open 127.0.0.1 "$N_PORT"; do
    pid_of "$N_MARKER" "$N_PIDFILE" >/dev/null ||
      die "Kafka $N_LABEL exited while starting; see $(rel "$N_LOG") and $(rel "$N_DIR/logs/stdout.log")"
    ((SECONDS < deadline)) ||
      die "Kafka $N_LABEL did not listen on 127.0.0.1:$N_PORT within ${READY_TIMEOUT}s; see $(rel "$N_LOG")"
    sleep 0.5
  done
}

# kafka_probe BOOTSTRAP LOG NODE_ID...: waits until each broker answers requests addressed to it
# (with the client settings of the properties file KAFKA_PROBE_CONFIG when set).
kafka_probe() {
  local bootstrap="$1" log="$2"
  shift 2
  java -cp "$KAFKA_PROBE:$KAFKA_LIBS/*" -Dlog4j2.level=ERROR -Dcarebus.client.config="${KAFKA_PROBE_CONFIG:-}" BrokerReady "$bootstrap" "$READY_TIMEOUT" "$@" >/dev/null ||
    die "Kafka broker(s) $* at $bootstrap not ready within ${READY_TIMEOUT}s; see $log"
}

# kafka_node_stop NAME term|kill: stops the node (graceful first with term, then kill -9 after 30 s).
kafka_node_stop() {
  node_params "$1"
  local pid
  if ! pid="$(pid_of "$N_MARKER" "$N_PIDFILE")"; then
    rm -f "$N_PIDFILE"
    return 1
  fi
  if [[ "$2" == kill ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  echo "$pid"
}

# kafka_wait_gone NAME PID: waits up to 30 s for PID to exit, then kills it.
kafka_wait_gone() {
  node_params "$1"
  local pid="$2" deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "kafka $N_LABEL did not stop within 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
    fi
    sleep 0.3
  done
  rm -f "$N_PIDFILE"
  say "kafka $N_LABEL stopped"
}

kafka_node_status() {
  node_params "$1"
  local pid="" state
  if pid="$(pid_of "$N_MARKER" "$N_PIDFILE")"; then
    if tcp_open 127.0.0.1 "$N_PORT"; then state="running (pid $pid)"; else state="starting (pid $pid)"; fi
  else
    state="stopped"
  fi
  local metrics="metrics 127.0.0.1:$N_METRICS_PORT"
  if [[ -n "$pid" ]] && ! tcp_open 127.0.0.1 "$N_METRICS_PORT"; then
    metrics="no metrics port (started without the JMX exporter? restart it)"
  fi
  printf '%-9s %-15s %-20s 127.0.0.1:%-6s log %s; %s\n' "$2" "$N_LABEL" "$state" "$N_PORT" "$(rel "$N_LOG")" "$metrics"
}

kafka_single_start() {
  if [[ -n "${CAREBUS_KAFKA_BOOTSTRAP:-}" ]]; then
    external_note "kafka" "$CAREBUS_KAFKA_BOOTSTRAP"
    return 0
  fi
  kafka_node_start single
}

kafka_single_wait() {
  [[ -n "${CAREBUS_KAFKA_BOOTSTRAP:-}" ]] && return 0
  kafka_node_wait_port single
  kafka_probe "$KAFKA_SINGLE_DEFAULT" "$(rel "$KAFKA_HOME/single/logs/server.log")" 1
  say "kafka single broker ready at $KAFKA_SINGLE_DEFAULT"
}

# kafka_single_stop [down]: stops the single broker; with `down`, an external broker is only noted.
kafka_single_stop() {
  if [[ -n "${CAREBUS_KAFKA_BOOTSTRAP:-}" ]]; then
    [[ "${1:-}" == down ]] && say "kafka: CAREBUS_KAFKA_BOOTSTRAP is set; nothing to stop" && return 0
    die "CAREBUS_KAFKA_BOOTSTRAP is set: that Kafka is not started by scripts/services, so it cannot stop it"
  fi
  local pid
  if pid="$(kafka_node_stop single term)"; then
    kafka_wait_gone single "$pid"
  else
    say "kafka single broker is not running"
  fi
}

kafka_single_status() {
  if [[ -n "${CAREBUS_KAFKA_BOOTSTRAP:-}" ]]; then
    printf '%-9s external (CAREBUS_KAFKA_BOOTSTRAP) %s\n' kafka "$CAREBUS_KAFKA_BOOTSTRAP"
    return 0
  fi
  kafka_node_status single kafka
}

kafka_cluster_external() { [[ -n "${CAREBUS_KAFKA_CLUSTER_BOOTSTRAP:-}" ]]; }

kafka_cluster_start() {
  if kafka_cluster_external; then
    external_note "cluster" "$CAREBUS_KAFKA_CLUSTER_BOOTSTRAP"
    return 0
  fi
  local n
  for n in 1 2 3; do kafka_node_start "node$n"; done
}

kafka_cluster_wait() {
  kafka_cluster_external && return 0
  local n
  for n in 1 2 3; do kafka_node_wait_port "node$n"; done
  kafka_probe "$KAFKA_CLUSTER_DEFAULT" "$(rel "$KAFKA_HOME/cluster")/node*/logs/server.log" 1 2 3
  say "kafka cluster ready at $KAFKA_CLUSTER_DEFAULT (3 brokers)"
}

kafka_cluster_stop() {
  if kafka_cluster_external; then
    say "cluster: CAREBUS_KAFKA_CLUSTER_BOOTSTRAP is set; nothing to stop"
    return 0
  fi
  local n pid pids=()
  for n in 1 2 3; do
    if pid="$(kafka_node_stop "node$n" term)"; then pids[n]="$pid"; fi
  done
  ((${#pids[@]} > 0)) || say "kafka cluster is not running"
  for n in "${!pids[@]}"; do kafka_wait_gone "node$n" "${pids[n]}"; done
}

kafka_cluster_status() {
  if kafka_cluster_external; then
    printf '%-9s external (CAREBUS_KAFKA_CLUSTER_BOOTSTRAP) %s\n' cluster "$CAREBUS_KAFKA_CLUSTER_BOOTSTRAP"
    return 0
  fi
  local n
  for n in 1 2 3; do kafka_node_status "node$n" cluster; done
}

kafka_cluster_node_kill() {
  kafka_cluster_external &&
    die "CAREBUS_KAFKA_CLUSTER_BOOTSTRAP is set: that cluster is not started by scripts/services, so stop-node cannot act on it"
  local pid
  if pid="$(kafka_node_stop "node$1" kill)"; then
    kafka_wait_gone "node$1" "$pid"
  else
    say "kafka cluster node $1 is not running"
  fi
}

kafka_cluster_node_start() {
  kafka_cluster_external &&
    die "CAREBUS_KAFKA_CLUSTER_BOOTSTRAP is set: that cluster is not started by scripts/services, so start-node cannot act on it"
  kafka_node_start "node$1"
  kafka_node_wait_port "node$1"
  kafka_probe "$KAFKA_CLUSTER_DEFAULT" "$(rel "$KAFKA_HOME/cluster/node$1/logs/server.log")" "$1"
  say "kafka cluster node $1 ready at 127.0.0.1:$((29091 + $1))"
}

kafka_secure_external() { [[ -n "${CAREBUS_KAFKA_SECURE_BOOTSTRAP:-}" ]]; }

kafka_secure_start() {
  if kafka_secure_external; then
    external_note "secure" "$CAREBUS_KAFKA_SECURE_BOOTSTRAP"
    return 0
  fi
  kafka_node_start secure
}

# The Java admin client's settings for the secure broker (the readiness probe uses them).
kafka_secure_admin_properties() {
  local file="$KAFKA_SECURE_HOME/admin.properties"
  (
    umask 077
    cat >"$file" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$KAFKA_SECURE_CREDENTIALS/admin.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_HOME/ca.crt
PROPS
  )
  printf '%s' "$file"
}

kafka_secure_wait() {
  kafka_secure_external && return 0
  kafka_node_wait_port secure
  KAFKA_PROBE_CONFIG="$(kafka_secure_admin_properties)" \
    kafka_probe "$KAFKA_SECURE_DEFAULT" "$(rel "$KAFKA_SECURE_HOME/logs/server.log")" 1
  say "kafka secure broker ready at $KAFKA_SECURE_DEFAULT (SASL_SSL, SCRAM-SHA-512; CA $(rel "$PKI_HOME/ca.crt"), credentials in $(rel "$KAFKA_SECURE_CREDENTIALS"))"
}

kafka_secure_stop() {
  if kafka_secure_external; then
    say "secure: CAREBUS_KAFKA_SECURE_BOOTSTRAP is set; nothing to stop"
    return 0
  fi
  local pid
  if pid="$(kafka_node_stop secure term)"; then
    kafka_wait_gone secure "$pid"
  else
    say "kafka secure broker is not running"
  fi
}

kafka_secure_status() {
  if kafka_secure_external; then
    printf '%-9s external (CAREBUS_KAFKA_SECURE_BOOTSTRAP) %s\n' secure "$CAREBUS_KAFKA_SECURE_BOOTSTRAP"
    return 0
  fi
  kafka_node_status secure secure
}
