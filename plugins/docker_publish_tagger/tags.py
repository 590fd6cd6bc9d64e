"""Tag derivation: the CI context and the tag rules in, the tags to push out.

Pure: no environment, no git, no Docker. Every tag is unique and traceable unless the operator asks
otherwise: `latest` only when asked (with a warning), semver only on a git tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.ci import CIContext, variable
from shared.errors import SettingsError
from shared.images import TAG_PATTERN

MAX_TAG = 128
LONG_TAG = 64  # some registries' UIs and older tools cut tags here: a longer tag gets a warning

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,  # \d is any Unicode digit otherwise: "v١.٢.٣" is not a version
)
_SHA = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class TagRules:
    strategies: tuple[str, ...] = ()  # empty: git_sha_build_id, plus semver on a git tag
    sha_length: int = 12
    semver_strict: bool = True
    extra: tuple[str, ...] = ()  # explicit tags, used as written
    prefix: str = ""
    suffix: str = ""
    latest: bool = False


@dataclass(frozen=True)
class Tags:
    tags: tuple[str, ...]
    warnings: tuple[str, ...] = ()


# Where a CI field comes from on each runner, for the message when it is missing.
_WHERE = {
    ("build_number", "drone"): "Drone sets it for every build; `drone exec` sets none",
    (
        "build_number",
        "woodpecker",
    ): "Woodpecker sets it for every pipeline; `woodpecker-cli exec` takes --pipeline-number",
}


def _missing(field: str, ctx: CIContext, strategy: str) -> SettingsError:
    name = variable(field, ctx.system)
    override = variable(field, "local")
    if name != override:
        origin = _WHERE.get((field, ctx.system))
        where = f"{origin}: set {override} (the {field} setting)" if origin else f"or set {override}"
    elif field == "build_number":
        where = "outside CI there is no build number: set it"
    else:
        where = "outside CI it comes from git: run in a git checkout, or set it"
    return SettingsError(name, f"is not set; tag strategy {strategy} needs it ({where})")


def default_strategies(ctx: CIContext) -> tuple[str, ...]:
    return ("git_sha_build_id", "semver") if ctx.tag else ("git_sha_build_id",)


def sanitize(text: str) -> str:
    """`text` as a tag: lower case, runs of anything but [a-z0-9_.-] become one `-`, no leading . or -."""
    tag = re.sub(r"[^a-z0-9_.-]+", "-", text.lower())
    tag = re.sub(r"-{2,}", "-", tag).lstrip(".-").rstrip("-")
    return tag[:MAX_TAG].rstrip("-")


def tag_problem(tag: str) -> str:
    """Why `tag` breaks Docker's grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; "" when it is valid."""
    if not tag:
        return "is empty"
    if len(tag) > MAX_TAG:
        return f"is {len(tag)} characters long; the limit is {MAX_TAG}"
    if not re.fullmatch(r"[A-Za-z0-9_]", tag[0]):
        return f'starts with "{tag[0]}"; a tag starts with a letter, digit or _'
    bad = next((c for c in tag if not re.fullmatch(r"[A-Za-z0-9_.-]", c)), "")
    if bad:
        return f'contains "{bad}"; only letters, digits, _ . and - are allowed'
    return "" if TAG_PATTERN.fullmatch(tag) else "is not a valid tag"


def semver_tags(git_tag: str) -> list[str] | None:
    """The tags of a release as Drone's docker plugin (`auto_tag`) gives them: 1.2.3 → 1.2.3, 1.2, 1 (0.x keeps
    its minor); a pre-release or build is one tag. None when `git_tag` is not a semantic version."""
    version = git_tag.removeprefix("refs/tags/")
    version = version[1:] if version[:1] in ("v", "V") else version
    m = _SEMVER.fullmatch(version)
    if not m:
        return None
    major, minor, patch, pre, build = m.groups()
    if pre or build:
        # `+` is not allowed in a Docker tag; docker/metadata-action writes it as `-` too.
        return [version.replace("+", "-")]
    if major == "0":
        return [f"{major}.{minor}.{patch}", f"{major}.{minor}"]
    return [f"{major}.{minor}.{patch}", f"{major}.{minor}", major]


def _build_number(ctx: CIContext, strategy: str) -> str:
    if not ctx.build_number:
        raise _missing("build_number", ctx, strategy)
    return ctx.build_number


def _sha(ctx: CIContext, length: int, strategy: str) -> str:
    sha = ctx.commit_sha.strip().lower()
    if not sha:
        raise _missing("commit_sha", ctx, strategy)
    if not _SHA.fullmatch(sha):
        raise SettingsError(variable("commit_sha", ctx.system), f'"{ctx.commit_sha}" is not a git commit SHA')
    return sha[:length]


def _strategy_tags(strategy: str, ctx: CIContext, rules: TagRules) -> tuple[list[str], str]:
    """The bare tags of one strategy and the variable they come from (for error messages)."""
    if strategy == "build_id":
        return [_build_number(ctx, strategy)], variable("build_number", ctx.system)
    if strategy == "system_build_id":
        if ctx.system == "local":
            raise SettingsError("PLUGIN_TAG_STRATEGIES", "system_build_id needs a CI system (Drone or Woodpecker)")
        return [f"{ctx.system}-{_build_number(ctx, strategy)}"], variable("build_number", ctx.system)
    if strategy == "git_sha":
        return [_sha(ctx, rules.sha_length, strategy)], variable("commit_sha", ctx.system)
    if strategy == "git_sha_build_id":
        sha = _sha(ctx, rules.sha_length, strategy)
        return [f"{sha}-{_build_number(ctx, strategy)}"], variable("build_number", ctx.system)
    if strategy == "semver":
        return _semver(ctx, rules), variable("tag", ctx.system)
    if strategy == "branch":
        return _branch(ctx), variable("branch", ctx.system)
    raise SettingsError("PLUGIN_TAG_STRATEGIES", f'"{strategy}" is not a tag strategy')


def _semver(ctx: CIContext, rules: TagRules) -> list[str]:
    if not ctx.tag:
        return []  # semver applies to git tag builds only
    tags = semver_tags(ctx.tag)
    if tags is not None:
        return tags
    if rules.semver_strict:
        raise SettingsError(
            variable("tag", ctx.system),
            f'git tag "{ctx.tag}" is not a semantic version (x.y.z); set semver_strict: false to tag it as '
            f'"{sanitize(ctx.tag.removeprefix("refs/tags/"))}"',
        )
    tag = sanitize(ctx.tag.removeprefix("refs/tags/"))
    return [tag] if tag else []


def _branch(ctx: CIContext) -> list[str]:
    if ctx.pull_request or ctx.event in ("pull_request", "pull-request"):
        # A PR build's branch is its *target* branch; tagging it so would claim an unmerged image is main.
        return [f"pr-{sanitize(ctx.pull_request)}"] if ctx.pull_request else []
    if ctx.tag or not ctx.branch:
        return []
    tag = sanitize(ctx.branch)
    if not tag:
        raise SettingsError(variable("branch", ctx.system), f'"{ctx.branch}" leaves nothing to tag with')
    return [tag]


def _check_affixes(rules: TagRules) -> None:
    if rules.prefix and (problem := tag_problem(rules.prefix)):
        raise SettingsError("PLUGIN_TAG_PREFIX", f'"{rules.prefix}" {problem}')
    if rules.suffix and (problem := tag_problem("x" + rules.suffix)):
        raise SettingsError("PLUGIN_TAG_SUFFIX", f'"{rules.suffix}" {problem.replace("starts with", "has")}')


def derive_tags(rules: TagRules, ctx: CIContext) -> Tags:
    """Every tag to push, in order, without duplicates; SettingsError naming the setting or variable at fault."""
    _check_affixes(rules)
    strategies = rules.strategies or default_strategies(ctx)
    found: list[tuple[str, str]] = []  # (tag, where it came from)
    affix = " (with tag_prefix/tag_suffix)" if rules.prefix or rules.suffix else ""
    for strategy in strategies:
        bare, source = _strategy_tags(strategy, ctx, rules)
        found += [(f"{rules.prefix}{tag}{rules.suffix}", source + affix) for tag in bare]
    if rules.latest:
        found.append((f"{rules.prefix}latest{rules.suffix}", "PLUGIN_LATEST" + affix))
    found += [(tag, "PLUGIN_TAGS") for tag in rules.extra]
    tags: list[str] = []
    warnings: list[str] = []
    for tag, source in found:
        if problem := tag_problem(tag):
            raise SettingsError(source, f'tag "{tag}" {problem}')
        if tag in tags:
            continue
        tags.append(tag)
        if len(tag) > LONG_TAG:
            warnings.append(f'tag "{tag}" is {len(tag)} characters long; some tools cut tags over {LONG_TAG}')
    if not tags:
        raise SettingsError(
            "PLUGIN_TAG_STRATEGIES",
            f"{', '.join(strategies)} gave no tag for this build (no git tag / branch); add a strategy or tags",
        )
    if rules.latest or "latest" in tags:
        warnings.append("latest is pushed too: it is mutable, deploy by the unique tags or the digest instead")
    return Tags(tuple(tags), tuple(warnings))
