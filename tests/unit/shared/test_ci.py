from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shared.ci import CI_SETTINGS, CIContext, context_from_env, context_from_git, detect_system, read_context, variable
from shared.settings import Declaration

SHA = "0123456789abcdef0123456789abcdef01234567"

DRONE = {
    "DRONE": "true",
    "DRONE_BUILD_NUMBER": "42",
    "DRONE_COMMIT_SHA": SHA,
    "DRONE_COMMIT_REF": "refs/heads/main",
    "DRONE_COMMIT_BRANCH": "main",
    "DRONE_BUILD_EVENT": "push",
    "DRONE_REPO": "acme/web",
    "DRONE_REPO_LINK": "https://git.example.com/acme/web",
    "DRONE_REPO_BRANCH": "main",
}
WOODPECKER = {
    "CI": "woodpecker",
    "CI_PIPELINE_NUMBER": "7",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_REF": "refs/tags/v1.2.3",
    "CI_COMMIT_TAG": "v1.2.3",
    "CI_PIPELINE_EVENT": "tag",
    "CI_REPO": "acme/web",
    "CI_REPO_URL": "https://git.example.com/acme/web",
    "CI_REPO_DEFAULT_BRANCH": "main",
}


@pytest.mark.parametrize(
    ("env", "system"),
    [
        pytest.param(DRONE, "drone", id="drone"),
        pytest.param(WOODPECKER, "woodpecker", id="woodpecker"),
        pytest.param({"CI_SYSTEM_NAME": "woodpecker"}, "woodpecker", id="woodpecker-system-name"),
        pytest.param({"CI": "true"}, "local", id="other-ci"),
        pytest.param({}, "local", id="none"),
    ],
)
def test_detect_system(env: dict[str, str], system: str) -> None:
    assert detect_system(env) == system


# What both environments above say alike.
SAME = {
    "commit_sha": SHA,
    "repo": "acme/web",
    "repo_link": "https://git.example.com/acme/web",
    "default_branch": "main",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            DRONE,
            CIContext(system="drone", build_number="42", ref="refs/heads/main", branch="main", event="push", **SAME),
            id="drone",
        ),
        pytest.param(
            WOODPECKER,
            CIContext(system="woodpecker", build_number="7", ref="refs/tags/v1.2.3", tag="v1.2.3", event="tag", **SAME),
            id="woodpecker",
        ),
    ],
)
def test_context_from_env(env: dict[str, str], expected: CIContext) -> None:
    assert context_from_env(env) == expected


def test_tag_derived_from_ref_when_variable_missing() -> None:
    env = {**DRONE, "DRONE_COMMIT_REF": "refs/tags/v2.0.0", "DRONE_COMMIT_BRANCH": ""}
    assert context_from_env(env).tag == "v2.0.0"


def test_local_uses_git_info() -> None:
    git = CIContext(commit_sha=SHA, branch="dev")
    assert context_from_env({}, git) == CIContext(system="local", commit_sha=SHA, branch="dev")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_context_from_real_git(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "feature/x")
    git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "one")
    git(tmp_path, "remote", "add", "origin", "https://git.example.com/acme/web.git")
    ctx = context_from_git(tmp_path)
    assert len(ctx.commit_sha) == 40 and ctx.branch == "feature/x" and ctx.tag == ""
    assert ctx.repo_link == "https://git.example.com/acme/web.git"
    git(tmp_path, "tag", "v0.3.0")
    assert context_from_git(tmp_path).tag == "v0.3.0"


def test_not_a_git_repo(tmp_path: Path) -> None:
    assert context_from_git(tmp_path) == CIContext()


def test_settings_override_any_field() -> None:
    values = Declaration("x", CI_SETTINGS).load({"PLUGIN_BUILD_NUMBER": "99", "PLUGIN_COMMIT_TAG": "v9.9.9"})
    ctx = read_context(DRONE, values)
    assert (ctx.build_number, ctx.tag, ctx.commit_sha) == ("99", "v9.9.9", SHA)


def test_override_names_do_not_collide_with_plugin_settings() -> None:
    assert {s.name for s in CI_SETTINGS}.isdisjoint({"repo", "tag", "tags", "branch", "ref", "event"})


@pytest.mark.parametrize(
    ("field", "system", "name"),
    [
        pytest.param("build_number", "drone", "DRONE_BUILD_NUMBER", id="drone"),
        pytest.param("build_number", "woodpecker", "CI_PIPELINE_NUMBER", id="woodpecker"),
        pytest.param("tag", "local", "PLUGIN_COMMIT_TAG", id="local-override"),
    ],
)
def test_variable_names_where_a_field_comes_from(field: str, system: str, name: str) -> None:
    assert variable(field, system) == name
