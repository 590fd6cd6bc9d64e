#!/usr/bin/env bash
# Builds shipline's four plugin images (what `make images` runs) and prints each image's size.
#
#   scripts/images.sh                  the local base (stack/base-image.sh), the build context, the four images
#   scripts/images.sh chaos-kill ...   only these images
#   scripts/images.sh --context-only   only the build context: build/wheels (shipline and its dependencies as
#                                      wheels, plus pip's own) and build/bin/<image>/ (each image's binaries)
#   scripts/images.sh --sizes          only the sizes of the images built last (what `make bench` prints)
#
# Dockerfile.runtime comes first: its build stage (tagged shipline/layers:<tag>) runs images/layers.py, which
# splits a minimal Python runtime, the common packages, the Kubernetes client and each plugin's own closure into
# layers; its final stage (shipline/runtime:<tag>) is FROM scratch with the runtime and common layers. Each
# Dockerfile.<plugin> starts FROM that runtime and adds only its own layers and binaries. The suite's size counts
# the layers the four images share once (what a runner pulls to run all four).
#
# Nothing can be pulled and pip inside a container cannot reach PyPI here, so the wheelhouse is made on the host
# (with the project's venv) and the images install from it with --no-index. The images are tagged
# shipline/<plugin>:<version from pyproject.toml>, or :$SHIPLINE_IMAGE_TAG when set (several checkouts sharing one
# engine keep their images apart that way).
#
# Environment: DOCKER_HOST and the variables BINARIES names (default: from .stack/env, written by `make up`);
# BASE_IMAGE (default: shipline/python-base:bookworm, made by stack/base-image.sh when missing; set it to
# python:3.11-slim where the official image can be pulled).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PLUGINS=(docker-publish-tagger kubectl-helm-deploy deployment-verify chaos-kill)
LOCAL_BASE=shipline/python-base:bookworm
# The static binaries an image carries in /usr/local/bin: image -> "name=VARIABLE ..." (the variable, from the
# environment or .stack/env, is the binary's path). make_context copies them into build/bin/<image>/, which that
# image's Dockerfile COPYs (see Dockerfile.kubectl-helm-deploy).
declare -A BINARIES=(
  [docker-publish-tagger]="buildctl=BUILDCTL_BIN"  # BuildKit's client, for builder: buildkit
  [kubectl-helm-deploy]="helm=HELM_BIN"            # Helm 3, for the chart mode
)

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[images] FAILED: %s\n' "$*" >&2; exit 1; }

if [ -f .stack/env ]; then
  # Only what this script needs, without exporting the stack's secrets to every child.
  for name in DOCKER_HOST $(printf '%s\n' "${BINARIES[@]}" | tr ' ' '\n' | sed -n 's/.*=//p'); do
    [ -n "${!name:-}" ] || printf -v "$name" '%s' "$(sed -n "s/^$name=//p" .stack/env | tr -d "'\"")"
  done
fi
[ -n "${DOCKER_HOST:-}" ] && export DOCKER_HOST
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || die "no project venv at $PY (run make venv)"
VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
TAG=${SHIPLINE_IMAGE_TAG:-$VERSION}

context_only=
sizes_only=
selected=()
for arg in "$@"; do
  case $arg in
    --context-only) context_only=1 ;;
    --sizes) sizes_only=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) [[ " ${PLUGINS[*]} " == *" $arg "* ]] || die "unknown image '$arg' (one of: ${PLUGINS[*]})"; selected+=("$arg") ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=("${PLUGINS[@]}")

print_sizes() {
  printf '%-45s %10s\n' IMAGE SIZE
  local plugin image size
  for plugin in "${selected[@]}"; do
    image=shipline/$plugin:$TAG
    size=$(docker image inspect --format '{{.Size}}' "$image") || die "no image $image (run make images)"
    awk -v i="$image" -v s="$size" 'BEGIN { printf "%-45s %7.1f MB\n", i, s / 1e6 }'
  done
  # Each layer once: the classic builder gives a layer shared through its cache the same history entry id.
  for plugin in "${selected[@]}"; do
    docker history --no-trunc --human=false --format '{{.ID}} {{.Size}}' "shipline/$plugin:$TAG"
  done | awk '!seen[$1]++ { total += $2 } END { printf "%-45s %7.1f MB\n", "suite (shared layers once)", total / 1e6 }'
}
if [ -n "$sizes_only" ]; then print_sizes; exit 0; fi

# --- build context: wheelhouse and binaries ---------------------------------------------------------------------
make_context() {
  local wheels=$ROOT/build/wheels
  mkdir -p "$wheels"
  # setuptools builds in build/lib: a module deleted from the tree would otherwise linger in the wheel.
  rm -rf "$ROOT"/build/lib "$ROOT"/build/bdist.* "$wheels"/shipline-*.whl
  log "wheelhouse: shipline and its dependencies into build/wheels"
  # A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical for identical sources, so Docker's layer cache
  # holds across runs (the images are rebuilt only when the code or a dependency changed).
  SOURCE_DATE_EPOCH=315532800 "$PY" -m pip wheel --quiet --disable-pip-version-check -w "$wheels" "$ROOT[all]" >&2 \
    || die "pip wheel of the project failed"
  if ! ls "$wheels"/pip-*.whl >/dev/null 2>&1; then
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$wheels" pip >&2 \
      || die "pip download pip failed"
  fi
  local pips; pips=$(find "$wheels" -name 'pip-*.whl' | sort -V)
  # Exactly one pip wheel: the Dockerfiles run pip from /wheels/pip-*.whl.
  [ "$(printf '%s\n' "$pips" | wc -l)" -eq 1 ] || printf '%s\n' "$pips" | head -n -1 | xargs rm -f
  local plugin entry name variable binary
  rm -rf "$ROOT/build/helm" "$ROOT/build/buildctl"  # where the binaries were before build/bin
  for plugin in "${!BINARIES[@]}"; do
    mkdir -p "$ROOT/build/bin/$plugin"
    for entry in ${BINARIES[$plugin]}; do
      name=${entry%%=*} variable=${entry#*=}
      binary=${!variable:-$(command -v "$name" || true)}
      [ -x "$binary" ] || die "no $name binary for $plugin: set $variable or run make up (it builds $name into the cache)"
      cmp -s "$binary" "$ROOT/build/bin/$plugin/$name" || install -m 0755 "$binary" "$ROOT/build/bin/$plugin/$name"
    done
  done
}
make_context
[ -z "$context_only" ] || { log "build context ready: build/wheels, build/bin"; exit 0; }

# --- base image --------------------------------------------------------------------------------------------------
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); run make up"
BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE}
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  if [ "$BASE_IMAGE" = "$LOCAL_BASE" ]; then
    [ -x stack/base-image.sh ] || die "$BASE_IMAGE is missing and stack/base-image.sh is not there to make it"
    log "base: making $BASE_IMAGE (stack/base-image.sh)"
    stack/base-image.sh >&2 || die "stack/base-image.sh failed"
  else
    # The builds run with --network none; the base is pulled here, once, where pulling is possible.
    log "base: pulling $BASE_IMAGE"
    docker pull --quiet "$BASE_IMAGE" >&2 || die "base image $BASE_IMAGE is not on the engine and cannot be pulled"
  fi
fi

# --- the images --------------------------------------------------------------------------------------------------
revision=$(git rev-parse HEAD 2>/dev/null || true)
# The commit's time, not the clock's: an unchanged tree rebuilds nothing (a new label is a new image layer).
created=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
source_url=$(git config --get remote.origin.url 2>/dev/null || true)
# --network none: the builds need nothing from outside (the wheelhouse is in the context).
log "building shipline/layers:$TAG and shipline/runtime:$TAG (Dockerfile.runtime) on $BASE_IMAGE"
docker build --quiet --network none -f Dockerfile.runtime --target layers -t "shipline/layers:$TAG" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" . >/dev/null || die "docker build -f Dockerfile.runtime --target layers failed"
docker build --quiet --network none -f Dockerfile.runtime -t "shipline/runtime:$TAG" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" . >/dev/null || die "docker build -f Dockerfile.runtime failed"
for plugin in "${selected[@]}"; do
  image=shipline/$plugin:$TAG
  log "building $image"
  docker build --quiet --network none -f "Dockerfile.$plugin" -t "$image" \
    --build-arg "LAYERS=shipline/layers:$TAG" --build-arg "RUNTIME=shipline/runtime:$TAG" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.revision=$revision" --label "org.opencontainers.image.created=$created" \
    ${source_url:+--label "org.opencontainers.image.source=$source_url"} . >/dev/null \
    || die "docker build -f Dockerfile.$plugin failed"
done

print_sizes
