# shellcheck shell=bash
# Turns the monitoring target of scripts/services into a Prometheus on 127.0.0.1:19090 scraping the brokers' JMX
# exporters and the carebus processes the tests register: installs Debian's prometheus package when missing, writes
# its config (alert rules from ops/prometheus/carebus-rules.yml), runs the binary as a background process of our own
# (not the Debian service unit), waits for it and stops it.
# Sourced by scripts/services (which defines REPO, SERVICES_DIR, READY_TIMEOUT, say, die, rel, pid_of, tcp_open,
# exec_detached); not meant to run on its own.

PROM_PORT=19090
PROM_URL="http://127.0.0.1:$PROM_PORT"
PROM_HOME="$SERVICES_DIR/prometheus"
# carebus processes to scrape: file_sd JSON files ([{"targets": ["127.0.0.1:PORT"], "labels": {...}}]) put here
# by tests or by hand; Prometheus rereads the directory every few seconds.
PROM_TARGETS="$PROM_HOME/targets"
PROM_RULES="$REPO/ops/prometheus/carebus-rules.yml"
PROM_CONFIG="$PROM_HOME/prometheus.yml"

prom_external() { [[ -n "${CAREBUS_PROMETHEUS_URL:-}" ]]; }

# Installs Debian's prometheus package (the server and promtool) unless both are on PATH.
# promtool is needed even with an external Prometheus: the tests check rules and metrics with it.
prometheus_prepare() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  if ((EUID != 0)); then
    die "prometheus not found: run sudo apt-get install -y --no-install-recommends prometheus"
  fi
  say "installing Debian's prometheus package (apt-get; its service unit is not used)"
  apt-get update -qq >"$SERVICES_DIR/prometheus-apt.log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
      >>"$SERVICES_DIR/prometheus-apt.log" 2>&1 ||
    die "apt-get could not install prometheus; see $(rel "$SERVICES_DIR/prometheus-apt.log")"
}

prom_pidfile() { printf '%s' "$PROM_HOME/prometheus.pid"; }

# The brokers' JMX exporter targets, one static group per Kafka service (see scripts/kafka/kafka.sh).
prom_write_config() {
  mkdir -p "$PROM_HOME/data" "$PROM_TARGETS"
  cat >"$PROM_CONFIG" <<YML
# Written by scripts/services on every start; edits here are overwritten.
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 5s
rule_files:
  - $PROM_RULES
scrape_configs:
  - job_name: kafka
    static_configs:
      - targets: ["127.0.0.1:$((19092 + KAFKA_METRICS_PORT_OFFSET))"]
        labels: { kafka_cluster: single }
      - targets: ["127.0.0.1:$((29092 + KAFKA_METRICS_PORT_OFFSET))", "127.0.0.1:$((29093 + KAFKA_METRICS_PORT_OFFSET))", "127.0.0.1:$((29094 + KAFKA_METRICS_PORT_OFFSET))"]
        labels: { kafka_cluster: cluster }
      - targets: ["127.0.0.1:$((39092 + KAFKA_METRICS_PORT_OFFSET))"]
        labels: { kafka_cluster: secure }
  - job_name: carebus
    file_sd_configs:
      - files: ["$PROM_TARGETS/*.json"]
        refresh_interval: 2s
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$PROM_PORT"]
YML
}

prometheus_start() {
  if prom_external; then
    external_note "monitoring" "$(os_authority "$CAREBUS_PROMETHEUS_URL")"
    return 0
  fi
  local pid
  if pid="$(pid_of "$PROM_CONFIG" "$(prom_pidfile)")"; then
    say "prometheus already running (pid $pid) on $PROM_URL"
    return 0
  fi
  tcp_open 127.0.0.1 "$PROM_PORT" &&
    die "port 127.0.0.1:$PROM_PORT needed by Prometheus is taken by another process (see: ss -ltnp)"
  [[ -f "$PROM_RULES" ]] || die "the alert rules $(rel "$PROM_RULES") are missing"
  prom_write_config
  promtool check config "$PROM_CONFIG" >"$PROM_HOME/check-config.log" 2>&1 ||
    die "promtool rejects $(rel "$PROM_CONFIG"); see $(rel "$PROM_HOME/check-config.log")"
  printf '=== %s starting prometheus\n' "$(date -u +%FT%TZ)" >>"$PROM_HOME/prometheus.log"
  (cd "$PROM_HOME" && exec_detached prometheus --config.file="$PROM_CONFIG" \
    --storage.tsdb.path="$PROM_HOME/data" --storage.tsdb.retention.time=2d \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
    >>"$PROM_HOME/prometheus.log" 2>&1 </dev/null) &
  echo $! >"$(prom_pidfile)"
  say "prometheus starting (pid $!) on $PROM_URL; targets from $(rel "$PROM_TARGETS")/*.json; log $(rel "$PROM_HOME/prometheus.log")"
}

prometheus_wait() {
  prom_external && return 0
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS "$PROM_URL/-/ready" >/dev/null 2>&1; do
    pid_of "$PROM_CONFIG" "$(prom_pidfile)" >/dev/null ||
      die "Prometheus exited while starting; see $(rel "$PROM_HOME/prometheus.log")"
    ((SECONDS < deadline)) ||
      die "Prometheus did not answer on $PROM_URL within ${READY_TIMEOUT}s; see $(rel "$PROM_HOME/prometheus.log")"
    sleep 0.5
  done
  say "prometheus ready at $PROM_URL"
}

prometheus_stop() {
  if prom_external; then
    say "monitoring: CAREBUS_PROMETHEUS_URL is set; nothing to stop"
    return 0
  fi
  local pid
  if ! pid="$(pid_of "$PROM_CONFIG" "$(prom_pidfile)")"; then
    rm -f "$(prom_pidfile)"
    say "prometheus is not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "prometheus did not stop within 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
    fi
    sleep 0.3
  done
  rm -f "$(prom_pidfile)"
  say "prometheus stopped"
}

prometheus_status() {
  if prom_external; then
    printf '%-9s external (CAREBUS_PROMETHEUS_URL) %s\n' monitoring "$CAREBUS_PROMETHEUS_URL"
    return 0
  fi
  local pid state
  if pid="$(pid_of "$PROM_CONFIG" "$(prom_pidfile)")"; then
    if tcp_open 127.0.0.1 "$PROM_PORT"; then state="running (pid $pid)"; else state="starting (pid $pid)"; fi
  else
    state="stopped"
  fi
  printf '%-9s %-15s %-20s 127.0.0.1:%-6s log %s\n' monitoring prometheus "$state" "$PROM_PORT" \
    "$(rel "$PROM_HOME/prometheus.log")"
}
