#!/usr/bin/env bash
# Makes the local Python base image shipline/python-base:bookworm (nothing can be pulled on these machines):
# debootstrap a minimal Debian bookworm with python3 and python3-venv, then `docker import` it.
# Skipped when the image exists (FORCE=1 rebuilds). Uses $DOCKER_HOST, else the one in .stack/env (`make up`).
# Needs root (debootstrap). Mirror: $DEBIAN_MIRROR, else the Debian mirror this machine's apt uses.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

IMAGE=${BASE_IMAGE:-shipline/python-base:bookworm}
SUITE=bookworm

if [ -z "${DOCKER_HOST:-}" ] && [ -f "$ENV_FILE" ]; then
  DOCKER_HOST=$(sed -n 's/^DOCKER_HOST=//p' "$ENV_FILE" | tr -d "'")
fi
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
docker_answers "$DOCKER_HOST" || die "no Docker engine answers on $DOCKER_HOST (run \`make up\` first)"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "base image: $IMAGE exists ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19)); FORCE=1 rebuilds"
  exit 0
fi

debian_mirror() {  # the first Debian archive (not -security) in this machine's apt sources
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  echo http://deb.debian.org/debian
}
MIRROR=${DEBIAN_MIRROR:-$(debian_mirror)}

command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || {
  log "installing debootstrap"; apt-get update -q >&2 && apt-get install -y -q debootstrap >&2; }
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"

# The root file system is cached as a tarball outside the repository (like the stack's binaries), keyed by what
# makes it, so a fresh checkout on the same machine imports it in seconds instead of debootstrapping again.
key=$(printf '%s\n' "$SUITE" "$MIRROR" minbase python3,python3-venv | sha256sum | cut -c1-12)
rootfs_tar=$CACHE/base/python-base-$SUITE-$key.tar
work=$STACK_STATE/base-image
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
if [ ! -s "$rootfs_tar" ]; then
  log "base image: debootstrap --variant=minbase --include=python3,python3-venv $SUITE from $MIRROR"
  start=$(date +%s)
  PATH=$PATH:/usr/sbin:/sbin debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$work/rootfs" "$MIRROR" \
    >"$STACK_STATE/base-image.log" 2>&1 || die "debootstrap failed; see $STACK_STATE/base-image.log: $(tail -3 "$STACK_STATE/base-image.log")"
  log "base image: debootstrap took $(( $(date +%s) - start )) s"
  # Smaller image: no package caches or lists.
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/log/*.log
  mkdir -p "$(dirname "$rootfs_tar")"
  tar --numeric-owner -C "$work/rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
else
  log "base image: root file system from the cache ($rootfs_tar)"
fi
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase --include=python3,python3-venv $SUITE $MIRROR" \
  "$rootfs_tar" "$IMAGE" >/dev/null || die "docker import failed"
version=$(docker run --rm --network none "$IMAGE" python3 -c 'import sys, venv; print(sys.version.split()[0])') \
  || die "$IMAGE does not run python3"
log "base image: $IMAGE ready (Python $version, $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'))"
