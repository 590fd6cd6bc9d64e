#!/usr/bin/env bash
# The stack's components one by one: their state, and stopping/starting one (for fault tests and `make up`).
#
#   stack/cluster.sh status                 every component: pid and state (healthy, unhealthy, stopped);
#                                           exits 1 unless all are healthy
#   stack/cluster.sh kill <component>       SIGKILL it (a crash), wait until it is gone
#   stack/cluster.sh start [<component>]    start what is stopped (kwokctl starts every stopped cluster
#                                           component), wait until <component> (default: all) is healthy
#   stack/cluster.sh heal                   restart what died, wait until everything is healthy (`make up`)
#
# Components: registry etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller.
# SHIPLINE_HEALTH_TIMEOUT (seconds, default 120) bounds every wait for health.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

CLUSTER_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller)
COMPONENTS=(registry "${CLUSTER_COMPONENTS[@]}")
CLUSTER_DIR=$KWOK_DIR/clusters/$CLUSTER_NAME
HEALTH_TIMEOUT=${SHIPLINE_HEALTH_TIMEOUT:-120}
[ -n "${DOCKER_HOST:-}" ] || DOCKER_HOST=$(sed -n "s/^DOCKER_HOST=//p" "$ENV_FILE" 2>/dev/null | tr -d "'")

# pidfile COMPONENT / comm COMPONENT: where its pid is kept, and its process name (comm is cut at 15 characters).
pidfile() {
  case $1 in
    registry) echo "$REGISTRY_DIR/registry.pid" ;;
    *) echo "$CLUSTER_DIR/pids/$1.pid" ;;
  esac
}
comm() {
  case $1 in
    registry) echo docker-registry ;;
    *) printf %.15s "$1" ;;
  esac
}

# arg PID NAME: the value of --NAME=VALUE in the process's command line.
arg() { tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | sed -n "s/^--$2=//p" | head -1; }

# healthy COMPONENT: its own health endpoint says so (the process is known to be alive).
healthy() {
  local pid; pid=$(cat "$(pidfile "$1")")
  case $1 in
    registry) [ "$(registry_status "127.0.0.1:$(cat "$REGISTRY_DIR/port")")" = 401 ] ;;
    etcd) curl -sf --max-time 5 "$(arg "$pid" listen-client-urls | cut -d, -f1)/health" | grep -q '"health":"true"' ;;
    kube-apiserver) kubectl_admin get --raw /readyz --request-timeout=5s >/dev/null 2>&1 ;;
    kube-controller-manager|kube-scheduler)
      [ "$(curl -sk --max-time 5 "https://127.0.0.1:$(arg "$pid" secure-port)/healthz")" = ok ] ;;
    kwok-controller)
      curl -sk --max-time 5 --cert "$CLUSTER_DIR/pki/admin.crt" --key "$CLUSTER_DIR/pki/admin.key" \
        "https://$(arg "$pid" server-address)/healthz" | grep -q ok ;;
  esac
}

# state COMPONENT: healthy | unhealthy | stopped (a zombie or a recycled pid counts as stopped).
state() {
  if ! pid_alive "$(pidfile "$1")" "$(comm "$1")"; then echo stopped
  elif healthy "$1"; then echo healthy
  else echo unhealthy; fi
}

status() {
  local c s bad=0
  printf '%-24s %-8s %s\n' COMPONENT PID STATE
  # The Docker engine may be shared with other checkouts: shown, never killed or started here.
  if docker_answers "${DOCKER_HOST:-unix:///var/run/docker.sock}"; then s=healthy; else s=unreachable; bad=1; fi
  printf '%-24s %-8s %s\n' docker - "$s (${DOCKER_HOST:-default engine})"
  for c in "${COMPONENTS[@]}"; do
    s=$(state "$c")
    [ "$s" = healthy ] || bad=1
    printf '%-24s %-8s %s\n' "$c" "$([ "$s" = stopped ] && echo - || cat "$(pidfile "$c")")" "$s"
  done
  return $bad
}

kill_component() {
  local c=$1 file pid i
  file=$(pidfile "$c")
  pid_alive "$file" "$(comm "$c")" || { log "$c is not running"; return 0; }
  pid=$(cat "$file")
  log "killing $c (pid $pid)"
  kill -KILL "$pid"
  for i in $(seq 1 100); do pid_alive "$file" "$(comm "$c")" || break; sleep 0.1; done
  pid_alive "$file" "$(comm "$c")" && die "$c (pid $pid) is still alive after SIGKILL"
  rm -f "$file"  # kwokctl would take a zombie's pid for a running process and never start it again
}

start_stopped() {
  local c need_cluster=
  for c in "${COMPONENTS[@]}"; do
    [ "$(state "$c")" = stopped ] || continue
    rm -f "$(pidfile "$c")"
    if [ "$c" = registry ]; then start_registry; else need_cluster=1; fi
  done
  if [ -n "$need_cluster" ]; then
    log "starting the stopped cluster components"
    kwokctl_stack start cluster --name "$CLUSTER_NAME" >"$KWOK_DIR/start.log" 2>&1 \
      || die "kwokctl start cluster failed: $(tail -3 "$KWOK_DIR/start.log")"
  fi
}

# wait_healthy COMPONENT...: until each is healthy, or die naming the ones that are not.
wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) c pending
  while :; do
    pending=()
    for c in "$@"; do [ "$(state "$c")" = healthy ] || pending+=("$c"); done
    [ ${#pending[@]} -eq 0 ] && return 0
    [ $SECONDS -ge $deadline ] && die "not healthy after ${HEALTH_TIMEOUT}s: $(for c in "${pending[@]}"; do printf '%s (%s) ' "$c" "$(state "$c")"; done)"
    sleep 0.5
  done
}

known() { local c; for c in "${COMPONENTS[@]}"; do [ "$c" = "$1" ] && return 0; done; die "unknown component '$1' (one of: ${COMPONENTS[*]})"; }

case ${1:-status} in
  status) status ;;
  kill) [ $# -eq 2 ] || die "usage: $0 kill <component>"; known "$2"; stack_lock "$0" "$@"; kill_component "$2" ;;
  start)
    [ $# -le 2 ] || die "usage: $0 start [<component>]"; [ $# -eq 1 ] || known "$2"
    stack_lock "$0" "$@"; start_stopped
    if [ $# -eq 2 ]; then wait_healthy "$2"; else wait_healthy "${COMPONENTS[@]}"; fi
    ;;
  heal) stack_lock "$0" "$@"; start_stopped; wait_healthy "${COMPONENTS[@]}" ;;
  *) die "usage: $0 status | kill <component> | start [<component>] | heal" ;;
esac
