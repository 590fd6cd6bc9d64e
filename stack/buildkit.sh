#!/usr/bin/env bash
# BuildKit for the stack (optional component, called by stack/up.sh and stack/down.sh):
#   - buildkitd (github.com/moby/buildkit, built by stack/build-bins.sh) with the OCI worker on Debian's runc,
#     listening on tcp://127.0.0.1:<port> with mutual TLS: server and client certificates of the stack CA
#     (stack/common.sh stack_ca); it pulls from and pushes to the stack's registry over plain HTTP (the
#     credentials come from the client's session, i.e. buildctl's $DOCKER_CONFIG) and trusts the stack CA for
#     the TLS registry below.
#   - a second docker-registry served over TLS by a certificate of the stack CA (own storage, the same htpasswd),
#     so that private-CA registries are tested for real.
# Writes BUILDKIT_ADDR, BUILDKIT_CA_FILE, BUILDKIT_CERT_FILE, BUILDKIT_KEY_FILE, BUILDCTL_BIN, BUILDKITD_BIN,
# REGISTRY_TLS and REGISTRY_CA_FILE to $ENV_D/buildkit.env (up.sh appends it to .stack/env).
#
#   stack/buildkit.sh up|down|status
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

BK_DIR=$STACK_STATE/buildkit
BK_BIN=$CACHE/bin/buildkit-$BUILDKIT_VERSION
BUILDCTL=$CACHE/bin/buildctl-$BUILDKIT_VERSION/buildctl
TLS_REG_DIR=$STACK_STATE/registry-tls
ENV_OUT=$ENV_D/buildkit.env

bk_answers() {  # buildctl reaches buildkitd over mutual TLS
  "$BUILDCTL" --addr "tcp://127.0.0.1:$(cat "$BK_DIR/port" 2>/dev/null)" --tlscacert "$CA_DIR/ca.crt" \
    --tlscert "$BK_DIR/pki/client.crt" --tlskey "$BK_DIR/pki/client.key" --timeout 5 debug workers >/dev/null 2>&1
}
tls_registry_status() {  # HTTP status of /v2/ without credentials, over TLS verified by the stack CA
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CA_DIR/ca.crt" \
    "https://127.0.0.1:$(cat "$TLS_REG_DIR/port" 2>/dev/null)/v2/" 2>/dev/null || true
}

pick_port() {  # FILE: the port recorded there when still free, else a new free one (recorded)
  local port; port=$(cat "$1" 2>/dev/null || true)
  if [ -z "$port" ] || ! port_free "$port"; then port=$(free_port); echo "$port" > "$1"; fi
}

up_tls_registry() {
  if pid_alive "$TLS_REG_DIR/registry.pid" docker-registry && [ "$(tls_registry_status)" = 401 ]; then
    log "registry-tls: running on https://127.0.0.1:$(cat "$TLS_REG_DIR/port")"; return 0
  fi
  stop_pid "$TLS_REG_DIR/registry.pid" docker-registry
  mkdir -p "$TLS_REG_DIR/data" && chmod 700 "$TLS_REG_DIR"
  pick_port "$TLS_REG_DIR/port"
  issue_cert "$TLS_REG_DIR" server "shipline registry (TLS)" server
  [ -s "$REGISTRY_DIR/htpasswd" ] || die "registry-tls: $REGISTRY_DIR/htpasswd missing (stack/up.sh makes it)"
  (umask 077; cat > "$TLS_REG_DIR/config.yml" <<EOF
# written by stack/buildkit.sh: the stack's registry credentials, served over TLS by a stack-CA certificate
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $TLS_REG_DIR/data}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$(cat "$TLS_REG_DIR/port")
  secret: $(cat "$REGISTRY_DIR/http-secret")
  tls: {certificate: $TLS_REG_DIR/server.crt, key: $TLS_REG_DIR/server.key}
auth:
  htpasswd: {realm: shipline-registry-tls, path: $REGISTRY_DIR/htpasswd}
EOF
  )
  log "registry-tls: starting docker-registry on https://127.0.0.1:$(cat "$TLS_REG_DIR/port")"
  setsid docker-registry serve "$TLS_REG_DIR/config.yml" >>"$TLS_REG_DIR/registry.log" 2>&1 </dev/null &
  echo $! > "$TLS_REG_DIR/registry.pid"
  local i
  for i in $(seq 1 120); do
    [ "$(tls_registry_status)" = 401 ] && return 0
    pid_alive "$TLS_REG_DIR/registry.pid" docker-registry || die "registry-tls exited: $(tail -3 "$TLS_REG_DIR/registry.log")"
    sleep 0.25
  done
  die "registry-tls does not answer /v2/ over TLS after 30 s"
}

up_buildkitd() {
  local registry_port; registry_port=$(cat "$REGISTRY_DIR/port" 2>/dev/null) || die "the stack's registry has no port (run stack/up.sh)"
  mkdir -p "$BK_DIR/root" && chmod 700 "$BK_DIR"
  issue_cert "$BK_DIR/pki" server "shipline buildkitd" server
  issue_cert "$BK_DIR/pki" client "shipline buildctl" client
  local runc; runc=$(command -v runc || echo /usr/sbin/runc)
  [ -x "$runc" ] || die "buildkitd: no runc (apt-get install runc)"
  local toml=$BK_DIR/buildkitd.toml port
  port=$(cat "$BK_DIR/port" 2>/dev/null || true)
  # The configuration without the port decides whether a running daemon is still the right one.
  local want; want=$(cat <<EOF
# written by stack/buildkit.sh
root = "$BK_DIR/root"
[grpc.tls]
  cert = "$BK_DIR/pki/server.crt"
  key = "$BK_DIR/pki/server.key"
  ca = "$CA_DIR/ca.crt"
[worker.oci]
  enabled = true
  binary = "$runc"
  # auto: overlayfs where the kernel allows it (native copies the whole root file system for every RUN step:
  # ~10x slower, like Docker's vfs), else native
  snapshotter = "auto"
  gc = true
  maxUsedSpace = "8GB"
  max-parallelism = 2
[worker.containerd]
  enabled = false
[registry."127.0.0.1:$registry_port"]
  http = true
# BuildKit speaks plain HTTP to loopback registries unless told otherwise (http = false)
[registry."127.0.0.1:$(cat "$TLS_REG_DIR/port")"]
  http = false
  ca = ["$CA_DIR/ca.crt"]
EOF
)
  if pid_alive "$BK_DIR/buildkitd.pid" buildkitd && [ "$(sed '/^\[grpc\]$/,/^  address/d' "$toml" 2>/dev/null)" = "$want" ] && bk_answers; then
    log "buildkitd: running (pid $(cat "$BK_DIR/buildkitd.pid")) on tcp://127.0.0.1:$port (mutual TLS)"; return 0
  fi
  stop_pid "$BK_DIR/buildkitd.pid" buildkitd
  pick_port "$BK_DIR/port"; port=$(cat "$BK_DIR/port")
  { printf '[grpc]\n  address = ["tcp://127.0.0.1:%s"]\n' "$port"; echo "$want"; } > "$toml.new"
  # [grpc] comes before its [grpc.tls] table; the comparison above drops exactly these two lines.
  mv "$toml.new" "$toml"
  log "buildkitd: starting BuildKit $BUILDKIT_VERSION on tcp://127.0.0.1:$port (OCI worker, $runc)"
  setsid "$BK_BIN/buildkitd" --config "$toml" >>"$BK_DIR/buildkitd.log" 2>&1 </dev/null &
  echo $! > "$BK_DIR/buildkitd.pid"
  local i
  for i in $(seq 1 120); do
    bk_answers && { log "buildkitd: up, workers: $("$BUILDCTL" --addr "tcp://127.0.0.1:$port" --tlscacert "$CA_DIR/ca.crt" --tlscert "$BK_DIR/pki/client.crt" --tlskey "$BK_DIR/pki/client.key" debug workers | awk 'NR > 1 { print $2 }' | paste -sd' ')"; return 0; }
    pid_alive "$BK_DIR/buildkitd.pid" buildkitd || die "buildkitd exited: $(tail -5 "$BK_DIR/buildkitd.log")"
    sleep 0.5
  done
  die "buildkitd does not answer on tcp://127.0.0.1:$port after 60 s; see $BK_DIR/buildkitd.log"
}

write_env() {
  mkdir -p "$ENV_D"
  (umask 077; cat > "$ENV_OUT.new" <<EOF
BUILDKIT_ADDR=tcp://127.0.0.1:$(cat "$BK_DIR/port")
BUILDKIT_CA_FILE=$CA_DIR/ca.crt
BUILDKIT_CERT_FILE=$BK_DIR/pki/client.crt
BUILDKIT_KEY_FILE=$BK_DIR/pki/client.key
BUILDCTL_BIN=$BUILDCTL
BUILDKITD_BIN=$BK_BIN/buildkitd
REGISTRY_TLS=127.0.0.1:$(cat "$TLS_REG_DIR/port")
REGISTRY_CA_FILE=$CA_DIR/ca.crt
EOF
  ) && mv "$ENV_OUT.new" "$ENV_OUT"
}

case ${1:-} in
  up)
    stack_lock "$0" "$@"
    [ -x "$BK_BIN/buildkitd" ] && [ -x "$BUILDCTL" ] || "$STACK_SRC/build-bins.sh" buildkit >/dev/null \
      || die "building BuildKit failed"
    command -v openssl >/dev/null || die "openssl is needed for the stack CA"
    up_tls_registry
    up_buildkitd
    write_env
    log "buildkit: $ENV_OUT written"
    ;;
  down)
    stack_lock "$0" "$@"
    stop_pid "$BK_DIR/buildkitd.pid" buildkitd
    stop_pid "$TLS_REG_DIR/registry.pid" docker-registry
    rm -f "$ENV_OUT"
    ;;
  status)
    if pid_alive "$BK_DIR/buildkitd.pid" buildkitd && bk_answers; then echo "buildkitd   up  tcp://127.0.0.1:$(cat "$BK_DIR/port")"
    else echo "buildkitd   down"; fi
    if pid_alive "$TLS_REG_DIR/registry.pid" docker-registry && [ "$(tls_registry_status)" = 401 ]; then
      echo "registry-tls up  https://127.0.0.1:$(cat "$TLS_REG_DIR/port")"
    else echo "registry-tls down"; fi
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
