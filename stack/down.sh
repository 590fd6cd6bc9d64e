#!/usr/bin/env bash
# Stops everything stack/up.sh started: the kwok cluster (all its processes, its work dir), the registry, and
# dockerd if (and only if) the stack started it. Safe to run twice. Keeps the registry's data and password, the
# Docker data root (images) and the binary cache, so the next `up` is quick.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[ -d "$STACK_STATE" ] || { log "nothing to stop ($STACK_STATE does not exist)"; exit 0; }
stack_lock "$0" "$@"
rm -f "$ENV_FILE"

# Optional components (each stops what its own `up` started): BuildKit, then Prometheus (it watches the cluster),
# then the real node (its kubelet talks to the cluster; its pods, mounts, netns and iptables chains go with it)
"$STACK_SRC/buildkit.sh" down || log "stopping BuildKit failed; run stack/down.sh again"
"$STACK_SRC/prometheus.sh" down || log "stopping Prometheus failed; run stack/down.sh again"
"$STACK_SRC/node.sh" down || log "stopping the real node failed; run stack/down.sh again"

# Kubernetes (kwokctl stops etcd, kube-*, kwok-controller and removes the cluster's work dir)
cluster_dir=$KWOK_DIR/clusters/$CLUSTER_NAME
if [ -d "$cluster_dir" ]; then
  log "kubernetes: deleting kwok cluster '$CLUSTER_NAME'"
  if [ -x "$KWOK_BIN/kwokctl" ]; then
    kwokctl_stack delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KWOK_DIR/contexts.kubeconfig" >"$KWOK_DIR/delete.log" 2>&1 \
      || log "kwokctl delete cluster failed ($(tail -1 "$KWOK_DIR/delete.log")); killing what is left"
  fi
  # Whatever kwokctl could not stop: processes whose pidfile lives in the cluster's work dir.
  for pidfile in "$cluster_dir"/pids/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile"); kill -0 "$pid" 2>/dev/null || continue
    case $(ps -o args= -p "$pid") in *"$cluster_dir"*) log "killing leftover $(basename "$pidfile" .pid) ($pid)"; kill -TERM "$pid" ;; esac
  done
  rm -rf "$cluster_dir"
fi
rm -f "$KWOK_DIR/config.sum"

# Registry
stop_pid "$REGISTRY_DIR/registry.pid" docker-registry

# Docker: only our own dockerd (and the containerd it manages)
if [ "$(cat "$DOCKER_DIR/owner" 2>/dev/null)" = stack ] || [ -s "$DOCKER_DIR/dockerd.pid" ]; then
  stop_pid "$DOCKER_DIR/dockerd.pid" dockerd
  stop_pid "$DOCKER_DIR/exec/containerd/containerd.pid" containerd
fi
rm -f "$DOCKER_DIR/owner"
# A stopped dockerd leaves its network-namespace (and overlay) mounts under our state dir; without this the
# directory cannot be removed. Only mounts inside $DOCKER_DIR are touched, and only when no dockerd of ours runs.
if ! pid_alive "$DOCKER_DIR/dockerd.pid" dockerd; then
  mount | awk -v d="$DOCKER_DIR/" 'index($3, d) == 1 { print $3 }' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
fi
log "stack down"
