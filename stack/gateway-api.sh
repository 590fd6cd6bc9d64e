#!/usr/bin/env bash
# Gateway API CRDs (standard channel) in the stack's cluster (stack/gateway-api.sh up|down|status), so that
# kubectl-helm-deploy's `canary_route` can weight an HTTPRoute. The YAML comes from the Go module proxy (module
# sigs.k8s.io/gateway-api, config/crd/standard); no gateway implementation runs here: the split is checked on the
# objects. The CRDs go with the cluster, so `down` has nothing to do.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

crd_dir() {
  local dir
  dir=$(GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    python3 -c 'import json,sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error")))') \
    || die "gateway-api: downloading sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION failed"
  echo "$dir/config/crd/standard"
}

case ${1:-} in
  up)
    dir=$(crd_dir)
    # server-side: the CRDs are too large for client-side apply's last-applied annotation
    kubectl_admin apply --server-side --force-conflicts -f "$dir" >/dev/null \
      || die "gateway-api: applying the CRDs from $dir failed"
    kubectl_admin wait --for=condition=Established --timeout=60s crd/httproutes.gateway.networking.k8s.io >/dev/null \
      || die "gateway-api: the HTTPRoute CRD is not Established"
    log "gateway-api: CRDs $GATEWAY_API_VERSION (standard channel) installed" ;;
  down) ;;
  status)
    if kubectl_admin get crd httproutes.gateway.networking.k8s.io >/dev/null 2>&1; then
      echo "gateway-api CRDs installed ($GATEWAY_API_VERSION)"
    else
      echo "gateway-api CRDs missing"; exit 1
    fi ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
