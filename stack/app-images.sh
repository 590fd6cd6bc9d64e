#!/usr/bin/env bash
# The example app (examples/app) in one image per behaviour, pushed to the stack's registry for the real node:
#   $REGISTRY/shipline/example-app:<variant>
#     healthy            v1, Ready at once
#     v2                 the same app as version v2 (rollouts from healthy to v2)
#     slow-start         Ready after 20 s (READY_DELAY)
#     never-ready        serves, readiness always 503 (NEVER_READY)
#     exit-at-start      exits 3 at once with a termination message (EXIT_AT_START): a real CrashLoopBackOff
#     crash-after-ready  Ready, then exits 1 after 15 s (CRASH_AFTER)
#     errors             answers / with 500 for every 2nd request (ERROR_RATE=0.5)
#     errors-20          answers / with 500 for every 5th request (ERROR_RATE=0.2): a canary analysis aborts it
#     slow               answers / after 0.5 s (LATENCY=0.5): a canary's p99 latency analysis aborts it
# Called by stack/up.sh; skipped when every tag in the registry carries the sum of these sources (label
# io.shipline.app-sum): a tag pushed from another checkout's examples/app is pushed again.
# Environment (from up.sh): DOCKER_HOST REGISTRY REGISTRY_USERNAME REGISTRY_PASSWORD
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
: "${DOCKER_HOST:?}" "${REGISTRY:?}" "${REGISTRY_USERNAME:?}" "${REGISTRY_PASSWORD:?}"
export DOCKER_HOST

REPO=$REGISTRY/shipline/example-app
BASE_IMAGE=shipline/python-base:bookworm
VARIANTS=(
  "healthy:"
  "v2:APP_VERSION=v2"
  "slow-start:READY_DELAY=20"
  "never-ready:NEVER_READY=1"
  "exit-at-start:EXIT_AT_START=3"
  "crash-after-ready:CRASH_AFTER=15"
  "errors:ERROR_RATE=0.5"
  "errors-20:ERROR_RATE=0.2 APP_VERSION=v2"
  "slow:LATENCY=0.5 APP_VERSION=v2"
)
APP_SRC=$REPO_ROOT/examples/app
SUM_LABEL=io.shipline.app-sum

# Every image carries the sum of the sources it was built from; what counts is the label of what the registry
# serves now, not a note of what this machine pushed last: a checkout with another examples/app (an older
# branch's up.sh) pushes the same tags, and the next up from this checkout must notice and push them back.
sum=$( { cat "$APP_SRC"/* "$0"; } | sha256sum | cut -c1-16)
registry_get() {  # PATH [ACCEPT]: GET http://$REGISTRY/v2/shipline/example-app/PATH (credentials on curl's stdin)
  printf 'user = "%s:%s"\n' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | curl -sfL --max-time 10 -K - \
    -H "Accept: ${2:-*/*}" "http://$REGISTRY/v2/shipline/example-app/$1"
}
current() {  # TAG: the registry has it, built from these sources
  local config
  config=$(registry_get "manifests/$1" application/vnd.docker.distribution.manifest.v2+json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])' 2>/dev/null) || return 1
  [ "$(registry_get "blobs/$config" | python3 -c \
    "import json, sys; print((json.load(sys.stdin)['config'].get('Labels') or {}).get('$SUM_LABEL', ''))" 2>/dev/null)" = "$sum" ]
}
all_current() { local v; for v in "${VARIANTS[@]}"; do current "${v%%:*}" || return 1; done; }
if all_current; then
  log "app images: $REPO:{$(printf '%s,' "${VARIANTS[@]%%:*}" | sed 's/,$//')} current"
  exit 0
fi

docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || "$STACK_SRC/base-image.sh" >&2 || die "stack/base-image.sh failed"
log "app images: building examples/app and its ${#VARIANTS[@]} behaviours"
build_log=$STACK_STATE/app-images.log
: > "$build_log"
docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$REPO:base" "$APP_SRC" >>"$build_log" 2>&1 \
  || die "docker build of examples/app failed: $(tail -5 "$build_log")"
docker_config=$(mktemp -d); trap 'rm -rf "$docker_config"' EXIT
printf '%s' "$REGISTRY_PASSWORD" | docker --config "$docker_config" login -u "$REGISTRY_USERNAME" --password-stdin "$REGISTRY" >/dev/null 2>&1 \
  || die "docker login $REGISTRY failed"
for v in "${VARIANTS[@]}"; do
  tag=${v%%:*} env=${v#*:}
  printf 'FROM %s\nLABEL %s=%s\n%s\n' "$REPO:base" "$SUM_LABEL" "$sum" "${env:+ENV $env}" | docker build -q -t "$REPO:$tag" - >>"$build_log" 2>&1 \
    || die "docker build of $REPO:$tag failed: $(tail -5 "$build_log")"
  docker --config "$docker_config" push -q "$REPO:$tag" >/dev/null || die "docker push $REPO:$tag failed"
done
log "app images: pushed $REPO:{$(printf '%s,' "${VARIANTS[@]%%:*}" | sed 's/,$//')}"
