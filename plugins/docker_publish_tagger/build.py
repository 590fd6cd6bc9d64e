"""Building and tagging the image with the Docker engine (the SDK's low-level API, so the build streams
line by line and a failed step can be shown with its output)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import docker
import docker.errors
import requests

from plugins.docker_publish_tagger.plan import PublishPlan
from plugins.docker_publish_tagger.preflight import short_reason
from shared.errors import PluginError
from shared.log import Log

_STEP = re.compile(r"Step \d+/\d+ : ")


def connect(docker_host: str, api_version: str | None) -> docker.DockerClient:
    """A client for the engine at `docker_host`, which answered with `api_version` (None: the SDK asks itself);
    PluginError naming it when nothing answers there."""
    try:
        return docker.DockerClient(base_url=docker_host, version=api_version, timeout=600)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise PluginError(f"no Docker engine answers at {docker_host}: {short_reason(e)}") from None


class BuildStream:
    """Turns the engine's build messages into readable lines; remembers the current step's output, the
    image id, and the error. Pure: feed it decoded chunks."""

    def __init__(self) -> None:
        self.step: list[str] = []
        self.image_id = ""
        self.error = ""
        self._partial = ""

    def feed(self, chunk: Mapping[str, Any]) -> list[str]:
        lines: list[str] = []
        if "stream" in chunk:
            text = self._partial + str(chunk["stream"])
            *complete, self._partial = text.split("\n")
            lines = [line.rstrip() for line in complete if line.strip()]
        elif chunk.get("status") and "progressDetail" not in chunk:
            lines = [f"{chunk.get('id', '')} {chunk['status']}".strip()]
        if chunk.get("aux", {}).get("ID"):
            self.image_id = chunk["aux"]["ID"]
        if "error" in chunk or "errorDetail" in chunk:
            self.error = (chunk.get("errorDetail") or {}).get("message") or str(chunk.get("error", "")).strip()
        for line in lines:
            if _STEP.match(line):
                self.step = []
            self.step.append(line)
            if line.startswith("Successfully built ") and not self.image_id:
                self.image_id = line.split()[-1]
        return lines

    def finish(self) -> list[str]:
        rest, self._partial = self._partial.strip(), ""
        if rest:
            self.step.append(rest)
        return [rest] if rest else []


def build_image(client: docker.DockerClient, plan: PublishPlan, log: Log) -> str:
    """Build the plan's image, streaming its log; the image id, or PluginError showing the failed step."""
    spec = plan.build
    _pull_cache_images(client, [c.image for c in spec.cache_from], log)
    stream = BuildStream()
    try:
        chunks: Iterable[Mapping[str, Any]] = client.api.build(
            path=str(spec.context.resolve()),
            dockerfile=str(spec.dockerfile.resolve()),
            tag=plan.references()[0],
            target=spec.target or None,
            buildargs=dict(spec.build_args) or None,
            labels=dict(spec.labels) or None,
            cache_from=[c.image for c in spec.cache_from] or None,
            nocache=spec.no_cache,
            pull=spec.pull,
            network_mode=spec.network or None,
            platform=spec.platform or None,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in chunks:
            for line in stream.feed(chunk):
                log.info(line)
            if stream.error:
                break
        for line in stream.finish():
            log.info(line)
    except docker.errors.APIError as e:
        raise PluginError(f"build failed: {e.explanation or e}") from None
    except requests.exceptions.RequestException as e:
        raise PluginError(f"build failed: lost the Docker engine: {short_reason(e)}") from None
    if stream.error:
        log.error("the failed step and its output:")
        for line in stream.step:
            log.error(f"  {line}")
        step = stream.step[0] if stream.step and _STEP.match(stream.step[0]) else "the build"
        raise PluginError(f"build failed at {step}: {stream.error}")
    if not stream.image_id:
        raise PluginError("build finished without an image id")
    return stream.image_id


def tag_image(client: docker.DockerClient, image_id: str, plan: PublishPlan) -> None:
    for tag in plan.tags:
        client.api.tag(image_id, plan.destination.repo, tag, force=True)


def _pull_cache_images(client: docker.DockerClient, refs: Iterable[str], log: Log) -> None:
    # The classic builder uses only local images as cache sources; a missing one costs a cache miss, not a failure.
    for ref in refs:
        try:
            client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            try:
                client.api.pull(ref)
                log.info(f"pulled cache image {ref}")
            except docker.errors.APIError as e:
                log.warn(f"cache image {ref} could not be pulled ({e.explanation or e}); building without it")
