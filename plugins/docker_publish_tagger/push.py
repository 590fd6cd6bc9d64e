"""Pushing every tag through the Docker engine, with credentials in the SDK's auth_config (never argv),
retrying only transient failures, and recording the manifest digest the push reports."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import docker
import docker.errors
import requests

from shared.errors import AuthError, PluginError
from shared.log import Log

_AUTH = ("unauthorized", "authentication required", "denied", "no basic auth credentials", "forbidden")
_UNREACHABLE = ("connection refused", "no such host", "no route to host", "server misbehaving")
_TRANSIENT = (
    "received unexpected http status: 5",
    "500 internal server error",
    "502 bad gateway",
    "503 service unavailable",
    "504 gateway timeout",
    "timeout",
    "timed out",
    "connection reset",
    "broken pipe",
    "unexpected eof",
    ": eof",
)


class PushFailed(PluginError):
    """A push failed in a way worth retrying (5xx, timeout, connection reset)."""


@dataclass(frozen=True)
class Pushed:
    tag: str
    digest: str
    layers_pushed: int
    layers_existing: int


def classify(message: str, registry: str) -> PluginError:
    """The error a push failure message means: AuthError, unreachable, transient (retried), or other."""
    low = message.lower()
    if any(m in low for m in _AUTH):
        return AuthError(f"{registry} refused the push: {message}")
    if "http response to https client" in low:
        return PluginError(
            f"{registry} speaks plain HTTP: {message} (set insecure, and the engine's insecure-registries)"
        )
    if any(m in low for m in _UNREACHABLE):
        return PluginError(f"registry {registry} is unreachable: {message}")
    if any(m in low for m in _TRANSIENT):
        return PushFailed(f"push to {registry} failed: {message}")
    return PluginError(f"push to {registry} failed: {message}")


class PushStream:
    """Reads the engine's push messages: layer outcomes, the digest, the error. Pure: feed it decoded chunks."""

    def __init__(self) -> None:
        self.digest = ""
        self.error = ""
        self.pushed: list[str] = []
        self.existing: list[str] = []

    def feed(self, chunk: Mapping[str, Any]) -> str:
        """One readable line for the log ("" for progress noise)."""
        if "error" in chunk or "errorDetail" in chunk:
            self.error = (chunk.get("errorDetail") or {}).get("message") or str(chunk.get("error", ""))
            return ""
        aux = chunk.get("aux") or {}
        if aux.get("Digest"):
            self.digest = str(aux["Digest"])
        status, layer = str(chunk.get("status", "")), str(chunk.get("id", ""))
        if status == "Pushed":
            self.pushed.append(layer)
            return f"layer {layer}: pushed"
        if status == "Layer already exists" or status.startswith("Mounted from"):
            self.existing.append(layer)
            return f"layer {layer}: {status[:1].lower()}{status[1:]}"
        if ": digest: sha256:" in status:
            self.digest = self.digest or status.split("digest: ", 1)[1].split()[0]
            return status
        return ""


def push_tag(
    client: docker.DockerClient, repo: str, tag: str, auth: dict[str, str] | None, registry: str, log: Log
) -> Pushed:
    stream = PushStream()
    try:
        chunks: Iterable[Mapping[str, Any]] = client.api.push(repo, tag=tag, auth_config=auth, stream=True, decode=True)
        for chunk in chunks:
            line = stream.feed(chunk)
            if line:
                log.info(line)
    except docker.errors.APIError as e:
        raise classify(str(e.explanation or e), registry) from None
    except requests.exceptions.RequestException as e:
        raise PushFailed(f"push to {registry} failed: lost the Docker engine ({type(e).__name__})") from None
    if stream.error:
        raise classify(stream.error, registry)
    if not stream.digest:
        raise PluginError(f"push of {repo}:{tag} reported no digest")
    return Pushed(tag, stream.digest, len(stream.pushed), len(stream.existing))


def with_retries(
    action: Callable[[], Pushed],
    retries: int,
    log: Log,
    sleep: Callable[[float], None] = time.sleep,
    base_delay: float = 1.0,
) -> Pushed:
    """`action()`, retried up to `retries` times with exponential backoff, for PushFailed only."""
    delay = base_delay
    for attempt in range(retries + 1):
        try:
            return action()
        except PushFailed as e:
            if attempt == retries:
                raise PluginError(f"{e} (after {retries + 1} attempts)") from None
            log.warn(f"{e}; retry {attempt + 1}/{retries} in {delay:g}s")
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def push_all(
    client: docker.DockerClient,
    repo: str,
    tags: Iterable[str],
    auth: dict[str, str] | None,
    registry: str,
    retries: int,
    log: Log,
) -> list[Pushed]:
    results = []
    for tag in tags:
        log.progress(f"push {repo}:{tag}")
        results.append(with_retries(partial(push_tag, client, repo, tag, auth, registry, log), retries, log))
    return results
