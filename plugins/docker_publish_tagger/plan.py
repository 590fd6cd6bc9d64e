"""The whole publish plan, decided before anything runs: what to build, the tags, where to push.

Pure: settings, CI context, the environment (for build_args_from_env) and the clock come in as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from plugins.docker_publish_tagger.tags import TagRules, derive_tags, semver_tags
from shared.ci import CIContext, with_overrides
from shared.errors import SettingsError
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
    cache_from: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    network: str = ""
    platform: str = ""

    def shown_args(self) -> dict[str, str]:
        return {k: "******" if k in self.secret_args else v for k, v in self.build_args.items()}


@dataclass(frozen=True)
class Destination:
    repo: str  # as the daemon names it, e.g. 127.0.0.1:5000/team/app
    registry: str  # host[:port], for credentials and messages
    api_host: str  # host[:port] of the registry's HTTP API
    path: str  # the repository inside the registry, e.g. team/app
    insecure: bool = False


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

    def describe(self) -> list[str]:
        """The plan as the operator reads it (dry_run prints this)."""
        b = self.build
        lines = [f"ci          {note}" for note in self.ctx.notes]
        lines += [f"context     {b.context}", f"dockerfile  {b.dockerfile}"]
        lines += [f"target      {b.target}"] if b.target else []
        lines += [f"build arg   {k}={v}" for k, v in b.shown_args().items()]
        lines += [f"label       {k}={v}" for k, v in b.labels.items()]
        lines += [f"cache from  {c}" for c in b.cache_from]
        options = [n for n, on in (("no_cache", b.no_cache), ("pull", b.pull)) if on]
        options += [f"network={b.network}"] if b.network else []
        options += [f"platform={b.platform}"] if b.platform else []
        lines += [f"options     {', '.join(options)}"] if options else []
        verb = "push" if self.push else "would push"
        lines += [f"{verb:<11} {ref}" for ref in self.references()]
        insecure = " (plain HTTP)" if self.destination.insecure else ""
        lines.append(f"registry    {self.destination.registry}{insecure}")
        return lines


def destination(repo: str, registry: str, insecure: bool) -> Destination:
    try:
        ref = parse_image(repo)
    except ValueError as e:
        raise SettingsError("PLUGIN_REPO", str(e)) from None
    if ref.tag or ref.digest:
        raise SettingsError("PLUGIN_REPO", f'"{repo}" carries a tag or digest; give the repository only (and tags)')
    explicit = ref.registry != DEFAULT_REGISTRY or repo.startswith(f"{DEFAULT_REGISTRY}/")
    registry = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if registry and not explicit:
        return destination(f"{registry}/{repo}", "", insecure)
    if registry and registry != ref.registry:
        raise SettingsError("PLUGIN_REGISTRY", f'"{registry}" is not the registry of repo "{repo}" ({ref.registry})')
    api_host = HUB_API if ref.registry == DEFAULT_REGISTRY else ref.registry
    return Destination(repo, ref.registry, api_host, ref.path, insecure)


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
    dest = destination(values.repo, values.registry, values.insecure)
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
    spec = BuildSpec(
        context=values.context,
        dockerfile=dockerfile_path(values),
        target=values.target,
        build_args=args,
        secret_args=secret_args,
        labels=labels(values, ctx, tags.tags, now),
        cache_from=tuple(values.cache_from),
        no_cache=values.no_cache,
        pull=values.pull,
        network=values.network,
        platform=values.platform,
    )
    return PublishPlan(
        build=spec,
        destination=dest,
        tags=tags.tags,
        ctx=ctx,
        warnings=tags.warnings,
        push=not values.dry_run,
        retries=values.push_retries,
        tags_file=values.tags_file,
        output_file=values.output_file,
    )
