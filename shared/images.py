"""Image references (`host:port/team/app:tag@sha256:...`), parsed the way Docker does."""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "docker.io" when the reference names none
    path: str  # repository path inside the registry, e.g. "team/app" or "library/nginx"
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """`registry/path` as written in a pod spec (docker.io's implicit forms normalised)."""
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        ref = self.repository
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


def parse_image(ref: str) -> ImageRef:
    """Split an image reference; ValueError with the reason when it is not one."""
    ref = ref.strip()
    if not ref or any(c.isspace() for c in ref):
        raise ValueError(f'"{ref}" is not an image reference')
    name, _, digest = ref.partition("@")
    if digest and not DIGEST_PATTERN.fullmatch(digest):
        raise ValueError(f'"{digest}" is not a sha256 digest')
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not TAG_PATTERN.fullmatch(tag):
            raise ValueError(f'"{tag}" is not a valid tag')
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, name
        if "/" not in path:
            path = f"library/{path}"
    if not path or not re.fullmatch(r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*", path):
        raise ValueError(f'"{path}" is not a valid repository name (lower case, digits, . _ - and /)')
    return ImageRef(registry, path, tag, digest)


def same_repository(a: str, b: str) -> bool:
    """True when two references name the same repository (tags and digests ignored)."""
    try:
        return parse_image(a).repository == parse_image(b).repository
    except ValueError:
        return False
