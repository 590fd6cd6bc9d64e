# Sourced by stack/up.sh, stack/down.sh and stack/base-image.sh: paths, versions and small helpers.
# All state lives under $STACK_STATE (default <repo>/.stack, git-ignored); binaries live in the cache
# ($SHIPLINE_CACHE, default ~/.cache/shipline) built by stack/build-bins.sh.
set -euo pipefail

STACK_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$STACK_SRC/.." && pwd)
STACK_STATE=${SHIPLINE_STACK_DIR:-$REPO_ROOT/.stack}
# shellcheck source=versions.env
. "$STACK_SRC/versions.env"
CACHE=${SHIPLINE_CACHE:-$HOME/.cache/shipline}
KUBE_BIN=$CACHE/bin/kube-$KUBE_VERSION
KUBECTL_BIN=$CACHE/bin/kubectl-$KUBE_VERSION
ETCD_BIN=$CACHE/bin/etcd-$ETCD_VERSION
KWOK_BIN=$CACHE/bin/kwok-$KWOK_VERSION
HELM_BIN=$CACHE/bin/helm-$HELM_VERSION/helm
DRONE_BIN=$CACHE/bin/drone-$DRONE_CLI_VERSION/drone
WOODPECKER_BIN=$CACHE/bin/woodpecker-$WOODPECKER_VERSION/woodpecker-cli
PROMETHEUS_BIN=$CACHE/bin/prometheus-$PROMETHEUS_VERSION/prometheus
CLUSTER_NAME=shipline
REAL_NODE_NAME=shipline-real
# On the kwok nodes (kwok's own key): pods land there only when they tolerate it.
KWOK_TAINT=kwok.x-k8s.io/node=fake:NoSchedule

DOCKER_DIR=$STACK_STATE/docker
REGISTRY_DIR=$STACK_STATE/registry
KWOK_DIR=$STACK_STATE/kwok
KUBE_DIR=$STACK_STATE/kube
NODE_DIR=$STACK_STATE/node
ENV_FILE=$STACK_STATE/env
ENV_D=$STACK_STATE/env.d  # one <component>.env per optional component, appended to $ENV_FILE by up.sh

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[stack] FAILED: %s\n' "$*" >&2; exit 1; }

# pid_alive PIDFILE COMM: the pid in PIDFILE is a running process named COMM (so a recycled pid is never ours),
# and not a zombie (a killed daemon nobody has reaped still answers kill -0).
pid_alive() {
  [ -s "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$2" ] \
    && case $(ps -o stat= -p "$pid" 2>/dev/null) in Z*) false ;; *) true ;; esac
}

# stop_pid PIDFILE COMM: TERM, wait up to 20 s, then KILL; removes the pidfile.
stop_pid() {
  local pidfile=$1 name=$2 pid i
  if pid_alive "$pidfile" "$name"; then
    pid=$(cat "$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "$name did not stop on TERM: KILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
  rm -f "$pidfile"
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# docker_answers DOCKER_HOST: a Docker engine answers there.
docker_answers() {
  local host=$1
  case $host in
    unix://*) curl -sf --max-time 5 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null 2>&1 ;;
    *) DOCKER_HOST=$host timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ;;
  esac
}

registry_status() {  # HOST:PORT -> HTTP status of /v2/ without credentials
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$1/v2/" 2>/dev/null || true
}

# start_registry: docker-registry with the config up.sh wrote, on its recorded port; waits until /v2/ answers.
start_registry() {
  local port i; port=$(cat "$REGISTRY_DIR/port")
  log "registry: starting docker-registry on 127.0.0.1:$port"
  setsid docker-registry serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_DIR/registry.log" 2>&1 </dev/null &
  echo $! > "$REGISTRY_DIR/registry.pid"
  for i in $(seq 1 120); do
    [ "$(registry_status "127.0.0.1:$port")" = 401 ] && return 0
    pid_alive "$REGISTRY_DIR/registry.pid" docker-registry || die "docker-registry exited; see $REGISTRY_DIR/registry.log: $(tail -3 "$REGISTRY_DIR/registry.log")"
    sleep 0.25
  done
  die "docker-registry on 127.0.0.1:$port does not answer /v2/ after 30 s"
}

# The admin kubectl of the stack (version-matched, built into the cache).
kubectl_admin() { "$KUBECTL_BIN/kubectl" --kubeconfig "$KWOK_DIR/clusters/$CLUSTER_NAME/kubeconfig.yaml" "$@"; }

# node_ip: the machine's address for the real node's kubelet (the kubelet refuses loopback): the default route's
# source, else the first global IPv4 address.
node_ip() {
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit }}')
  [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  [ -n "$ip" ] || die "no global IPv4 address for the real node's kubelet (it refuses loopback)"
  echo "$ip"
}

# place_namespace NS real|kwok: where the namespace's pods run, by namespace annotations read by the admission
# plugins PodNodeSelector and PodTolerationRestriction (tests/integration/conftest.py does the same).
place_namespace() {
  local ns=$1 where=$2 selector tolerations='[]'
  case $where in
    real) selector=shipline.io/node=real ;;
    kwok) selector=type=kwok
          tolerations='[{"key":"kwok.x-k8s.io/node","operator":"Equal","value":"fake","effect":"NoSchedule"}]' ;;
    *) die "place_namespace: real or kwok, got '$where'" ;;
  esac
  kubectl_admin annotate --overwrite namespace "$ns" "scheduler.alpha.kubernetes.io/node-selector=$selector" \
    "scheduler.alpha.kubernetes.io/defaultTolerations=$tolerations" >/dev/null
}

# kwokctl with the stack's work dir, the stack's kubectl first on PATH, and no way to download anything:
# every proxy variable points at a closed port. Loopback (the cluster itself) and the real node's address (the
# apiserver dials its kubelet for logs/exec) are never proxied; the components inherit this environment.
kwokctl_stack() {
  local no_proxy; no_proxy=127.0.0.1,localhost,$(node_ip)
  env KWOK_WORKDIR="$KWOK_DIR" KWOK_KUBE_VERSION="$KUBE_VERSION" PATH="$KUBECTL_BIN:$PATH" \
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
    NO_PROXY="$no_proxy" no_proxy="$no_proxy" \
    "$KWOK_BIN/kwokctl" "$@"
}

# stack_lock SCRIPT ARGS...: re-runs SCRIPT under an exclusive lock on $STACK_STATE/.lock, so concurrent
# `make up` / `make down` / `make test` wait for each other. flock -o: the daemons started under the lock
# do not inherit (and hold) it.
stack_lock() {
  [ -n "${SHIPLINE_STACK_LOCKED:-}" ] && return 0
  mkdir -p "$STACK_STATE" && chmod 700 "$STACK_STATE"
  SHIPLINE_STACK_LOCKED=1 exec flock -o "$STACK_STATE/.lock" "$@"
}

# The stack's own CA for the TLS endpoints optional components serve (BuildKit's mutual TLS, the TLS registry):
# made once under $STACK_STATE/ca, never trusted system-wide. (The Kubernetes CA is kwokctl's; this one is ours.)
CA_DIR=$STACK_STATE/ca
stack_ca() {
  [ -s "$CA_DIR/ca.crt" ] && [ -s "$CA_DIR/ca.key" ] && return 0
  mkdir -p "$CA_DIR" && chmod 700 "$CA_DIR"
  (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=shipline stack CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.crt" 2>/dev/null) \
    || die "openssl could not make the stack CA in $CA_DIR"
  log "ca: made the stack CA $CA_DIR/ca.crt"
}

# issue_cert DIR NAME CN server|client: DIR/NAME.crt and DIR/NAME.key signed by the stack CA (a server cert is
# valid for 127.0.0.1 and localhost; key identifiers because Python 3.13+ verifies strictly). Kept while it is
# still signed by the current CA.
issue_cert() {
  local dir=$1 name=$2 cn=$3 usage=$4 ext
  stack_ca
  if [ -s "$dir/$name.crt" ] && openssl verify -CAfile "$CA_DIR/ca.crt" "$dir/$name.crt" >/dev/null 2>&1; then return 0; fi
  mkdir -p "$dir"
  case $usage in
    server) ext="extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost" ;;
    client) ext="extendedKeyUsage=clientAuth" ;;
    *) die "issue_cert: server or client, got '$usage'" ;;
  esac
  (umask 077
   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
     -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null &&
   openssl x509 -req -in "$dir/$name.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" -CAcreateserial -days 825 \
     -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n%s\n' "$ext") \
     -out "$dir/$name.crt" 2>/dev/null) || die "openssl could not issue $dir/$name.crt"
  rm -f "$dir/$name.csr"
}
