#!/usr/bin/env bash
# The stack's one real node, `shipline-real`, beside the kwok nodes: kubelet + its own containerd (CRI) + runc +
# CNI bridge + kube-proxy (iptables). Called by stack/up.sh (`node.sh up`, after the control plane is ready) and
# stack/down.sh (`node.sh down`). See stack/README.md ("The real node") for why each setting is there.
#
#   node.sh up     idempotent: keeps a healthy node; otherwise clears what a crash left and starts it again
#   node.sh down   stops everything and leaves nothing behind: containers, mounts, network namespaces, the bridge,
#                  iptables chains (KUBE-*, CNI-*), CNI cache entries, kubelet's log links
#
# Environment (from up.sh): REGISTRY REGISTRY_USERNAME REGISTRY_PASSWORD KUBE_SERVER KUBE_CA_FILE DOCKER_HOST
# Knobs: SHIPLINE_POD_CIDR (default 10.244.0.0/24), SHIPLINE_KUBELET_PORT (default 10250).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
stack_lock "$0" "$@"
export PATH=$PATH:/usr/sbin:/sbin

NODE_NAME=$REAL_NODE_NAME
NOT_HERE=10  # exit status of `up` when another checkout runs the machine's real node
POD_CIDR=${SHIPLINE_POD_CIDR:-10.244.0.0/24}
KUBELET_PORT=${SHIPLINE_KUBELET_PORT:-10250}
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
BRIDGE=shipline0
CNI_NETWORK=shipline-real
PAUSE_IMAGE=shipline.local/pause:1
ND=$NODE_DIR
CTRD_SOCK=$ND/run/containerd.sock
if [ ${#CTRD_SOCK} -gt 100 ]; then  # unix socket paths are limited to ~108 bytes
  CTRD_SOCK=/tmp/shipline-containerd-$(id -u)-$(printf %s "$ND" | sha256sum | cut -c1-12).sock
fi
ctr_k8s() { ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------------------------
# Teardown: used by `down` and by `up` when the node is not healthy (after a crash)
stop_pods() {  # every task and container of our containerd, and the network namespaces of its sandboxes
  [ -S "$CTRD_SOCK" ] && pid_alive "$ND/containerd.pid" containerd || return 0
  local ids id
  ids=$(ctr_k8s containers ls -q 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  log "node: removing $(echo "$ids" | wc -l) containers"
  for id in $ids; do  # remember the sandboxes' network namespaces (CRI puts them in /var/run/netns/cni-*)
    ctr_k8s containers info "$id" 2>/dev/null |
      python3 -c 'import json,sys; [print(n["path"]) for n in json.load(sys.stdin).get("Spec",{}).get("linux",{}).get("namespaces",[]) if n.get("type")=="network" and n.get("path","").startswith("/var/run/netns/")]' \
      >> "$ND/netns" 2>/dev/null || true
  done
  for id in $ids; do ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $ids; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do ctr_k8s tasks delete "$id" >/dev/null 2>&1 && break
      ctr_k8s tasks ls -q 2>/dev/null | grep -qx "$id" || break; sleep 0.5; done
    ctr_k8s containers delete "$id" >/dev/null 2>&1 || true
    # libcni's result cache of the sandbox's networks (kept in a fixed place, keyed by sandbox id)
    rm -f "/var/lib/cni/results/cni-loopback-$id-lo" "/var/lib/cni/results/$CNI_NETWORK-$id-"* 2>/dev/null || true
  done
}

clear_iptables() {  # chains only the node makes: kubelet/kube-proxy (KUBE-*) and CNI (CNI-*)
  local cmd table
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      "$cmd-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-' |
        sed 's/^-A /-D /' | while read -r rule; do eval "$cmd -w -t $table $rule" 2>/dev/null || true; done || true
      for chain in $("$cmd-save" -t "$table" 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
        "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$cmd-save" -t "$table" 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
        "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# One real node per machine (ports, the bridge, iptables chains are machine-wide): the checkout running it is
# named in $OWNER_FILE. other_owner: another checkout's node is running.
OWNER_FILE=/var/run/shipline-real-node
other_owner() {
  local owner; owner=$(cat "$OWNER_FILE" 2>/dev/null) || return 1
  [ -n "$owner" ] && [ "$owner" != "$ND" ] || return 1
  pid_alive "$owner/kubelet.pid" kubelet || pid_alive "$owner/containerd.pid" containerd
}

teardown() {
  stop_pid "$ND/kubelet.pid" kubelet
  stop_pid "$ND/kube-proxy.pid" kube-proxy
  # containerd died but its shims (and so containers) live on: start it again to remove them properly.
  if ! pid_alive "$ND/containerd.pid" containerd && [ -f "$ND/containerd/config.toml" ] &&
     pgrep -f "containerd-shim-runc-v2 .*-address $CTRD_SOCK" >/dev/null 2>&1; then
    start_daemon containerd "$ND/containerd.log" containerd --config "$ND/containerd/config.toml"
    wait_until 60 containerd ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 || true
  fi
  stop_pods
  stop_pid "$ND/containerd.pid" containerd
  # Shims of our containerd outlive it when tasks remained (they carry our socket in their argv).
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CTRD_SOCK" 2>/dev/null || true); do
    log "node: killing leftover shim $pid"; kill -KILL "$pid" 2>/dev/null || true
  done
  # Network namespaces of our sandboxes (recorded by stop_pods, or found through a stale record).
  if [ -f "$ND/netns" ]; then
    sort -u "$ND/netns" | while read -r ns; do
      [ -e "$ns" ] || continue
      umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true; rm -f "$ns"
    done
    rm -f "$ND/netns"
  fi
  # What is machine-wide (the bridge, KUBE-*/CNI-* chains) belongs to whichever checkout runs the node.
  if ! other_owner; then
    ip link show "$BRIDGE" >/dev/null 2>&1 && { ip link delete "$BRIDGE" || log "node: could not delete $BRIDGE"; }
    clear_iptables
    rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
    [ "$(cat "$OWNER_FILE" 2>/dev/null)" = "$ND" ] && rm -f "$OWNER_FILE"
  fi
  # Mounts under the node's dir (pod volumes, rootfs, shm), deepest first.
  mount | awk -v d="$ND/" 'index($3, d) == 1 { print $3 }' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "node: could not unmount $m"
  done
  rm -rf "$ND/cni/ipam" "$ND/state" "$ND/run"
  # kubelet links container logs into the fixed /var/log/containers; drop the links into our pod log dir.
  find /var/log/containers -maxdepth 1 -type l -lname "$ND/*" -delete 2>/dev/null || true
}

node_down() {
  [ -d "$ND" ] || return 0
  log "node: stopping $NODE_NAME (kubelet, kube-proxy, containerd, pods)"
  teardown
  [ -f "$KWOK_DIR/clusters/$CLUSTER_NAME/kubeconfig.yaml" ] && kube_ready &&
    kubectl_admin delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -f "$ND/config.sum"
}

kube_ready() { kubectl_admin get --raw /readyz --request-timeout=5s >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------------------------
# Configuration
put() {  # FILE: stdin into FILE (mode 0600), untouched when equal: kube-proxy exits when its config file is written
  (umask 077; cat > "$1.new")
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; fi
}

write_configs() {
  local ip=$1 nameserver
  mkdir -p "$ND/containerd" "$ND/cni/net.d" "$ND/kubelet" "$ND/kube-proxy" "$ND/root" "$ND/run" "$ND/pod-logs"
  # containerd: its own root/state/socket; CRI with runc (cgroupfs), our CNI dirs, the local pause image, and
  # the stack's registry over plain HTTP with its credentials (file mode 0600).
  put "$ND/containerd/config.toml" <<EOF
# written by stack/node.sh
version = 2
root = "$ND/root"
state = "$ND/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ND/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine is a container that may not lower oom_score_adj: without this every sandbox fails with
  # "runc create failed: ... can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$SNAPSHOTTER"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$ND/run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$ND/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
  [plugins."io.containerd.grpc.v1.cri".registry.configs."$REGISTRY".auth]
    username = "$REGISTRY_USERNAME"
    password = "$REGISTRY_PASSWORD"
EOF
  put "$ND/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
               "dataDir": "$ND/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # No cluster DNS runs here: pods get the host's resolver, so ClusterFirst pods carry no MissingClusterDNS event.
  nameserver=$(awk '$1 == "nameserver" && $2 !~ /^127\./ && $2 ~ /^[0-9.]+$/ { print $2; exit }' /etc/resolv.conf 2>/dev/null)
  put "$ND/kubelet/config.yaml" <<EOF
# written by stack/node.sh; stack/README.md says why each non-default setting is here
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $KUBE_CA_FILE}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CTRD_SOCK
podLogsDir: $ND/pod-logs
rotateCertificates: true
# cgroup v1 inside a privileged container
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
# no eviction: cAdvisor cannot read this container's disk ("cannot find filesystem info for device /dev/vda"), and
# a shared build machine's memory and disk are not the node's to free; images are garbage-collected only when full
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
clusterDomain: cluster.local
${nameserver:+clusterDNS: [$nameserver]}
resolvConf: /etc/resolv.conf
EOF
  put "$ND/kube-proxy/config.yaml" <<EOF
# written by stack/node.sh
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $ND/kube-proxy/kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
# leave the machine's conntrack sysctls alone (they are not ours to change in a shared container)
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, minSyncPeriod: 0s, syncPeriod: 30s}
EOF
}

# The bootstrap token and stack/rbac-node.yaml (TLS bootstrap with auto-approved client certificates, nothing
# cluster-admin; kube-proxy's ServiceAccount). Applied on every `up` (the cluster may have been recreated).
apply_rbac() {
  local id secret
  [ -s "$ND/bootstrap-token" ] || (umask 077; python3 -c 'import secrets, string; a = string.ascii_lowercase + string.digits; print("".join(secrets.choice(a) for _ in range(6)) + "." + "".join(secrets.choice(a) for _ in range(16)))' > "$ND/bootstrap-token")
  id=$(cut -d. -f1 "$ND/bootstrap-token"); secret=$(cut -d. -f2 "$ND/bootstrap-token")
  kubectl_admin apply -f - -f "$STACK_SRC/rbac-node.yaml" >/dev/null <<EOF \
    || die "node: applying the bootstrap token and stack/rbac-node.yaml failed"
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-$id, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData:
  token-id: "$id"
  token-secret: "$secret"
  usage-bootstrap-authentication: "true"
  auth-extra-groups: system:bootstrappers:shipline
EOF
  write_kubeconfig "$ND/kubelet/bootstrap.kubeconfig" "$(cat "$ND/bootstrap-token")"
}

write_kubeconfig() {  # PATH TOKEN (mode 0600)
  (umask 077; cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: shipline, cluster: {server: "$KUBE_SERVER", certificate-authority: "$KUBE_CA_FILE"}}]
users: [{name: node, user: {token: "$2"}}]
contexts: [{name: node, context: {cluster: shipline, user: node}}]
current-context: node
EOF
  )
}

# The sandbox image: a static Go binary that sleeps until signalled, in a FROM-scratch image imported into our
# containerd (nothing can be pulled here). Built once into the cache.
ensure_pause() {
  local bin=$CACHE/bin/pause-1/pause
  if [ ! -x "$bin" ]; then
    log "node: building the pause binary"
    mkdir -p "$(dirname "$bin")"
    (cd "$STACK_SRC/pause" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
      "${GO:-$(command -v go || echo /usr/local/go/bin/go)}" build -trimpath -ldflags "-s -w" -o "$bin.tmp" .) \
      || die "node: building stack/pause failed"
    mv "$bin.tmp" "$bin"
  fi
  ctr_k8s images ls -q 2>/dev/null | grep -qx "$PAUSE_IMAGE" && return 0
  log "node: importing $PAUSE_IMAGE into containerd"
  local ctx; ctx=$(mktemp -d)
  cp "$bin" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$ctx/Dockerfile"
  docker build -q -t "$PAUSE_IMAGE" "$ctx" >"$ND/pause-build.log" 2>&1 \
    || die "node: docker build of $PAUSE_IMAGE failed: $(tail -3 "$ND/pause-build.log")"
  rm -rf "$ctx"
  docker save "$PAUSE_IMAGE" | ctr_k8s images import - >/dev/null || die "node: ctr images import of $PAUSE_IMAGE failed"
}

# overlayfs when the kernel lets this container mount it (much faster than copying each rootfs), else native.
pick_snapshotter() {
  local t=$ND/overlay-probe
  rm -rf "$t"; mkdir -p "$t/l" "$t/u" "$t/w" "$t/m"
  if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
    umount "$t/m"; SNAPSHOTTER=overlayfs
  else
    SNAPSHOTTER=native
  fi
  rm -rf "$t"
}

# ---------------------------------------------------------------------------------------------------------------
start_daemon() {  # NAME LOG CMD...: setsid in the background, pid in $ND/NAME.pid
  local name=$1 logf=$2; shift 2
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $! > "$ND/$name.pid"
}

wait_until() {  # SECONDS WHAT CMD...
  local secs=$1 what=$2 i; shift 2
  for i in $(seq 1 $((secs * 2))); do "$@" && return 0; sleep 0.5; done
  return 1
}

node_ready() {  # [SINCE]: Ready, reported by a kubelet heartbeat at or after epoch second SINCE (not a stale status)
  local ready
  ready=$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
  [ "${ready%% *}" = True ] && [ "$(date -d "${ready#* }" +%s 2>/dev/null || echo 0)" -ge "${1:-0}" ]
}
unhealthy() {  # prints what is wrong with the running node, nothing when it is healthy
  local d
  for d in containerd kubelet kube-proxy; do pid_alive "$ND/$d.pid" "$d" || { echo "$d is not running"; return; }; done
  node_ready || { echo "the Node is not Ready"; return; }
  local answer
  answer=$(curl -s --max-time 5 -w ' HTTP %{http_code}' "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz" 2>&1 || true)
  case $answer in *" HTTP 200") ;; *) echo "kube-proxy is not healthy: $answer" ;; esac
}

node_up() {
  : "${REGISTRY:?}" "${REGISTRY_USERNAME:?}" "${REGISTRY_PASSWORD:?}" "${KUBE_SERVER:?}" "${KUBE_CA_FILE:?}"
  if other_owner; then
    log "node: WARNING: this machine's real node is run by $(cat "$OWNER_FILE") (one per machine): none here;" \
      "tests that need it skip (fail in CI). Stop it there (make down) and run make up here to get it."
    exit "$NOT_HERE"
  fi
  local ip; ip=$(node_ip)
  mkdir -p "$ND/kubelet" "$ND/kube-proxy" && chmod 700 "$ND"
  [ -n "${SNAPSHOTTER:-}" ] || SNAPSHOTTER=$(cat "$ND/snapshotter" 2>/dev/null || true)
  [ -n "$SNAPSHOTTER" ] || { pick_snapshotter; echo "$SNAPSHOTTER" > "$ND/snapshotter"; }
  apply_rbac
  write_configs "$ip"
  # The kubelet's client certificate is signed by the cluster CA: a recreated cluster (new CA) needs a new one.
  local sum; sum=$( { cat "$ND/containerd/config.toml" "$ND/cni/net.d/"* "$ND/kubelet/config.yaml" "$ND/kube-proxy/config.yaml" \
    "$KUBE_CA_FILE"; echo "$KUBE_VERSION $KUBE_SERVER"; } | sha256sum | cut -c1-16)
  local problem
  if [ "$(cat "$ND/config.sum" 2>/dev/null)" != "$sum" ]; then problem="its configuration changed"
  else problem=$(unhealthy); fi
  if [ -z "$problem" ]; then
    log "node: $NODE_NAME is Ready (kubelet pid $(cat "$ND/kubelet.pid"), containerd pid $(cat "$ND/containerd.pid"))"
    return 0
  fi
  if [ -f "$ND/config.sum" ] || [ -s "$ND/kubelet.pid" ] || [ -s "$ND/containerd.pid" ]; then
    log "node: $NODE_NAME: $problem: clearing it and starting again"
    teardown
  fi
  [ "$(cat "$ND/ca.sum" 2>/dev/null)" = "$(sha256sum < "$KUBE_CA_FILE")" ] || rm -rf "$ND/kubelet/pki" "$ND/kubelet/kubeconfig"
  sha256sum < "$KUBE_CA_FILE" > "$ND/ca.sum"
  for port in $KUBELET_PORT $KUBELET_HEALTHZ_PORT $PROXY_HEALTHZ_PORT $PROXY_METRICS_PORT; do
    port_free "$port" || die "node: port $port is taken (kubelet/kube-proxy need it): $(ss -ltnp "sport = :$port" 2>/dev/null | tail -1)"
  done
  # Pod traffic crosses the bridge: let iptables see it (kube-proxy's Service rules), and forward it.
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1 >/dev/null 2>&1 || log "node: WARNING: could not set bridge-nf-call-iptables/ip_forward"

  echo "$ND" > "$OWNER_FILE"
  log "node: starting containerd (snapshotter $SNAPSHOTTER) on $CTRD_SOCK"
  mkdir -p "$(dirname "$CTRD_SOCK")"
  start_daemon containerd "$ND/containerd.log" containerd --config "$ND/containerd/config.toml"
  wait_until 60 containerd ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 \
    || die "node: containerd did not answer; see $ND/containerd.log: $(tail -3 "$ND/containerd.log")"
  ensure_pause

  log "node: starting kube-proxy (iptables mode, cluster CIDR $POD_CIDR)"
  write_kubeconfig "$ND/kube-proxy/kubeconfig" "$(kubectl_admin -n kube-system create token kube-proxy --duration=24h)"
  start_daemon kube-proxy "$ND/kube-proxy.log" "$KUBE_BIN/kube-proxy" --config "$ND/kube-proxy/config.yaml" --v=2

  local started; started=$(date +%s)
  log "node: starting kubelet $NODE_NAME on $ip:$KUBELET_PORT (TLS bootstrap with its own token)"
  start_daemon kubelet "$ND/kubelet.log" "$KUBE_BIN/kubelet" --config "$ND/kubelet/config.yaml" \
    --bootstrap-kubeconfig "$ND/kubelet/bootstrap.kubeconfig" --kubeconfig "$ND/kubelet/kubeconfig" \
    --cert-dir "$ND/kubelet/pki" --root-dir "$ND/kubelet/root" --hostname-override "$NODE_NAME" \
    --node-ip "$ip" --node-labels shipline.io/node=real --v=2
  wait_until 180 ready node_ready "$started" || die "node: $NODE_NAME did not become Ready in 180 s; see $ND/kubelet.log: $(grep -E '^E' "$ND/kubelet.log" | tail -3)"
  wait_until 60 kube-proxy curl -sf --max-time 5 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz" >/dev/null 2>&1 \
    || die "node: kube-proxy is not healthy; see $ND/kube-proxy.log: $(tail -3 "$ND/kube-proxy.log")"
  echo "$sum" > "$ND/config.sum"
  log "node: $NODE_NAME Ready (kubelet $ip:$KUBELET_PORT, pods in $POD_CIDR on $BRIDGE)"
}

case ${1:-} in
  up) node_up ;;
  down) node_down ;;
  *) die "usage: $0 up|down" ;;
esac
