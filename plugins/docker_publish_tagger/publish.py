"""The run, in order: check the registry, build, tag, push, verify each tag's digest, write the handoff."""

from __future__ import annotations

import docker

from plugins.docker_publish_tagger.build import build_image, tag_image
from plugins.docker_publish_tagger.plan import PublishPlan
from plugins.docker_publish_tagger.push import Pushed, push_all
from plugins.docker_publish_tagger.registry import Registry
from shared.errors import PluginError
from shared.handoff import Published, write_outputs
from shared.log import Log


def publish(
    plan: PublishPlan, client: docker.DockerClient, registry: Registry, auth: dict[str, str] | None, log: Log
) -> Published | None:
    """Carry out `plan`; the handoff written, or None for a dry run (built and tagged locally only)."""
    dest = plan.destination
    if plan.push:
        log.heading(f"registry {dest.registry}")
        registry.check_access()  # wrong credentials or no registry: fail before a long build
        log.info("reachable, credentials accepted")
    log.heading("build")
    image_id = build_image(client, plan, log)
    tag_image(client, image_id, plan)
    log.info(f"built {image_id}, tagged {', '.join(plan.tags)}")
    if not plan.push:
        log.heading("dry run: nothing pushed")
        log.table(("would push", "image"), [(ref, image_id) for ref in plan.references()])
        return None
    log.heading("push")
    pushed = push_all(client, dest.repo, plan.tags, auth, dest.registry, plan.retries, log)
    log.heading("verify")
    digest = verify(registry, pushed, log)
    published = plan.published(digest)
    write_outputs(published, plan.tags_file, plan.output_file)
    log.heading("summary")
    log.table(
        ("tag", "digest", "layers pushed / reused"),
        [(f"{dest.repo}:{p.tag}", p.digest, f"{p.layers_pushed} / {p.layers_existing}") for p in pushed],
    )
    log.info(f"image {published.image}")
    log.info(f"wrote {plan.tags_file} and {plan.output_file}")
    return published


def verify(registry: Registry, pushed: list[Pushed], log: Log) -> str:
    """Every tag resolves, in the registry itself, to the one digest the pushes reported."""
    digests = {p.digest for p in pushed}
    if len(digests) != 1:
        raise PluginError(f"the pushes reported different digests: {', '.join(sorted(digests))}")
    digest = digests.pop()
    for p in pushed:
        found = registry.manifest_digest(p.tag)
        if found != digest:
            raise PluginError(f"{registry.dest.repo}:{p.tag} resolves to {found} in the registry, not {digest}")
        log.info(f"{p.tag} -> {found}")
    return digest
