"""Image references (`host:port/team/app:tag@sha256:...`), parsed with the distribution reference grammar that
Docker and every registry apply (github.com/distribution/reference), so a bad one fails before any build."""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# The algorithms registries verify, with their hex lengths; the grammar allows others no registry accepts.
DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
DEFAULT_REGISTRY = "docker.io"
NAME_MAX = 255  # distribution's NameTotalLengthMax: registry host plus repository path

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]+))?")


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
    if not ref or not ref.isascii() or not ref.isprintable() or any(c.isspace() for c in ref):
        raise ValueError(f'"{_short(ref)}" is not an image reference')
    name, _, digest = ref.partition("@")
    if digest:
        _check_digest(digest)
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not TAG_PATTERN.fullmatch(tag):
            raise ValueError(f'"{_short(tag)}" is not a valid tag (letters, digits, _ . -, at most 128)')
    if len(name) > NAME_MAX:
        raise ValueError(f"the repository name is {len(name)} characters long; at most {NAME_MAX} are allowed")
    first, sep, rest = name.partition("/")
    # distribution's rule: the first component is a registry when it has a dot or port, is localhost, or has
    # upper case letters (a repository path never does).
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, path = first, rest
        host = _HOST.fullmatch(registry)
        if not host or (host.group("port") and not 0 < int(host.group("port")) < 65536):
            raise ValueError(f'"{_short(registry)}" is not a registry host[:port]')
    else:
        registry, path = DEFAULT_REGISTRY, name
        if "/" not in path:
            path = f"library/{path}"
    if not path or not _PATH.fullmatch(path):
        raise ValueError(
            f'"{_short(path)}" is not a valid repository name (lower case, digits, separators . _ __ - between '
            "them, and /)"
        )
    return ImageRef(registry, path, tag, digest)


def parse_repository(ref: str) -> ImageRef:
    """An image reference that names a repository only (no tag, no digest); ValueError otherwise."""
    image = parse_image(ref)
    if image.tag or image.digest:
        raise ValueError(f'"{_short(ref)}" carries a tag or digest; give the repository only')
    return image


def _check_digest(digest: str) -> None:
    algorithm, _, hex_part = digest.partition(":")
    want = DIGEST_HEX.get(algorithm)
    if want is None or len(hex_part) != want or not re.fullmatch(r"[0-9a-f]+", hex_part):
        raise ValueError(f'"{_short(digest)}" is not a sha256 digest (sha256: and 64 lower-case hex digits)')


def _short(text: str, limit: int = 80) -> str:
    """`text` cut for an error line: a 100,000-character value must not become a 100,000-character message."""
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} characters)"


def same_repository(a: str, b: str) -> bool:
    """True when two references name the same repository (tags and digests ignored)."""
    try:
        return parse_image(a).repository == parse_image(b).repository
    except ValueError:
        return False
