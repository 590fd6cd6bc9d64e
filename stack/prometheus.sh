#!/usr/bin/env bash
# Prometheus for the canary analysis (stack/prometheus.sh up|down|status): a host process like the stack's other
# components, built with Kubernetes service discovery (stack/build-bins.sh prometheus). It discovers the pods of
# the real node through the stack's apiserver with its own read-only ServiceAccount, and scrapes those annotated
# `prometheus.io/scrape: "true"` (port and path from `prometheus.io/port` / `prometheus.io/path`) straight at their
# bridge address. State (config, token, TSDB, log) lives in .stack/prometheus; `up` writes PROMETHEUS_URL (and the
# binary and config, for tests that run a Prometheus of their own) to $ENV_D/prometheus.env.
#
# Environment knobs:
#   SHIPLINE_SCRAPE_INTERVAL   scrape interval (default 2s: analyses over a few seconds see several samples)
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[ "${1:-}" = status ] || stack_lock "$0" "$@"
PROM_DIR=$STACK_STATE/prometheus
PROM_NS=shipline-monitoring
SCRAPE_INTERVAL=${SHIPLINE_SCRAPE_INTERVAL:-2s}

prom_url() { echo "http://127.0.0.1:$(cat "$PROM_DIR/port")"; }
prom_ready() { [ -s "$PROM_DIR/port" ] && curl -sf --max-time 3 "$(prom_url)/-/ready" >/dev/null 2>&1; }

# The ServiceAccount Prometheus discovers with: read-only, only what kubernetes_sd_configs (role pod) watches.
rbac() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $PROM_NS, labels: {app.kubernetes.io/managed-by: shipline-stack}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: $PROM_NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: shipline-prometheus}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: shipline-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: shipline-prometheus}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: $PROM_NS}]
EOF
}

config() {  # KUBE_SERVER CA_FILE
  cat <<EOF
# written by stack/prometheus.sh
global:
  scrape_interval: $SCRAPE_INTERVAL
  scrape_timeout: $SCRAPE_INTERVAL
scrape_configs:
- job_name: pods
  kubernetes_sd_configs:
  - role: pod
    api_server: $1
    tls_config: {ca_file: $2}
    authorization: {credentials_file: $PROM_DIR/token}
    # the real node's pods only: the kwok nodes' pods have addresses nothing answers on
    selectors: [{role: pod, field: spec.nodeName=$REAL_NODE_NAME}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: "true", action: keep}
  - {source_labels: [__meta_kubernetes_pod_phase], regex: Running, action: keep}
  - source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port]
    regex: (.+);([0-9]+)
    replacement: \$1:\$2
    target_label: __address__
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], regex: (.+), target_label: __metrics_path__}
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
  - {action: labelmap, regex: __meta_kubernetes_pod_label_(.+)}
EOF
}

up() {
  [ -x "$PROMETHEUS_BIN" ] || "$STACK_SRC/build-bins.sh" prometheus >/dev/null || die "building Prometheus failed"
  mkdir -p "$PROM_DIR/data" && chmod 700 "$PROM_DIR"
  local server ca; server=$(kubectl_admin config view --minify -o jsonpath='{.clusters[0].cluster.server}') \
    || die "prometheus: the stack's apiserver is not configured (run stack/up.sh)"
  ca=$KWOK_DIR/clusters/$CLUSTER_NAME/pki/ca.crt
  rbac | kubectl_admin apply -f - >/dev/null || die "prometheus: applying its ServiceAccount and ClusterRole failed"
  for _ in $(seq 1 60); do kubectl_admin -n "$PROM_NS" get serviceaccount prometheus >/dev/null 2>&1 && break; sleep 0.5; done
  # Reissued on every up (like the deployer's); Prometheus re-reads credentials_file on every request.
  (umask 077; kubectl_admin -n "$PROM_NS" create token prometheus --duration=48h > "$PROM_DIR/token.new") \
    || die "prometheus: TokenRequest failed"
  mv "$PROM_DIR/token.new" "$PROM_DIR/token"
  config "$server" "$ca" > "$PROM_DIR/prometheus.yml.new"
  local changed=1; cmp -s "$PROM_DIR/prometheus.yml.new" "$PROM_DIR/prometheus.yml" && changed=0
  mv "$PROM_DIR/prometheus.yml.new" "$PROM_DIR/prometheus.yml"
  if pid_alive "$PROM_DIR/prometheus.pid" prometheus && prom_ready; then
    if [ "$changed" = 1 ]; then
      log "prometheus: configuration changed: reloading"
      curl -sf --max-time 10 -X POST "$(prom_url)/-/reload" >/dev/null || die "prometheus: reload failed; see $PROM_DIR/prometheus.log"
    fi
    log "prometheus: running (pid $(cat "$PROM_DIR/prometheus.pid")) on $(prom_url)"
  else
    stop_pid "$PROM_DIR/prometheus.pid" prometheus
    local port; port=$(cat "$PROM_DIR/port" 2>/dev/null || true)
    if [ -z "$port" ] || ! port_free "$port"; then port=$(free_port); fi
    echo "$port" > "$PROM_DIR/port"
    log "prometheus: starting on 127.0.0.1:$port (scrape interval $SCRAPE_INTERVAL)"
    setsid "$PROMETHEUS_BIN" --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
      --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle \
      >>"$PROM_DIR/prometheus.log" 2>&1 </dev/null &
    echo $! > "$PROM_DIR/prometheus.pid"
    for _ in $(seq 1 120); do
      prom_ready && break
      pid_alive "$PROM_DIR/prometheus.pid" prometheus || die "prometheus exited; see $PROM_DIR/prometheus.log: $(tail -3 "$PROM_DIR/prometheus.log")"
      sleep 0.25
    done
    prom_ready || die "prometheus on $(prom_url) is not ready after 30 s; see $PROM_DIR/prometheus.log"
  fi
  mkdir -p "$ENV_D"
  (umask 077; {
    echo "PROMETHEUS_URL=$(prom_url)"
    echo "PROMETHEUS_BIN=$PROMETHEUS_BIN"
    echo "PROMETHEUS_CONFIG=$PROM_DIR/prometheus.yml"
  } > "$ENV_D/prometheus.env")
  log "prometheus: $(prom_url) ready"
}

down() {
  stop_pid "$PROM_DIR/prometheus.pid" prometheus
  rm -f "$ENV_D/prometheus.env"
}

status() {
  if pid_alive "$PROM_DIR/prometheus.pid" prometheus && prom_ready; then
    echo "prometheus running pid $(cat "$PROM_DIR/prometheus.pid") $(prom_url)"
  else
    echo "prometheus stopped"; return 1
  fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
