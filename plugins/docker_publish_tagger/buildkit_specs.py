"""BuildKit's inputs, parsed and checked before anything runs (pure): build secrets, cache specs, platforms,
and which build args look like secrets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.errors import SettingsError
from shared.images import parse_image

# Cache exporters/importers BuildKit itself knows (buildctl --export-cache/--import-cache type=...).
CACHE_TYPES = ("registry", "local", "inline", "gha", "s3", "azblob")
# GOOS/GOARCH pairs BuildKit and the registries' platform fields use.
OSES = ("linux", "windows", "darwin", "freebsd")
ARCHES = ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64")
_SECRETISH = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
_SECRET_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


@dataclass(frozen=True)
class BuildSecret:
    """One `RUN --mount=type=secret,id=<id>` source: an environment variable or a file (never a value)."""

    id: str
    env: str = ""
    file: Path | None = None

    def describe(self) -> str:
        return f"{self.id} from {'$' + self.env if self.env else f'file {self.file}'}"


def parse_secrets(specs: Iterable[str], env: Mapping[str, str]) -> tuple[BuildSecret, ...]:
    """`id=ENV_NAME` / `id=file:path` -> BuildSecret; SettingsError when malformed or the source is missing."""
    result: dict[str, BuildSecret] = {}
    for spec in specs:
        ident, sep, source = spec.partition("=")
        if not sep or not _SECRET_ID.fullmatch(ident) or not source:
            raise SettingsError("PLUGIN_SECRETS", f'"{spec}" is not id=ENV_NAME or id=file:path')
        if ident in result:
            raise SettingsError("PLUGIN_SECRETS", f'secret id "{ident}" is given twice')
        if source.startswith("file:"):
            path = Path(source.removeprefix("file:"))
            if not path.is_file():
                raise SettingsError("PLUGIN_SECRETS", f'the file of secret "{ident}" ({path}) does not exist')
            result[ident] = BuildSecret(ident, file=path)
            continue
        if not _ENV_NAME.fullmatch(source):
            raise SettingsError("PLUGIN_SECRETS", f'"{spec}": {source} is not an environment variable name')
        if source not in env:
            raise SettingsError("PLUGIN_SECRETS", f'the variable {source} of secret "{ident}" is not set')
        result[ident] = BuildSecret(ident, env=source)
    return tuple(result.values())


def group_cache_specs(items: Iterable[str]) -> list[str]:
    """Drone comma-joins list items, so `type=registry,ref=r/a:cache,mode=max` arrives split: each item that is
    an attribute (key=value) belongs to the spec started by the last `type=` item."""
    specs: list[str] = []
    for item in items:
        if "=" in item and not item.startswith("type=") and specs and specs[-1].startswith("type="):
            specs[-1] += "," + item
        else:
            specs.append(item)
    return specs


@dataclass(frozen=True)
class CacheSpec:
    """A BuildKit cache spec (`type=registry,ref=...`); a bare image reference is `type=registry,ref=<image>`."""

    attrs: tuple[tuple[str, str], ...]
    image: str = ""  # set when written as a plain image reference (all the classic builder understands)

    @property
    def type(self) -> str:
        return dict(self.attrs)["type"]

    def spec(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.attrs)


def parse_cache(items: Iterable[str], setting: str) -> tuple[CacheSpec, ...]:
    result = []
    for spec in group_cache_specs(items):
        if "=" not in spec:
            try:
                parse_image(spec)
            except ValueError as e:
                raise SettingsError(setting, f'"{spec}" is neither an image nor a cache spec: {e}') from None
            result.append(CacheSpec((("type", "registry"), ("ref", spec)), image=spec))
            continue
        attrs = tuple(tuple(part.split("=", 1)) for part in spec.split(","))
        if any(len(a) != 2 or not a[0] for a in attrs):
            raise SettingsError(setting, f'"{spec}" is not a cache spec (key=value,...)')
        pairs: tuple[tuple[str, str], ...] = attrs  # type: ignore[assignment]
        kind = dict(pairs).get("type", "")
        if kind not in CACHE_TYPES:
            raise SettingsError(setting, f'"{spec}": cache type "{kind}" is not one of {", ".join(CACHE_TYPES)}')
        if kind == "registry" and not dict(pairs).get("ref"):
            raise SettingsError(setting, f'"{spec}": a registry cache needs ref=<image>')
        result.append(CacheSpec(pairs))
    return tuple(result)


def check_platforms(platforms: Iterable[str], setting: str) -> tuple[str, ...]:
    result: list[str] = []
    for platform in platforms:
        os_, _, rest = platform.partition("/")
        arch = rest.partition("/")[0]
        if os_ not in OSES or arch not in ARCHES:
            raise SettingsError(
                setting, f'"{platform}" is not a known platform (os: {", ".join(OSES)}; arch: {", ".join(ARCHES)})'
            )
        if platform not in result:
            result.append(platform)
    return tuple(result)


def secretish_args(build_args: Mapping[str, str], masked: Iterable[str]) -> list[str]:
    """Build args that look like secrets: a secret-sounding name, or a value that is a masked secret."""
    secret_values = {m for m in masked if m}
    return [n for n, v in build_args.items() if _SECRETISH.search(n) or (v and v in secret_values)]
