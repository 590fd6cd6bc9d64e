#!/usr/bin/env bash
# Brings the local stack up (idempotent): Docker engine, registry with htpasswd auth, a kwok Kubernetes cluster
# (real etcd, kube-apiserver, kube-controller-manager, kube-scheduler; fake nodes), helm, and a least-privilege
# deployer in $KUBE_NAMESPACE. Everything listens on 127.0.0.1; state lives in .stack/; writes .stack/env.
#
# Environment knobs:
#   KUBE_NAMESPACE               namespace of the deployer (default shipline)
#   SHIPLINE_READY_DELAY_MS      delay before an ordinary pod becomes Ready (default 1000, exact)
#   SHIPLINE_CRASH_INTERVAL_MS   interval of the simulated crash loop of `crash` images (default 2000)
#   DOCKER_HOST                  reuse the Docker engine answering there (else /var/run/docker.sock, else start one)
#   SHIPLINE_CACHE               binary cache (default ~/.cache/shipline)
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
stack_lock "$0" "$@"

KUBE_NAMESPACE=${KUBE_NAMESPACE:-shipline}
READY_DELAY_MS=${SHIPLINE_READY_DELAY_MS:-1000}
CRASH_INTERVAL_MS=${SHIPLINE_CRASH_INTERVAL_MS:-2000}
case $READY_DELAY_MS in ''|*[!0-9]*) die "SHIPLINE_READY_DELAY_MS must be a number of milliseconds, got '$READY_DELAY_MS'" ;; esac
case $CRASH_INTERVAL_MS in ''|*[!0-9]*) die "SHIPLINE_CRASH_INTERVAL_MS must be a number of milliseconds, got '$CRASH_INTERVAL_MS'" ;; esac
[ "$CRASH_INTERVAL_MS" -ge 200 ] || die "SHIPLINE_CRASH_INTERVAL_MS must be at least 200"

start=$(date +%s.%N)
mkdir -p "$STACK_STATE" && chmod 700 "$STACK_STATE"
mkdir -p "$DOCKER_DIR" "$REGISTRY_DIR" "$KWOK_DIR" "$KUBE_DIR"

# ---------------------------------------------------------------------------------------------------------------
# 0. Debian packages (a fresh CI machine has none of them)
ensure_packages() {
  local missing=() pair cmd pkg
  for pair in dockerd:docker.io docker-registry:docker-registry htpasswd:apache2-utils debootstrap:debootstrap \
              curl:curl flock:util-linux python3:python3 \
              containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
              iptables:iptables conntrack:conntrack openssl:openssl; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian packages: ${missing[*]}"
  local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
}
ensure_packages
export PATH=$PATH:/usr/sbin:/sbin

# ---------------------------------------------------------------------------------------------------------------
# 1. Binaries (cached per version; a no-op when the cache is warm)
log "binaries: cache $CACHE/bin (stack/build-bins.sh; cold Kubernetes build takes 10-20 min)"
"$STACK_SRC/build-bins.sh" all >/dev/null || die "building the stack's binaries failed (see output above)"
for b in "$KUBE_BIN/kube-apiserver" "$KUBE_BIN/kube-controller-manager" "$KUBE_BIN/kube-scheduler" \
         "$KUBECTL_BIN/kubectl" "$ETCD_BIN/etcd" "$KWOK_BIN/kwok" "$KWOK_BIN/kwokctl" "$HELM_BIN" \
         "$DRONE_BIN" "$WOODPECKER_BIN" "$PROMETHEUS_BIN"; do
  [ -x "$b" ] || die "missing binary $b after stack/build-bins.sh"
done

# ---------------------------------------------------------------------------------------------------------------
# 2. Docker engine: reuse one that answers, else start our own dockerd under .stack/docker
docker_sock=$DOCKER_DIR/docker.sock
if [ ${#docker_sock} -gt 100 ]; then  # unix socket paths are limited to ~108 bytes
  docker_sock=/tmp/shipline-docker-$(id -u)-$(printf %s "$DOCKER_DIR" | sha256sum | cut -c1-12).sock
fi
our_docker=unix://$docker_sock
docker_owner=
if pid_alive "$DOCKER_DIR/dockerd.pid" dockerd && docker_answers "$our_docker"; then
  DOCKER_HOST=$our_docker docker_owner=stack
  log "docker: our dockerd is running (pid $(cat "$DOCKER_DIR/dockerd.pid")) on $DOCKER_HOST"
elif [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$our_docker" ] && docker_answers "$DOCKER_HOST"; then
  docker_owner=external
  log "docker: reusing the engine answering on DOCKER_HOST=$DOCKER_HOST"
elif docker_answers unix:///var/run/docker.sock; then
  DOCKER_HOST=unix:///var/run/docker.sock docker_owner=external
  log "docker: reusing the engine answering on $DOCKER_HOST"
else
  stop_pid "$DOCKER_DIR/dockerd.pid" dockerd
  rm -f "$docker_sock"
  start_dockerd() {  # storage-driver netmode
    local flags=(--storage-driver "$1")
    [ "$2" = bridge ] || flags+=(--iptables=false --ip6tables=false --bridge=none)
    mkdir -p "$DOCKER_DIR/data" "$DOCKER_DIR/exec"
    setsid dockerd --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/dockerd.pid" \
      -H "unix://$docker_sock" "${flags[@]}" >"$DOCKER_DIR/dockerd.log" 2>&1 </dev/null &
    local pid=$! i  # dockerd writes dockerd.pid itself (and refuses to start if it names a live process)
    for i in $(seq 1 120); do
      docker_answers "unix://$docker_sock" && return 0
      kill -0 "$pid" 2>/dev/null || return 1
      sleep 0.5
    done
    kill "$pid" 2>/dev/null || true
    return 1
  }
  # overlay2 is ~10x faster than vfs for builds (vfs copies the whole image per step); bridge networking lets
  # containers have their own network. Try the best first, remember what worked.
  modes=("overlay2 bridge" "overlay2 none" "vfs bridge" "vfs none")
  saved=$(cat "$DOCKER_DIR/mode" 2>/dev/null || true)
  [ -n "$saved" ] && modes=("$saved" "${modes[@]}")
  mode=
  for candidate in "${modes[@]}"; do
    log "docker: starting dockerd (storage ${candidate% *}, networking ${candidate#* }) on unix://$docker_sock"
    if start_dockerd $candidate; then mode=$candidate; break; fi
    log "docker: that failed: $(grep -iE 'error|fail' "$DOCKER_DIR/dockerd.log" | tail -1 | cut -c1-200)"
    stop_pid "$DOCKER_DIR/dockerd.pid" dockerd
  done
  [ -n "$mode" ] || die "dockerd did not come up; see $DOCKER_DIR/dockerd.log: $(tail -3 "$DOCKER_DIR/dockerd.log")"
  echo "$mode" > "$DOCKER_DIR/mode"
  netmode=${mode#* }
  DOCKER_HOST=$our_docker docker_owner=stack
  log "docker: dockerd up (pid $(cat "$DOCKER_DIR/dockerd.pid"), storage ${mode% *}, networking $netmode)"
fi
echo "$docker_owner" > "$DOCKER_DIR/owner"
export DOCKER_HOST
# The runners' CLIs carry older Docker clients: they are told the engine's API version (DOCKER_API_VERSION).
docker_api=$(docker version --format '{{.Server.APIVersion}}' 2>/dev/null) || die "docker version failed on $DOCKER_HOST"

# ---------------------------------------------------------------------------------------------------------------
# 3. Registry: Debian's docker-registry (distribution) on 127.0.0.1:<port>, htpasswd (bcrypt) auth
REGISTRY_USERNAME=shipline
if [ ! -s "$REGISTRY_DIR/password" ]; then
  (umask 077; python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(32)))' > "$REGISTRY_DIR/password")
  rm -f "$REGISTRY_DIR/htpasswd"
fi
REGISTRY_PASSWORD=$(cat "$REGISTRY_DIR/password")
if [ ! -s "$REGISTRY_DIR/htpasswd" ]; then
  # -i: the password comes on stdin, not in htpasswd's argv
  (umask 077; htpasswd -Bin "$REGISTRY_USERNAME" < "$REGISTRY_DIR/password" > "$REGISTRY_DIR/htpasswd") 2>/dev/null \
    || die "htpasswd -B failed"
fi
[ -s "$REGISTRY_DIR/http-secret" ] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > "$REGISTRY_DIR/http-secret")

registry_auth_status() {  # URL -> HTTP status of /v2/ with credentials (given to curl on stdin, not argv)
  printf 'user = "%s:%s"\n' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" |
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -K - "http://$1/v2/" 2>/dev/null || true
}
registry_port=$(cat "$REGISTRY_DIR/port" 2>/dev/null || true)
if pid_alive "$REGISTRY_DIR/registry.pid" docker-registry && [ -n "$registry_port" ] && [ "$(registry_status "127.0.0.1:$registry_port")" = 401 ]; then
  log "registry: running (pid $(cat "$REGISTRY_DIR/registry.pid")) on 127.0.0.1:$registry_port"
else
  stop_pid "$REGISTRY_DIR/registry.pid" docker-registry
  if [ -z "$registry_port" ] || ! port_free "$registry_port"; then registry_port=$(free_port); fi
  echo "$registry_port" > "$REGISTRY_DIR/port"
  mkdir -p "$REGISTRY_DIR/data"
  cat > "$REGISTRY_DIR/config.yml" <<EOF
# written by stack/up.sh
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$registry_port
  secret: $(cat "$REGISTRY_DIR/http-secret")
auth:
  htpasswd:
    realm: shipline-registry
    path: $REGISTRY_DIR/htpasswd
EOF
  chmod 600 "$REGISTRY_DIR/config.yml"
  start_registry
fi
REGISTRY=127.0.0.1:$registry_port
s_anon=$(registry_status "$REGISTRY"); s_auth=$(registry_auth_status "$REGISTRY")
[ "$s_anon" = 401 ] || die "registry $REGISTRY: /v2/ without credentials answered '$s_anon', expected 401"
[ "$s_auth" = 200 ] || die "registry $REGISTRY: /v2/ with credentials answered '$s_auth', expected 200"
log "registry: $REGISTRY ok (/v2/: 401 without credentials, 200 with)"

# ---------------------------------------------------------------------------------------------------------------
# 4. Kubernetes: kwokctl binary runtime with the locally built binaries, our stages, 2 fake nodes
kwok_config=$KWOK_DIR/kwokctl-config.yaml
cluster_dir=$KWOK_DIR/clusters/$CLUSTER_NAME
pki=$cluster_dir/pki
{
  cat <<EOF
# written by stack/up.sh from stack/kwok/*.yaml; the real node's kubelet listens on $(node_ip)
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  # kwokctl binds every component to 0.0.0.0 by default
  bindAddress: 127.0.0.1
  # used only when no kubectl is on PATH (we put ours first anyway); the default is a dl.k8s.io URL
  kubectlBinary: $KUBECTL_BIN/kubectl
componentsPatches:
- name: kube-apiserver
  extraArgs:
  # the real node's kubelet (stack/node.sh) joins with a bootstrap token (TLS bootstrap), not an admin credential
  - {key: enable-bootstrap-token-auth, value: "true"}
  # kubectl logs/exec: the apiserver authenticates to the kubelet with a client certificate
  - {key: kubelet-client-certificate, value: $pki/admin.crt}
  - {key: kubelet-client-key, value: $pki/admin.key}
  # ... at its InternalIP (the node's name resolves nowhere)
  - {key: kubelet-preferred-address-types, value: "InternalIP,Hostname"}
  # besides the default admission plugins: these three place pods (namespace annotations pick the real node
  # or the kwok nodes) and confine the kubelet to its own Node and pods
  - {key: enable-admission-plugins, value: "NodeRestriction,PodNodeSelector,PodTolerationRestriction"}
# With leader election on, the controller-manager and the scheduler exit when they cannot renew their lease, i.e.
# whenever the API server restarts (fault tests do that). There is only ever one of each here.
- name: kube-controller-manager
  extraArgs:
  - {key: leader-elect, value: "false"}
  # signs the real node's kubelet client certificate (the CSR is approved automatically for bootstrap-token users)
  - {key: cluster-signing-cert-file, value: $pki/ca.crt}
  - {key: cluster-signing-key-file, value: $pki/ca.key}
- name: kube-scheduler
  extraArgs:
  - {key: leader-elect, value: "false"}
- name: kwok-controller
  extraArgs:
  # only the fake nodes (kwokctl's node template annotates them): the real node's pods are the kubelet's
  - {key: manage-all-nodes, value: "false", override: true}
  - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
EOF
  echo "---"
  cat "$STACK_SRC/kwok/stages-fast.yaml"
  echo "---"
  sed -e "s/__READY_DELAY_MS__/$READY_DELAY_MS/g" -e "s/__CRASH_INTERVAL_MS__/$CRASH_INTERVAL_MS/g" "$STACK_SRC/kwok/stages-shipline.yaml"
} > "$kwok_config.new"
mv "$kwok_config.new" "$kwok_config"
# The cluster is recreated when its configuration (stages, delays, versions) changed.
config_sum=$( { cat "$kwok_config"; echo "$KUBE_VERSION $ETCD_VERSION $KWOK_VERSION"; } | sha256sum | cut -c1-16)
ADMIN_KUBECONFIG=$cluster_dir/kubeconfig.yaml
contexts_kubeconfig=$KWOK_DIR/contexts.kubeconfig  # kwokctl adds/removes its context here, not in ~/.kube/config

kube_ready() { kubectl_admin get --raw /readyz --request-timeout=5s >/dev/null 2>&1; }
create_cluster() {
  log "kubernetes: creating kwok cluster '$CLUSTER_NAME' (Kubernetes $KUBE_VERSION, binary runtime)"
  kwokctl_stack --config "$kwok_config" create cluster --name "$CLUSTER_NAME" --runtime binary \
    --kubeconfig "$contexts_kubeconfig" \
    --kube-apiserver-binary "$KUBE_BIN/kube-apiserver" \
    --kube-controller-manager-binary "$KUBE_BIN/kube-controller-manager" \
    --kube-scheduler-binary "$KUBE_BIN/kube-scheduler" \
    --etcd-binary "$ETCD_BIN/etcd" \
    --kwok-controller-binary "$KWOK_BIN/kwok" \
    --quiet-pull --wait 120s >"$KWOK_DIR/create.log" 2>&1 \
    || die "kwokctl create cluster failed; see $KWOK_DIR/create.log and $cluster_dir/logs: $(tail -5 "$KWOK_DIR/create.log")"
  echo "$config_sum" > "$KWOK_DIR/config.sum"
}
delete_cluster() {
  kwokctl_stack delete cluster --name "$CLUSTER_NAME" --kubeconfig "$contexts_kubeconfig" >"$KWOK_DIR/delete.log" 2>&1 || true
  rm -rf "$cluster_dir"
}
if [ -f "$cluster_dir/kwok.yaml" ]; then
  if [ "$(cat "$KWOK_DIR/config.sum" 2>/dev/null)" != "$config_sum" ]; then
    log "kubernetes: cluster configuration changed (stages/delays/versions): recreating the cluster"
    delete_cluster; create_cluster
  else
    # Every component alive and healthy; what died (an API server restart used to take the controller-manager
    # and the scheduler with it) is started again.
    log "kubernetes: checking every component of cluster '$CLUSTER_NAME' (stack/cluster.sh heal)"
    if ! "$STACK_SRC/cluster.sh" heal; then
      log "kubernetes: the cluster did not heal: recreating it"
      delete_cluster; create_cluster
    fi
  fi
else
  [ -d "$cluster_dir" ] && delete_cluster
  create_cluster
fi
for i in $(seq 1 120); do kube_ready && break; sleep 0.5; done
kube_ready || die "kube-apiserver does not answer /readyz; see $cluster_dir/logs/"
"$STACK_SRC/cluster.sh" heal || die "the cluster's components are not all healthy; see stack/cluster.sh status and $cluster_dir/logs/"
log "kubernetes: every component healthy: $("$STACK_SRC/cluster.sh" status | awk 'NR > 1 { printf "%s%s", sep, $1; sep = ", " }')"
[ -z "$(ls -A "$KWOK_DIR/cache" 2>/dev/null)" ] || log "WARNING: kwokctl cached downloads in $KWOK_DIR/cache: $(ls "$KWOK_DIR/cache")"

nodes=$(kubectl_admin get nodes -l type=kwok -o name 2>/dev/null | wc -l)
if [ "$nodes" -lt 2 ]; then
  log "kubernetes: scaling fake nodes to 2"
  kwokctl_stack --name "$CLUSTER_NAME" scale node --replicas 2 >"$KWOK_DIR/scale.log" 2>&1 \
    || die "kwokctl scale node failed: $(tail -3 "$KWOK_DIR/scale.log")"
fi
kubectl_admin wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null \
  || die "fake nodes did not become Ready; see $cluster_dir/logs/kwok-controller.log"
# Only pods that tolerate this taint land on the fake nodes (namespaces annotated by stack/placement.sh kwok);
# every other pod goes to the real node.
kubectl_admin taint nodes -l type=kwok "$KWOK_TAINT" --overwrite >/dev/null || die "tainting the kwok nodes failed"
KUBE_SERVER=$(kubectl_admin config view --minify -o jsonpath='{.clusters[0].cluster.server}')
KUBE_CA_FILE=$cluster_dir/pki/ca.crt
[ -s "$KUBE_CA_FILE" ] || die "cluster CA $KUBE_CA_FILE missing"
log "kubernetes: $KUBE_SERVER ready, $(kubectl_admin get nodes -l type=kwok --no-headers | grep -c ' Ready') fake nodes Ready"

# ---------------------------------------------------------------------------------------------------------------
# 5. Deployer: namespace, ServiceAccount, Role, RoleBinding from stack/rbac-deployer.yaml, and a fresh token
sed "s/\${KUBE_NAMESPACE}/$KUBE_NAMESPACE/g" "$STACK_SRC/rbac-deployer.yaml" | kubectl_admin apply -f - >/dev/null \
  || die "applying stack/rbac-deployer.yaml to namespace $KUBE_NAMESPACE failed"
for i in $(seq 1 60); do kubectl_admin -n "$KUBE_NAMESPACE" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done
# TokenRequest API (what `kubectl create token` calls); reissued on every `up`.
KUBE_TOKEN=$(kubectl_admin -n "$KUBE_NAMESPACE" create token deployer --duration=24h) \
  || die "TokenRequest for $KUBE_NAMESPACE/deployer failed"
can() { kubectl_admin auth can-i --as "system:serviceaccount:$KUBE_NAMESPACE:deployer" "$@" 2>/dev/null; }
[ "$(can create deployments.apps -n "$KUBE_NAMESPACE")" = yes ] || die "deployer cannot create deployments in $KUBE_NAMESPACE"
[ "$(can create deployments.apps -n default)" = no ] || die "deployer can create deployments outside $KUBE_NAMESPACE"
# A kubeconfig with the deployer token (mode 0600), for helm/kubectl as the deployer.
DEPLOYER_KUBECONFIG=$KUBE_DIR/deployer.kubeconfig
(umask 077; cat > "$DEPLOYER_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: shipline
  cluster:
    server: $KUBE_SERVER
    certificate-authority: $KUBE_CA_FILE
users:
- name: deployer
  user:
    token: $KUBE_TOKEN
contexts:
- name: deployer@shipline
  context:
    cluster: shipline
    user: deployer
    namespace: $KUBE_NAMESPACE
current-context: deployer@shipline
EOF
)
place_namespace "$KUBE_NAMESPACE" kwok || die "annotating namespace $KUBE_NAMESPACE failed"
log "deployer: namespace $KUBE_NAMESPACE (pods on the kwok nodes), serviceaccount deployer, token valid 24h"

# ---------------------------------------------------------------------------------------------------------------
# 6. The real node (kubelet + containerd + CNI + kube-proxy), see stack/node.sh
real_node=$REAL_NODE_NAME
REGISTRY=$REGISTRY REGISTRY_USERNAME=$REGISTRY_USERNAME REGISTRY_PASSWORD=$REGISTRY_PASSWORD KUBE_SERVER=$KUBE_SERVER \
  KUBE_CA_FILE=$KUBE_CA_FILE DOCKER_HOST=$DOCKER_HOST "$STACK_SRC/node.sh" up || case $? in
    10) real_node= ;;  # another checkout runs this machine's real node: REAL_NODE stays empty
    *) die "the real node did not come up" ;;
  esac
# The example app's behaviours as images in the registry, for the real node's tests and demo
REGISTRY=$REGISTRY REGISTRY_USERNAME=$REGISTRY_USERNAME REGISTRY_PASSWORD=$REGISTRY_PASSWORD DOCKER_HOST=$DOCKER_HOST \
  "$STACK_SRC/app-images.sh" || die "building the example app images failed"

# Optional components, each its own script writing its $ENV_D/<name>.env: Gateway API CRDs (canary_route) and
# Prometheus scraping the real node's pods (canary analysis)
"$STACK_SRC/gateway-api.sh" up || die "installing the Gateway API CRDs failed"
"$STACK_SRC/prometheus.sh" up || die "Prometheus did not come up"

# ---------------------------------------------------------------------------------------------------------------
# 7. helm
helm_version=$("$HELM_BIN" version --template '{{.Version}}' 2>/dev/null) || die "helm $HELM_BIN does not run"
log "helm: $HELM_BIN ($helm_version)"

# ---------------------------------------------------------------------------------------------------------------
# 8. Optional components: each its own script, writing its lines to $ENV_D/<name>.env
"$STACK_SRC/buildkit.sh" up || die "BuildKit (stack/buildkit.sh) did not come up"

# ---------------------------------------------------------------------------------------------------------------
# 9. .stack/env
q() { case $1 in *[!A-Za-z0-9_./:@%+=,-]*) printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")" ;; *) printf %s "$1" ;; esac; }
(umask 077; {
  echo "# written by stack/up.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ); shell-sourceable, secrets inside (mode 0600)"
  echo "DOCKER_HOST=$(q "$DOCKER_HOST")"
  echo "DOCKER_OWNER=$docker_owner"
  echo "REGISTRY=$REGISTRY"
  echo "REGISTRY_USERNAME=$REGISTRY_USERNAME"
  echo "REGISTRY_PASSWORD=$REGISTRY_PASSWORD"
  echo "KUBECONFIG=$(q "$ADMIN_KUBECONFIG")"
  echo "KUBE_SERVER=$KUBE_SERVER"
  echo "KUBE_CA_FILE=$(q "$KUBE_CA_FILE")"
  echo "KUBE_NAMESPACE=$KUBE_NAMESPACE"
  echo "KUBE_TOKEN=$KUBE_TOKEN"
  echo "KUBE_DEPLOYER_KUBECONFIG=$(q "$DEPLOYER_KUBECONFIG")"
  echo "KUBE_VERSION=$KUBE_VERSION"
  echo "KUBECTL=$(q "$KUBECTL_BIN/kubectl")"
  echo "HELM_BIN=$(q "$HELM_BIN")"
  echo "DRONE_BIN=$(q "$DRONE_BIN")"
  echo "WOODPECKER_BIN=$(q "$WOODPECKER_BIN")"
  echo "DOCKER_ENGINE_API_VERSION=$docker_api"
  echo "KWOK_BIN=$(q "$KWOK_BIN")"
  echo "KWOK_WORKDIR=$(q "$KWOK_DIR")"
  echo "KWOK_CLUSTER=$CLUSTER_NAME"
  echo "RBAC_TEMPLATE=$(q "$STACK_SRC/rbac-deployer.yaml")"
  echo "SHIPLINE_READY_DELAY_MS=$READY_DELAY_MS"
  echo "SHIPLINE_CRASH_INTERVAL_MS=$CRASH_INTERVAL_MS"
  echo "REAL_NODE=$real_node"
  echo "KWOK_TAINT=$KWOK_TAINT"
  echo "NODE_DIR=$(q "$NODE_DIR")"
  echo "APP_IMAGE_REPO=$REGISTRY/shipline/example-app"
  # Lines of optional components (Prometheus, BuildKit, ...), each written by its own script to env.d/<name>.env
  cat "$ENV_D"/*.env 2>/dev/null || true
} > "$ENV_FILE.new")
mv "$ENV_FILE.new" "$ENV_FILE"
log "stack up in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)") s; environment in $ENV_FILE"
