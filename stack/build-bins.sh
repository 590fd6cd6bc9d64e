#!/usr/bin/env bash
# Builds the local stack's Kubernetes binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy),
# kubectl, etcd, kwok, kwokctl, helm, the two CI runners' CLIs (drone, woodpecker-cli), Prometheus and BuildKit
# (buildkitd, buildctl) from the Go module proxy into a per-version cache outside the repository.
# Each component is skipped when its cached binaries exist. Prints the bin directory of each on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
cache=${SHIPLINE_CACHE:-$HOME/.cache/shipline}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
log() { echo "[build-bins] $*" >&2; }

# build_wrapper DIR MODULE VERSION REPLACES_FROM PKG... : a throwaway module that requires MODULE and maps each
# relative `replace` of MODULE's own go.mod to the published module of the same name (see test-stack.md).
wrapper_gomod() {
  local module=$1 version=$2 relprefix=$3 replver=$4
  local gomod
  gomod=$("$GO" mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  echo "module shipline.local/stackbins"
  echo "go 1.26.0"
  echo "require $module $version"
  python3 - "$gomod" "$relprefix" "$replver" <<'PY'
import re, sys
text, prefix, ver = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
for mod in sorted(set(re.findall(r'^\s*(?:replace\s+)?(\S+)\s*=>\s*' + re.escape(prefix), text, re.M))):
    print(f"replace {mod} => {mod} {ver}")
PY
}

# kube_wrapper DIR: the throwaway wrapper module for k8s.io/kubernetes $KUBE_VERSION (replaces -> published staging modules).
kube_wrapper() {
  local w=$1
  wrapper_gomod k8s.io/kubernetes "$KUBE_VERSION" ./staging "v0.${KUBE_VERSION#v1.}" > "$w/go.mod"
  (cd "$w" && "$GO" get k8s.io/kubernetes/cmd/kube-apiserver@"$KUBE_VERSION" >&2)
}

# build_k8s OUT PKG...: builds Kubernetes commands, version-stamped (kwokctl runs each with --version to pick flags).
build_k8s() {
  local out=$1; shift
  local w; w=$(mktemp -d); mkdir -p "$out.tmp"
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  kube_wrapper "$w"
  (cd "$w" &&
    "$GO" build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
      -o "$out.tmp/" "$@" >&2)
  rm -rf "$w" "$out"; mv "$out.tmp" "$out"; echo "$out"
}

build_kube() {
  local out=$cache/bin/kube-$KUBE_VERSION
  if [ -x "$out/kube-proxy" ]; then echo "$out"; return; fi
  log "building Kubernetes $KUBE_VERSION (cold: 10-20 minutes on 2 cores)"
  # kubelet and kube-proxy come from the same build as the control plane: the real node (stack/node.sh) runs them.
  build_k8s "$out" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
}

# kubectl of the same version: kwokctl needs one on PATH (or downloads it), and a distro/SDK kubectl may be
# missing or several minors away from the server. Warm after build_kube: it shares the Go build cache.
build_kubectl() {
  local out=$cache/bin/kubectl-$KUBE_VERSION
  if [ -x "$out/kubectl" ]; then echo "$out"; return; fi
  log "building kubectl $KUBE_VERSION"
  build_k8s "$out" k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local out=$cache/bin/etcd-$ETCD_VERSION
  if [ -x "$out/etcd" ]; then echo "$out"; return; fi
  log "building etcd $ETCD_VERSION"
  local w; w=$(mktemp -d); mkdir -p "$out.tmp"
  wrapper_gomod go.etcd.io/etcd/server/v3 "$ETCD_VERSION" ../ "$ETCD_VERSION" > "$w/go.mod"
  # The relative replaces in etcd's go.mod name sibling modules (../api -> go.etcd.io/etcd/api/v3, ...).
  (cd "$w" && "$GO" get go.etcd.io/etcd/server/v3@"$ETCD_VERSION" >&2 &&
    "$GO" build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3 >&2)
  rm -rf "$w" "$out"; mv "$out.tmp" "$out"; echo "$out"
}

build_go_install() {  # name version ldflags pkg...
  local name=$1 version=$2 ldflags=$3; shift 3
  local out=$cache/bin/$name-$version
  if [ -d "$out" ]; then echo "$out"; return; fi
  log "building $name $version"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  local pkgs=(); for p in "$@"; do pkgs+=("$p@$version"); done
  GOBIN="$out.tmp" GOFLAGS= "$GO" install -trimpath -ldflags "-s -w $ldflags" "${pkgs[@]}" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"; echo "$out"
}
build_kwok() { build_go_install kwok "$KWOK_VERSION" "" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl; }
# helm's own Makefile stamps the version; `go install` alone would report the major.minor default ("v3.22").
build_helm() {
  local out=$cache/bin/helm-$HELM_VERSION
  if [ -x "$out/helm" ] && [ "$("$out/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]; then
    log "helm in $out is not stamped $HELM_VERSION: rebuilding"; rm -rf "$out"
  fi
  build_go_install helm "$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" helm.sh/helm/v3/cmd/helm
}

# build_in_module NAME VERSION MODULE [GO BUILD FLAGS... --] PKG BINARY [PKG BINARY]...: builds each PKG inside
# MODULE's own downloaded module (a writable copy), so its go.mod's `replace`/`exclude` directives apply
# (`go install MODULE/...@VERSION` ignores or refuses them). Flags given replace the default `-ldflags "-s -w"`.
build_in_module() {
  local name=$1 version=$2 module=$3; shift 3
  local flags=(-ldflags "-s -w") args out=$cache/bin/$name-$version missing= i
  case " $* " in *" -- "*) flags=(); while [ "$1" != -- ]; do flags+=("$1"); shift; done; shift ;; esac
  args=("$@")
  for ((i = 1; i < ${#args[@]}; i += 2)); do [ -x "$out/${args[i]}" ] || missing=1; done
  if [ -z "$missing" ]; then echo "$out"; return; fi
  log "building $name $version ($module, inside its module)"
  local dir w; w=$(mktemp -d)
  dir=$("$GO" mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$dir/." "$w/" && chmod -R u+w "$w"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    (cd "$w" && GOWORK=off "$GO" build -trimpath "${flags[@]}" -o "$out.tmp/${args[i + 1]}" "${args[i]}" >&2)
  done
  rm -rf "$w" "$out"; mv "$out.tmp" "$out"; echo "$out"
}
# The runners the integration tests drive: `drone exec` (drone-cli embeds drone-runner-docker) and
# `woodpecker-cli exec` (Woodpecker 1.0.5: the newest whose module the proxy serves under the github.com path).
build_drone() { build_in_module drone "$DRONE_CLI_VERSION" github.com/drone/drone-cli ./drone drone; }
build_woodpecker() {
  build_in_module woodpecker "$WOODPECKER_VERSION" github.com/woodpecker-ci/woodpecker ./cmd/cli woodpecker-cli
}
# Prometheus with Kubernetes discovery (Debian's package has none): its build tags drop every other
# service-discovery plugin (1275 packages to compile instead of 1518; file and HTTP discovery always stay). Cold
# here: 3m09s of CPU, 7 minutes on 2 cores shared with the Kubernetes build. The module carries a go.work, hence
# inside-the-module with GOWORK=off.
build_prometheus() {
  local v=${PROMETHEUS_VERSION#v0.}; v=$((${v%%.*} / 100)).$((${v%%.*} % 100)).${v#*.}  # v0.316.0 is 3.16.0
  build_in_module prometheus "$PROMETHEUS_VERSION" github.com/prometheus/prometheus \
    -tags remove_all_sd,enable_kubernetes_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=$v" -- \
    ./cmd/prometheus prometheus
}
# BuildKit: the daemon for the stack (stack/buildkit.sh) and the static client shipped in the tagger image. The
# client is built without inlining (-l): 2 MB less of the tagger image's 70 MB budget (24 -> 21.9 MB), and it
# mostly waits on the daemon.
build_buildkit() {
  build_in_module buildkit "$BUILDKIT_VERSION" github.com/moby/buildkit ./cmd/buildkitd buildkitd
  build_in_module buildctl "$BUILDKIT_VERSION" github.com/moby/buildkit -gcflags=all=-l -ldflags "-s -w" -- \
    ./cmd/buildctl buildctl
}

# One build at a time per cache (make up / make test may run concurrently): later callers wait, then find the cache.
mkdir -p "$cache/bin"
exec 9>"$cache/bin/.build.lock"
if ! flock -n 9; then log "another build-bins.sh is running; waiting for it"; flock 9; fi

what=${1:-all}
case $what in
  kube) build_kube ;;
  kubectl) build_kubectl ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  helm) build_helm ;;
  drone) build_drone ;;
  woodpecker) build_woodpecker ;;
  prometheus) build_prometheus ;;
  buildkit) build_buildkit ;;
  all) build_kwok; build_helm; build_etcd; build_kube; build_kubectl; build_drone; build_woodpecker; build_prometheus; build_buildkit ;;
  *) echo "usage: $0 [all|kube|kubectl|etcd|kwok|helm|drone|woodpecker|prometheus|buildkit]" >&2; exit 2 ;;
esac
