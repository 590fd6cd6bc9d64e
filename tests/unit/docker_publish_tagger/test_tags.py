"""Tag derivation: two tables (good cases, error cases), plus semver and sanitising tables."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from plugins.docker_publish_tagger.tags import TagRules, derive_tags, sanitize, semver_tags, tag_problem
from shared.ci import CIContext, context_from_env, context_from_git
from shared.errors import SettingsError

SHA = "0123456789abcdef0123456789abcdef01234567"

DRONE = {"DRONE": "true", "DRONE_BUILD_NUMBER": "42", "DRONE_COMMIT_SHA": SHA, "DRONE_COMMIT_BRANCH": "main"}
DRONE_TAG = {**DRONE, "DRONE_TAG": "v1.2.3", "DRONE_COMMIT_REF": "refs/tags/v1.2.3", "DRONE_BUILD_EVENT": "tag"}
DRONE_PR = {**DRONE, "DRONE_BUILD_EVENT": "pull_request", "DRONE_PULL_REQUEST": "17"}
WOODPECKER = {
    "CI": "woodpecker",
    "CI_PIPELINE_NUMBER": "42",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_BRANCH": "feature/Login_2",
}
WOODPECKER_TAG = {**WOODPECKER, "CI_COMMIT_TAG": "0.4.1", "CI_PIPELINE_EVENT": "tag"}


def drone(**extra: str) -> CIContext:
    return context_from_env({**DRONE, **extra})


GOOD = [
    # Drone, branch push
    pytest.param(DRONE, TagRules(), ["0123456789ab-42"], id="drone-default"),
    pytest.param(DRONE, TagRules(strategies=("build_id",)), ["42"], id="drone-build_id"),
    pytest.param(DRONE, TagRules(strategies=("system_build_id",)), ["drone-42"], id="drone-system_build_id"),
    pytest.param(DRONE, TagRules(strategies=("git_sha",)), ["0123456789ab"], id="drone-git_sha"),
    pytest.param(DRONE, TagRules(strategies=("git_sha",), sha_length=7), ["0123456"], id="drone-git_sha-7"),
    pytest.param(DRONE, TagRules(strategies=("git_sha",), sha_length=40), [SHA], id="drone-git_sha-40"),
    pytest.param(DRONE, TagRules(strategies=("git_sha_build_id",)), ["0123456789ab-42"], id="drone-sha-build"),
    pytest.param(DRONE, TagRules(strategies=("branch",)), ["main"], id="drone-branch"),
    pytest.param(DRONE, TagRules(strategies=("semver", "build_id")), ["42"], id="drone-semver-skipped-on-branch"),
    # Drone, git tag
    pytest.param(DRONE_TAG, TagRules(), ["0123456789ab-42", "1.2.3", "1.2", "1"], id="drone-tag-default"),
    pytest.param(DRONE_TAG, TagRules(strategies=("semver",)), ["1.2.3", "1.2", "1"], id="drone-tag-semver"),
    pytest.param(DRONE_TAG, TagRules(strategies=("branch", "build_id")), ["42"], id="drone-tag-no-branch-tag"),
    # Drone, pull request: never the target branch's name
    pytest.param(DRONE_PR, TagRules(strategies=("branch",)), ["pr-17"], id="drone-pr-branch"),
    # Woodpecker
    pytest.param(WOODPECKER, TagRules(), ["0123456789ab-42"], id="woodpecker-default"),
    pytest.param(WOODPECKER, TagRules(strategies=("build_id",)), ["42"], id="woodpecker-build_id"),
    pytest.param(WOODPECKER, TagRules(strategies=("system_build_id",)), ["woodpecker-42"], id="woodpecker-system"),
    pytest.param(WOODPECKER, TagRules(strategies=("git_sha",)), ["0123456789ab"], id="woodpecker-git_sha"),
    pytest.param(WOODPECKER, TagRules(strategies=("branch",)), ["feature-login_2"], id="woodpecker-branch"),
    pytest.param(WOODPECKER_TAG, TagRules(), ["0123456789ab-42", "0.4.1", "0.4"], id="woodpecker-tag-major0"),
    # prefix, suffix, latest, explicit tags, dedupe
    pytest.param(DRONE, TagRules(prefix="app-"), ["app-0123456789ab-42"], id="prefix"),
    pytest.param(DRONE, TagRules(suffix="-alpine"), ["0123456789ab-42-alpine"], id="suffix"),
    pytest.param(
        DRONE_TAG,
        TagRules(strategies=("semver",), prefix="v", suffix="-slim"),
        ["v1.2.3-slim", "v1.2-slim", "v1-slim"],
        id="prefix-suffix-semver",
    ),
    pytest.param(DRONE, TagRules(latest=True), ["0123456789ab-42", "latest"], id="latest-on"),
    pytest.param(DRONE, TagRules(latest=False), ["0123456789ab-42"], id="latest-off-by-default"),
    pytest.param(
        DRONE, TagRules(latest=True, suffix="-alpine"), ["0123456789ab-42-alpine", "latest-alpine"], id="latest-suffix"
    ),
    pytest.param(
        DRONE, TagRules(extra=("stable", "Release_1")), ["0123456789ab-42", "stable", "Release_1"], id="extra"
    ),
    pytest.param(
        DRONE, TagRules(strategies=("build_id", "build_id"), extra=("42", "x")), ["42", "x"], id="duplicates-once"
    ),
    pytest.param(
        DRONE, TagRules(strategies=("build_id",), extra=("latest",), latest=True), ["42", "latest"], id="latest-twice"
    ),
    # overrides (PLUGIN_BUILD_NUMBER ...) reach the tags through the context
    pytest.param({}, TagRules(strategies=("build_id",)), ["9"], id="local-build-number-override"),
]


@pytest.mark.parametrize(("env", "rules", "expected"), GOOD)
def test_derive_tags(env: dict[str, str], rules: TagRules, expected: list[str]) -> None:
    ctx = context_from_env(env) if env else CIContext(build_number="9")
    assert list(derive_tags(rules, ctx).tags) == expected


ERRORS = [
    pytest.param(
        CIContext(commit_sha=SHA), TagRules(strategies=("build_id",)), "PLUGIN_BUILD_NUMBER", id="local-no-build"
    ),
    pytest.param(
        drone(DRONE_BUILD_NUMBER=""), TagRules(strategies=("build_id",)), "DRONE_BUILD_NUMBER", id="drone-no-build"
    ),
    pytest.param(
        context_from_env({**WOODPECKER, "CI_PIPELINE_NUMBER": "", "CI_SYSTEM_NAME": "woodpecker"}),
        TagRules(),
        "CI_PIPELINE_NUMBER",
        id="woodpecker-default-no-build",
    ),
    pytest.param(drone(DRONE_COMMIT_SHA=""), TagRules(strategies=("git_sha",)), "DRONE_COMMIT_SHA", id="no-sha"),
    pytest.param(drone(DRONE_COMMIT_SHA="not-a-sha"), TagRules(), "DRONE_COMMIT_SHA", id="bad-sha"),
    pytest.param(
        CIContext(build_number="1"),
        TagRules(strategies=("system_build_id",)),
        "PLUGIN_TAG_STRATEGIES",
        id="system-local",
    ),
    pytest.param(drone(DRONE_TAG="release-x"), TagRules(), "DRONE_TAG", id="semver-strict"),
    pytest.param(drone(DRONE_TAG="1.2"), TagRules(strategies=("semver",)), "DRONE_TAG", id="semver-two-parts"),
    pytest.param(drone(DRONE_TAG="v01.2.3"), TagRules(strategies=("semver",)), "DRONE_TAG", id="semver-leading-zero"),
    pytest.param(drone(), TagRules(extra=("bad tag",)), "PLUGIN_TAGS", id="tag-space"),
    pytest.param(drone(), TagRules(extra=("-dash",)), "PLUGIN_TAGS", id="tag-leading-dash"),
    pytest.param(drone(), TagRules(extra=(".dot",)), "PLUGIN_TAGS", id="tag-leading-dot"),
    pytest.param(drone(), TagRules(extra=("a/b",)), "PLUGIN_TAGS", id="tag-slash"),
    pytest.param(drone(), TagRules(extra=("x" * 129,)), "PLUGIN_TAGS", id="tag-too-long"),
    pytest.param(drone(), TagRules(prefix="-"), "PLUGIN_TAG_PREFIX", id="prefix-dash"),
    pytest.param(drone(), TagRules(suffix="/x"), "PLUGIN_TAG_SUFFIX", id="suffix-slash"),
    pytest.param(
        drone(), TagRules(prefix="p" * 120), "DRONE_BUILD_NUMBER (with tag_prefix/tag_suffix)", id="prefix-too-long"
    ),
    pytest.param(
        drone(DRONE_BUILD_NUMBER="4/2"), TagRules(strategies=("build_id",)), "DRONE_BUILD_NUMBER", id="bad-build"
    ),
    pytest.param(drone(), TagRules(strategies=("semver",)), "PLUGIN_TAG_STRATEGIES", id="nothing-to-tag"),
    pytest.param(
        drone(DRONE_COMMIT_BRANCH="///"), TagRules(strategies=("branch",)), "DRONE_COMMIT_BRANCH", id="empty-branch"
    ),
]


@pytest.mark.parametrize(("ctx", "rules", "setting"), ERRORS)
def test_derive_tags_errors(ctx: CIContext, rules: TagRules, setting: str) -> None:
    with pytest.raises(SettingsError) as e:
        derive_tags(rules, ctx)
    assert e.value.setting == setting
    assert str(e.value).startswith(f"{setting}: ")


def test_error_messages_name_the_bad_tag_and_reason() -> None:
    with pytest.raises(SettingsError, match=r'PLUGIN_TAGS: tag "bad tag" contains " "; only letters'):
        derive_tags(TagRules(extra=("bad tag",)), drone())
    with pytest.raises(SettingsError, match=r'DRONE_TAG: git tag "release-x" is not a semantic version.*"release-x"'):
        derive_tags(TagRules(), drone(DRONE_TAG="release-x"))
    with pytest.raises(SettingsError, match="DRONE_BUILD_NUMBER: is not set; .* build_id .*PLUGIN_BUILD_NUMBER"):
        derive_tags(TagRules(strategies=("build_id",)), drone(DRONE_BUILD_NUMBER=""))


SEMVER = [
    pytest.param("1.2.3", ["1.2.3", "1.2", "1"], id="plain"),
    pytest.param("v1.2.3", ["1.2.3", "1.2", "1"], id="leading-v"),
    pytest.param("refs/tags/v10.20.30", ["10.20.30", "10.20", "10"], id="refs-tags"),
    pytest.param("0.2.3", ["0.2.3", "0.2"], id="major-0"),
    pytest.param("v0.0.1", ["0.0.1", "0.0"], id="major-0-minor-0"),
    pytest.param("1.2.3-rc.1", ["1.2.3-rc.1"], id="pre-release"),
    pytest.param("1.2.3+build.5", ["1.2.3-build.5"], id="build-metadata"),
    pytest.param("v2.0.0-beta+exp.sha.5114f85", ["2.0.0-beta-exp.sha.5114f85"], id="both"),
    pytest.param("1.2", None, id="two-parts"),
    pytest.param("release-1", None, id="not-semver"),
    pytest.param("01.2.3", None, id="leading-zero"),
    pytest.param("1.2.3-", None, id="empty-pre"),
]


@pytest.mark.parametrize(("tag", "expected"), SEMVER)
def test_semver_tags(tag: str, expected: list[str] | None) -> None:
    assert semver_tags(tag) == expected


def test_non_strict_semver_sanitises_into_one_tag() -> None:
    rules = TagRules(strategies=("semver",), semver_strict=False)
    assert derive_tags(rules, drone(DRONE_TAG="Release/2024 Q1")).tags == ("release-2024-q1",)
    assert derive_tags(rules, drone(DRONE_TAG="v1.2.3")).tags == ("1.2.3", "1.2", "1")


SANITIZE = [
    pytest.param("feature/Login_2", "feature-login_2", id="slash-upper"),
    pytest.param("main", "main", id="plain"),
    pytest.param("fix//double  space", "fix-double-space", id="runs"),
    pytest.param("-.leading", "leading", id="leading-punct"),
    pytest.param("trailing/", "trailing", id="trailing"),
    pytest.param("ünïcode", "n-code", id="non-ascii"),
    pytest.param("x" * 200, "x" * 128, id="truncated"),
]


@pytest.mark.parametrize(("text", "expected"), SANITIZE)
def test_sanitize(text: str, expected: str) -> None:
    assert sanitize(text) == expected
    assert tag_problem(expected) == ""


def test_long_tag_warns_and_latest_warns() -> None:
    long = "x" * 70
    result = derive_tags(TagRules(extra=(long,), latest=True), drone())
    assert any("70 characters" in w for w in result.warnings)
    assert any("latest" in w and "mutable" in w for w in result.warnings)
    assert not derive_tags(TagRules(), drone()).warnings


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "feature/Local")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "one")
    return tmp_path


def test_local_git_context(git_repo: Path) -> None:
    ctx = context_from_git(git_repo)
    sha = ctx.commit_sha
    assert derive_tags(TagRules(strategies=("git_sha", "branch")), ctx).tags == (sha[:12], "feature-local")
    with pytest.raises(SettingsError, match="PLUGIN_BUILD_NUMBER"):
        derive_tags(TagRules(), ctx)  # the default needs a build number, which git has not
    subprocess.run(["git", "tag", "v3.1.0"], cwd=git_repo, check=True)
    tagged = context_from_git(git_repo)
    assert derive_tags(TagRules(strategies=("git_sha", "semver")), tagged).tags == (sha[:12], "3.1.0", "3.1", "3")


def test_only_ascii_digits_make_a_version() -> None:
    assert semver_tags("v١.٢.٣") is None
