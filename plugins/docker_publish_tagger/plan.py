"""The whole publish plan, decided before anything runs: what to build, the tags, where to push.

Pure: settings, CI context, the environment (for build_args_from_env) and the clock come in as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from plugins.docker_publish_tagger.buildkit_specs import (
    BuildSecret,
    CacheSpec,
    check_platforms,
    parse_cache,
    parse_secrets,
    secretish_args,
)
from plugins.docker_publish_tagger.tags import TagRules, derive_tags, semver_tags
from shared.auth import decode_ca
from shared.ci import CIContext, with_overrides
from shared.errors import SettingsError
from shared.handoff import Published
from shared.images import DEFAULT_REGISTRY, parse_image
from shared.settings import Values

OCI = "org.opencontainers.image."
# Docker Hub's names: the daemon and config.json say docker.io / index.docker.io, the HTTP API lives here.
HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class BuildSpec:
    context: Path
    dockerfile: Path
    target: str = ""
    build_args: Mapping[str, str] = field(default_factory=dict)
    secret_args: tuple[str, ...] = ()  # names whose values came from the environment: never shown
    labels: Mapping[str, str] = field(default_factory=dict)
    cache_from: tuple[CacheSpec, ...] = ()
    no_cache: bool = False
    pull: bool = False
    network: str = ""
    platform: str = ""
    builder: str = "classic"
    buildkit_addr: str = ""
    platforms: tuple[str, ...] = ()  # BuildKit: more than one makes an index
    secrets: tuple[BuildSecret, ...] = ()
    cache_to: tuple[CacheSpec, ...] = ()
    provenance: bool = True
    sbom: bool = False

    def shown_args(self) -> dict[str, str]:
        return {k: "******" if k in self.secret_args else v for k, v in self.build_args.items()}


@dataclass(frozen=True)
class Destination:
    repo: str  # as the daemon names it, e.g. 127.0.0.1:5000/team/app
    registry: str  # host[:port], for credentials and messages
    api_host: str  # host[:port] of the registry's HTTP API
    path: str  # the repository inside the registry, e.g. team/app
    insecure: bool = False
    ca: str = ""  # PEM of a private CA the registry's certificate is signed by


@dataclass(frozen=True)
class PublishPlan:
    build: BuildSpec
    destination: Destination
    tags: tuple[str, ...]
    ctx: CIContext
    warnings: tuple[str, ...] = ()
    push: bool = True
    retries: int = 3
    tags_file: Path = Path(".tags")
    output_file: Path = Path(".shipline/publish.json")

    def references(self) -> list[str]:
        return [f"{self.destination.repo}:{tag}" for tag in self.tags]

    def published(self, digest: str, platforms: Mapping[str, str] | None = None) -> Published:
        """The handoff record of this plan once its image is pushed as `digest`."""
        return Published(
            repo=self.destination.repo,
            tags=list(self.tags),
            digest=digest,
            image=f"{self.destination.repo}@{digest}",
            labels=dict(self.build.labels),
            build_number=self.ctx.build_number,
            commit=self.ctx.commit_sha,
            platforms=dict(platforms or {}),
        )

    def describe(self) -> list[str]:
        """The plan as the operator reads it (dry_run prints this)."""
        b = self.build
        lines = [f"ci          {note}" for note in self.ctx.notes]
        lines += [f"context     {b.context}", f"dockerfile  {b.dockerfile}"]
        lines += [f"target      {b.target}"] if b.target else []
        lines += [f"build arg   {k}={v}" for k, v in b.shown_args().items()]
        lines += [f"label       {k}={v}" for k, v in b.labels.items()]
        lines += [f"builder     buildkit at {b.buildkit_addr}"] if b.builder == "buildkit" else []
        lines += [f"secret      {s.describe()}" for s in b.secrets]
        lines += [f"cache from  {c.image or c.spec()}" for c in b.cache_from]
        lines += [f"cache to    {c.spec()}" for c in b.cache_to]
        options = [n for n, on in (("no_cache", b.no_cache), ("pull", b.pull)) if on]
        options += [f"network={b.network}"] if b.network else []
        options += [f"platform={b.platform}"] if b.platform else []
        options += [f"platforms={','.join(b.platforms)}"] if b.platforms else []
        if b.builder == "buildkit":
            options += [f"provenance={'on' if b.provenance else 'off'}", f"sbom={'on' if b.sbom else 'off'}"]
        lines += [f"options     {', '.join(options)}"] if options else []
        verb = "push" if self.push else "would push"
        lines += [f"{verb:<11} {ref}" for ref in self.references()]
        how = " (plain HTTP)" if self.destination.insecure else " (private CA)" if self.destination.ca else ""
        lines.append(f"registry    {self.destination.registry}{how}")
        return lines


def destination(repo: str, registry: str, insecure: bool, ca: str = "") -> Destination:
    try:
        ref = parse_image(repo)
    except ValueError as e:
        raise SettingsError("PLUGIN_REPO", str(e)) from None
    if ref.tag or ref.digest:
        raise SettingsError("PLUGIN_REPO", f'"{repo}" carries a tag or digest; give the repository only (and tags)')
    explicit = ref.registry != DEFAULT_REGISTRY or repo.startswith(f"{DEFAULT_REGISTRY}/")
    registry = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if registry and not explicit:
        return destination(f"{registry}/{repo}", "", insecure, ca)
    if registry and registry != ref.registry:
        raise SettingsError("PLUGIN_REGISTRY", f'"{registry}" is not the registry of repo "{repo}" ({ref.registry})')
    api_host = HUB_API if ref.registry == DEFAULT_REGISTRY else ref.registry
    return Destination(repo, ref.registry, api_host, ref.path, insecure, ca)


def build_args(values: Values, env: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    args = dict(values.build_args)
    for name in values.build_args_from_env:
        if name not in env:
            raise SettingsError("PLUGIN_BUILD_ARGS_FROM_ENV", f"{name} is not set in the environment")
        args[name] = env[name]
    return args, tuple(values.build_args_from_env)


def labels(values: Values, ctx: CIContext, tags: tuple[str, ...], now: datetime) -> dict[str, str]:
    result: dict[str, str] = {}
    if values.auto_labels:
        version = (semver_tags(ctx.tag) or [""])[0] if ctx.tag else ""
        auto = {
            "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "revision": ctx.commit_sha,
            "source": ctx.repo_link,
            "url": ctx.repo_link,
            "version": version or tags[0],
        }
        result = {OCI + k: v for k, v in auto.items() if v}
    result.update(values.labels)
    return result


def dockerfile_path(values: Values) -> Path:
    # Like `docker build <context>`: without a dockerfile setting the context's own Dockerfile is used;
    # a dockerfile that is set is relative to the working directory (the Drone plugins' convention).
    return values.dockerfile if values.given("dockerfile") else values.context / "Dockerfile"


def make_plan(values: Values, ctx: CIContext, env: Mapping[str, str], now: datetime) -> PublishPlan:
    """Everything the run will do; SettingsError (exit 2) for any bad input, before any side effect."""
    ctx = with_overrides(ctx, values)
    ca = decode_ca(values.registry_ca, "PLUGIN_REGISTRY_CA") if values.registry_ca else ""
    if ca and values.insecure:
        raise SettingsError("PLUGIN_INSECURE", "is for plain-HTTP registries; with registry_ca the registry speaks TLS")
    dest = destination(values.repo, values.registry, values.insecure, ca)
    rules = TagRules(
        strategies=tuple(values.tag_strategies),
        sha_length=values.sha_length,
        semver_strict=values.semver_strict,
        extra=tuple(values.tags),
        prefix=values.tag_prefix,
        suffix=values.tag_suffix,
        latest=values.latest,
    )
    tags = derive_tags(rules, ctx)
    args, secret_args = build_args(values, env)
    builder, warnings = builder_inputs(values, env, args)
    spec = BuildSpec(
        context=values.context,
        dockerfile=dockerfile_path(values),
        target=values.target,
        build_args=args,
        secret_args=secret_args,
        labels=labels(values, ctx, tags.tags, now),
        no_cache=values.no_cache,
        pull=values.pull,
        network=values.network,
        **builder,
    )
    return PublishPlan(
        build=spec,
        destination=dest,
        tags=tags.tags,
        ctx=ctx,
        warnings=tags.warnings + tuple(warnings),
        push=not values.dry_run,
        retries=values.push_retries,
        tags_file=values.tags_file,
        output_file=values.output_file,
    )


def builder_inputs(values: Values, env: Mapping[str, str], args: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The builder's part of the BuildSpec and its warnings; SettingsError for anything the builder cannot do."""
    warnings: list[str] = []
    if values.insecure:
        warnings.append("insecure: the registry is spoken to over plain HTTP (credentials and image unencrypted)")
    named = secretish_args(args, values.secret_values())
    if named:
        warnings.append(
            f"build arg {', '.join(named)} looks like a secret: build args are stored in the image's config and "
            "history for anyone who pulls it; pass it with `secrets` (builder buildkit) instead"
        )
    cache_from = parse_cache(values.cache_from, "PLUGIN_CACHE_FROM")
    cache_to = parse_cache(values.cache_to, "PLUGIN_CACHE_TO")
    platforms = check_platforms(values.platforms, "PLUGIN_PLATFORMS")
    if values.platform:
        check_platforms([values.platform], "PLUGIN_PLATFORM")
    if values.platform and platforms:
        raise SettingsError("PLUGIN_PLATFORMS", "set platform or platforms, not both")
    if values.builder == "classic":
        _refuse_for_classic(values)
        ignored = [c.spec() for c in cache_from if not c.image] + [c.spec() for c in cache_to]
        if ignored:
            warnings.append(
                f"builder classic ignores {', '.join(ignored)}: the classic builder only uses images as cache "
                "(cache_from) and exports no cache (cache_to); use builder buildkit"
            )
        return {
            "cache_from": tuple(c for c in cache_from if c.image),
            "platform": values.platform or (platforms[0] if platforms else ""),
        }, warnings
    if not values.buildkit_addr:
        raise SettingsError(
            "PLUGIN_BUILDKIT_ADDR", "is required with builder buildkit (tcp://host:port or unix:///path)"
        )
    if values.build_args_from_env:
        raise SettingsError(
            "PLUGIN_BUILD_ARGS_FROM_ENV",
            "is not used with builder buildkit (a build arg would reach buildctl's command line and the image "
            "history): pass secrets with `secrets`, other values with build_args",
        )
    for name in ("buildkit_ca", "buildkit_cert", "buildkit_key"):
        if getattr(values, name) and not values.buildkit_addr.startswith("tcp://"):
            raise SettingsError(f"PLUGIN_{name.upper()}", "is for a tcp:// buildkit_addr (mutual TLS)")
    if bool(values.buildkit_cert) != bool(values.buildkit_key):
        missing = "PLUGIN_BUILDKIT_KEY" if values.buildkit_cert else "PLUGIN_BUILDKIT_CERT"
        raise SettingsError(missing, "is required with the other half of the client certificate")
    return {
        "builder": "buildkit",
        "buildkit_addr": values.buildkit_addr,
        "platforms": platforms or ((values.platform,) if values.platform else ()),
        "platform": "",
        "secrets": parse_secrets(values.secrets, env),
        "cache_from": cache_from,
        "cache_to": cache_to,
        "provenance": values.provenance,
        "sbom": values.sbom,
    }, warnings


def _refuse_for_classic(values: Values) -> None:
    for name in ("secrets", "buildkit_addr", "buildkit_ca", "buildkit_cert", "buildkit_key", "sbom"):
        if values.given(name) and getattr(values, name):
            raise SettingsError(f"PLUGIN_{name.upper()}", "needs builder: buildkit (the classic builder has none)")
    if len(values.platforms) > 1:
        raise SettingsError("PLUGIN_PLATFORMS", "more than one platform needs builder: buildkit")
