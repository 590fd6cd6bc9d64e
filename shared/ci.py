"""One normalised CI context, read from Drone (`DRONE_*`), Woodpecker (`CI_*`) or, outside CI, git.

Every field can be overridden by a setting of the same name (`CI_SETTINGS`), e.g. `PLUGIN_BUILD_NUMBER`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from shared.settings import Setting, Values

# name -> (Drone variables, Woodpecker variables), first non-empty wins.
_SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "build_number": (("DRONE_BUILD_NUMBER",), ("CI_PIPELINE_NUMBER", "CI_BUILD_NUMBER")),
    "commit_sha": (("DRONE_COMMIT_SHA", "DRONE_COMMIT"), ("CI_COMMIT_SHA",)),
    "ref": (("DRONE_COMMIT_REF",), ("CI_COMMIT_REF",)),
    "branch": (("DRONE_COMMIT_BRANCH", "DRONE_BRANCH"), ("CI_COMMIT_BRANCH",)),
    "tag": (("DRONE_TAG",), ("CI_COMMIT_TAG",)),
    "event": (("DRONE_BUILD_EVENT",), ("CI_PIPELINE_EVENT", "CI_BUILD_EVENT")),
    "repo": (("DRONE_REPO",), ("CI_REPO",)),
    "repo_link": (("DRONE_REPO_LINK",), ("CI_REPO_URL", "CI_REPO_LINK")),
    "default_branch": (("DRONE_REPO_BRANCH",), ("CI_REPO_DEFAULT_BRANCH",)),
    "pull_request": (("DRONE_PULL_REQUEST",), ("CI_COMMIT_PULL_REQUEST",)),
}


@dataclass(frozen=True)
class CIContext:
    system: str = "local"  # drone | woodpecker | local
    build_number: str = ""
    commit_sha: str = ""
    ref: str = ""
    branch: str = ""
    tag: str = ""
    event: str = ""
    repo: str = ""
    repo_link: str = ""
    default_branch: str = ""
    pull_request: str = ""


CI_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(name, doc=f"Override the CI context's {name.replace('_', ' ')} (normally read from the CI system)")
    for name in _SOURCES
)


def detect_system(env: Mapping[str, str]) -> str:
    if env.get("DRONE") == "true" or env.get("DRONE_BUILD_NUMBER"):
        return "drone"
    if env.get("CI") == "woodpecker" or env.get("CI_SYSTEM_NAME") == "woodpecker" or env.get("CI_PIPELINE_NUMBER"):
        return "woodpecker"
    return "local"


def context_from_env(env: Mapping[str, str], git: CIContext | None = None) -> CIContext:
    """The context as the running CI system describes it; `git` fills the gaps outside CI. Pure."""
    system = detect_system(env)
    if system == "local":
        base = git or CIContext()
        return replace(base, system="local")
    index = 0 if system == "drone" else 1
    found = {}
    for name, sources in _SOURCES.items():
        found[name] = next((env[v] for v in sources[index] if env.get(v)), "")
    ctx = CIContext(system=system, **found)
    if not ctx.tag and ctx.ref.startswith("refs/tags/"):
        ctx = replace(ctx, tag=ctx.ref.removeprefix("refs/tags/"))
    if not ctx.branch and ctx.ref.startswith("refs/heads/"):
        ctx = replace(ctx, branch=ctx.ref.removeprefix("refs/heads/"))
    return ctx


def with_overrides(ctx: CIContext, values: Values) -> CIContext:
    """`ctx` with every CI_SETTINGS value the operator set."""
    changes = {f.name: getattr(values, f.name) for f in fields(ctx) if f.name in _SOURCES and values.given(f.name)}
    return replace(ctx, **changes)


def _git(cwd: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def context_from_git(cwd: Path) -> CIContext:
    """What git knows about the working directory: commit, branch, an exact tag, the origin URL."""
    sha = _git(cwd, "rev-parse", "HEAD")
    if not sha:
        return CIContext()
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    branch = "" if branch == "HEAD" else branch
    tag = _git(cwd, "describe", "--tags", "--exact-match", "HEAD")
    ref = f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else "")
    return CIContext(
        system="local",
        commit_sha=sha,
        branch=branch,
        tag=tag,
        ref=ref,
        event="tag" if tag else "push",
        repo_link=_git(cwd, "config", "--get", "remote.origin.url"),
    )


def read_context(env: Mapping[str, str], values: Values | None = None, cwd: Path | None = None) -> CIContext:
    """The context for this run: the CI system's, else git's, with setting overrides applied."""
    git = context_from_git(cwd or Path.cwd()) if detect_system(env) == "local" else None
    ctx = context_from_env(env, git)
    return with_overrides(ctx, values) if values is not None else ctx
