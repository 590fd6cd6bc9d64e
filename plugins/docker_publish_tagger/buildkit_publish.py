"""The run with BuildKit, in order: check the registry and the builder, build and push in one buildctl run,
verify through the registry API that every tag is the one digest (and, for an index, each platform's
manifest), write the handoff."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from plugins.docker_publish_tagger.buildkit import ClientFiles, check_builder, run_build
from plugins.docker_publish_tagger.plan import PublishPlan
from plugins.docker_publish_tagger.registry import Registry
from shared.errors import PluginError
from shared.handoff import Published, write_outputs
from shared.log import Log

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
BUILD_TIMEOUT = 3600.0


def publish_buildkit(
    plan: PublishPlan, registry: Registry, files: ClientFiles, env: Mapping[str, str], log: Log
) -> Published | None:
    dest, addr = plan.destination, plan.build.buildkit_addr
    if plan.push:
        log.heading(f"registry {dest.registry}")
        registry.check_access()  # wrong credentials, an untrusted certificate, no registry: fail before building
        log.info("reachable, credentials accepted")
    log.heading(f"builder {addr}")
    check_builder(addr, files, log)
    log.info("BuildKit answers" + (", client certificate accepted" if files.cert else ""))
    log.heading("build")
    progress = run_build(plan, files, env, log, BUILD_TIMEOUT)
    steps, cached = progress.steps(), progress.cached_steps()
    log.info(f"cached: {len(cached)} of {len(steps)} Dockerfile steps")
    if not plan.push:
        log.heading("dry run: nothing pushed")
        log.table(("would push",), [(ref,) for ref in plan.references()])
        return None
    digest = json.loads(files.metadata.read_text()).get("containerimage.digest", "")
    if not digest:
        raise PluginError("buildctl reported no image digest")
    log.heading("verify")
    platforms = verify(registry, plan, digest, log)
    published = plan.published(digest, platforms)
    write_outputs(published, plan.tags_file, plan.output_file)
    log.heading("summary")
    rows = [(f"{dest.repo}:{tag}", digest) for tag in plan.tags]
    rows += [(f"  {platform}", d) for platform, d in platforms.items()]
    log.table(("tag / platform", "digest"), rows)
    log.info(f"image {published.image}")
    log.info(f"wrote {plan.tags_file} and {plan.output_file}")
    return published


def verify(registry: Registry, plan: PublishPlan, digest: str, log: Log) -> dict[str, str]:
    """Every tag resolves to `digest` in the registry; for an index, each platform's manifest is there and every
    platform asked for is in it. The platforms' digests (empty for a single manifest)."""
    for tag in plan.tags:
        found = registry.manifest_digest(tag)
        if found != digest:
            raise PluginError(f"{registry.dest.repo}:{tag} resolves to {found} in the registry, not {digest}")
        log.info(f"{tag} -> {found}")
    _, body = registry.manifest(digest)
    if body.get("mediaType") not in INDEX_TYPES and "manifests" not in body:
        return {}
    platforms = index_platforms(body)
    missing = [p for p in plan.build.platforms if p not in platforms]
    if missing:
        raise PluginError(f"the index {digest} has no manifest for {', '.join(missing)} (it has {list(platforms)})")
    for platform, manifest in platforms.items():
        registry.manifest(manifest)  # each platform's manifest is in the registry, not only named by the index
        log.info(f"{platform} -> {manifest}")
    return platforms


def index_platforms(index: Mapping[str, Any]) -> dict[str, str]:
    """os/arch[/variant] -> manifest digest of an image index, without BuildKit's attestation manifests."""
    result = {}
    for m in index.get("manifests") or []:
        if (m.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        p = m.get("platform") or {}
        name = "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
        result[name] = m["digest"]
    return result
