"""One normalised CI context, read from Woodpecker (`CI_*`), Drone (`DRONE_*`) or, outside CI, git.

Every field can be overridden by a setting (`CI_SETTINGS`), e.g. `PLUGIN_BUILD_NUMBER`, `PLUGIN_COMMIT_TAG`.
Local runs of a runner (`drone exec`) set no commit SHA: the workspace's `git rev-parse HEAD` stands in, and the
context says so in `notes` (the plan shows them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shared.runners import detect_runner
from shared.settings import Setting, Values

# field -> (override setting, Drone variables, Woodpecker variables); the first non-empty variable wins.
# Override settings carry their own names (`repo_name`, not `repo`) so they never collide with a plugin's settings.
_SOURCES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "build_number": ("build_number", ("DRONE_BUILD_NUMBER",), ("CI_PIPELINE_NUMBER", "CI_BUILD_NUMBER")),
    "commit_sha": ("commit_sha", ("DRONE_COMMIT_SHA", "DRONE_COMMIT"), ("CI_COMMIT_SHA",)),
    "ref": ("commit_ref", ("DRONE_COMMIT_REF",), ("CI_COMMIT_REF",)),
    "branch": ("commit_branch", ("DRONE_COMMIT_BRANCH", "DRONE_BRANCH"), ("CI_COMMIT_BRANCH",)),
    "tag": ("commit_tag", ("DRONE_TAG",), ("CI_COMMIT_TAG",)),
    "event": ("build_event", ("DRONE_BUILD_EVENT",), ("CI_PIPELINE_EVENT", "CI_BUILD_EVENT")),
    "repo": ("repo_name", ("DRONE_REPO",), ("CI_REPO",)),
    "repo_link": ("repo_link", ("DRONE_REPO_LINK",), ("CI_REPO_URL", "CI_REPO_LINK")),
    "default_branch": ("default_branch", ("DRONE_REPO_BRANCH",), ("CI_REPO_DEFAULT_BRANCH",)),
    "pull_request": ("pull_request", ("DRONE_PULL_REQUEST",), ("CI_COMMIT_PULL_REQUEST",)),
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
    notes: tuple[str, ...] = ()  # where a field came from when not from the CI system, for the plan


CI_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(setting, doc=f"Override the CI context's {field.replace('_', ' ')} (normally read from the CI system)")
    for field, (setting, _, _) in _SOURCES.items()
)


def variable(field: str, system: str) -> str:
    """The variable that supplies a CI field on `system` (outside CI: its PLUGIN_ override), for error messages."""
    setting, drone, woodpecker = _SOURCES[field]
    names = {"drone": drone, "woodpecker": woodpecker}.get(system)
    return names[0] if names else f"PLUGIN_{setting.upper()}"


detect_system = detect_runner


def context_from_env(env: Mapping[str, str], git: CIContext | None = None) -> CIContext:
    """The context as the running CI system describes it; `git` fills the gaps outside CI. Pure."""
    system = detect_system(env)
    if system == "local":
        base = git or CIContext()
        return replace(base, system="local")
    index = 1 if system == "drone" else 2
    found: dict[str, Any] = {}  # field -> value (str)
    for name, sources in _SOURCES.items():
        found[name] = next((env[v] for v in sources[index] if env.get(v)), "")
    if system == "drone" and found["build_number"] == "0":
        found["build_number"] = ""  # drone exec: no build (real builds count from 1)
    ctx = replace(CIContext(system=system), **found)
    if not ctx.tag and ctx.ref.startswith("refs/tags/"):
        ctx = replace(ctx, tag=ctx.ref.removeprefix("refs/tags/"))
    if not ctx.branch and ctx.ref.startswith("refs/heads/"):
        ctx = replace(ctx, branch=ctx.ref.removeprefix("refs/heads/"))
    return ctx


def with_overrides(ctx: CIContext, values: Values) -> CIContext:
    """`ctx` with every CI_SETTINGS value the operator set."""
    changes = {field: getattr(values, s[0]) for field, s in _SOURCES.items() if values.given(s[0])}
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


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def head_commit(cwd: Path) -> str:
    """What `git rev-parse HEAD` says in the checkout holding `cwd`, read from `.git` itself (the plugin images
    carry no git); "" when there is no checkout or HEAD is unborn."""
    for directory in (cwd, *cwd.parents):
        dotgit = directory / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file() and _read(dotgit).startswith("gitdir:"):  # a worktree or submodule
            gitdir = directory / _read(dotgit).removeprefix("gitdir:").strip()
        else:
            continue
        common = gitdir / _read(gitdir / "commondir") if (gitdir / "commondir").is_file() else gitdir
        head = _read(gitdir / "HEAD")
        if not head.startswith("ref:"):
            return head if _is_sha(head) else ""
        ref = head.removeprefix("ref:").strip()
        sha = _read(gitdir / ref) or _read(common / ref)
        if not sha:
            packed = (line.split() for line in _read(common / "packed-refs").splitlines() if line[:1] not in "#^")
            sha = next((fields[0] for fields in packed if fields[1:] == [ref]), "")
        return sha if _is_sha(sha) else ""
    return ""


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def with_git_commit(ctx: CIContext, cwd: Path) -> CIContext:
    """`ctx` with the workspace's HEAD as its commit when the CI system set none (`drone exec`), noted."""
    if ctx.commit_sha or ctx.system == "local":
        return ctx
    sha = head_commit(cwd)
    if not sha:
        return ctx
    note = f"commit {sha}: the workspace's git HEAD (git rev-parse HEAD in {cwd}); {ctx.system} set no commit SHA"
    return replace(ctx, commit_sha=sha, notes=(*ctx.notes, note))


def read_context(env: Mapping[str, str], values: Values | None = None, cwd: Path | None = None) -> CIContext:
    """The context for this run: the CI system's, else git's, with setting overrides applied."""
    cwd = cwd or Path.cwd()
    git = context_from_git(cwd) if detect_system(env) == "local" else None
    ctx = context_from_env(env, git)
    ctx = with_overrides(ctx, values) if values is not None else ctx
    return with_git_commit(ctx, cwd)
