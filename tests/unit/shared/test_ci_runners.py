"""The CI context under each real runner: Woodpecker before Drone (it sets Drone's variables too), the
environment each runner really gives a step (captured from `drone exec` / `woodpecker-cli exec` into
fixtures/runners/), and the commit a local exec lacks, read from the workspace's git HEAD."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from plugins.docker_publish_tagger.tags import TagRules, derive_tags
from shared.ci import context_from_env, detect_system, head_commit, read_context
from shared.errors import SettingsError

from .runner_fixtures import captured


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_woodpecker_is_detected_before_its_drone_compatibility_variables() -> None:
    env = {"CI": "woodpecker", "CI_PIPELINE_NUMBER": "9", "DRONE": "true", "DRONE_BUILD_NUMBER": "9"}
    assert detect_system(env) == "woodpecker"
    tags = derive_tags(TagRules(strategies=("system_build_id",)), context_from_env(env))
    assert tags.tags == ("woodpecker-9",)


def test_woodpecker_exec_environment() -> None:
    env = captured("woodpecker-exec")
    assert env.get("DRONE_BUILD_NUMBER") == "5", "the fixture holds Woodpecker's Drone compatibility variables"
    ctx = context_from_env(env)
    assert (ctx.system, ctx.build_number, ctx.branch, ctx.event) == ("woodpecker", "5", "main", "push")
    assert ctx.commit_sha == env["CI_COMMIT_SHA"]
    assert derive_tags(TagRules(strategies=("system_build_id",)), ctx).tags == ("woodpecker-5",)


def test_drone_exec_environment_has_no_build_number_and_no_commit() -> None:
    env = captured("drone-exec")
    ctx = context_from_env(env)
    assert (ctx.system, ctx.build_number, ctx.commit_sha, ctx.branch, ctx.event) == ("drone", "", "", "main", "push")
    with pytest.raises(SettingsError) as e:
        derive_tags(TagRules(strategies=("system_build_id",)), ctx)
    assert str(e.value).startswith("DRONE_BUILD_NUMBER: is not set; tag strategy system_build_id needs it")
    assert "`drone exec` sets none: set PLUGIN_BUILD_NUMBER" in str(e.value)


def test_drone_exec_commit_comes_from_the_workspace_head_and_the_plan_says_so(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    sha = git(tmp_path, "rev-parse", "HEAD")
    ctx = read_context(captured("drone-exec"), cwd=tmp_path)
    assert ctx.commit_sha == sha
    note = f"commit {sha}: the workspace's git HEAD (git rev-parse HEAD in {tmp_path}); drone set no commit SHA"
    assert ctx.notes == (note,)


def test_a_commit_the_runner_set_is_kept(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    env = captured("woodpecker-exec")
    ctx = read_context(env, cwd=tmp_path)
    assert ctx.commit_sha == env["CI_COMMIT_SHA"] and ctx.notes == ()


def test_head_commit_reads_what_git_rev_parse_says(tmp_path: Path) -> None:
    assert head_commit(tmp_path) == ""
    git(tmp_path, "init", "-q", "-b", "main")
    assert head_commit(tmp_path) == "", "unborn HEAD"
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    (tmp_path / "sub").mkdir()
    assert head_commit(tmp_path / "sub") == git(tmp_path, "rev-parse", "HEAD")  # loose ref, from a subdirectory
    git(tmp_path, "pack-refs", "--all")
    assert head_commit(tmp_path) == git(tmp_path, "rev-parse", "HEAD")  # packed ref
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "two")
    git(tmp_path, "checkout", "-q", "--detach", "HEAD~1")
    assert head_commit(tmp_path) == git(tmp_path, "rev-parse", "HEAD")  # detached
    git(tmp_path, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"), "main")
    assert head_commit(tmp_path / "wt") == git(tmp_path / "wt", "rev-parse", "HEAD")  # a worktree's .git file
