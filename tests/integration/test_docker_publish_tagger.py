"""docker-publish-tagger against the real stack: the Docker engine at DOCKER_HOST and the htpasswd registry on
127.0.0.1. Nothing can be pulled, so the images are multi-stage `FROM scratch` builds of small files."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from plugins.docker_publish_tagger.__main__ import main
from tests.harness import Harness, Run

from .stacklib import Registry

SHA = "c0ffee0123456789abcdef0123456789abcdef01"
# A multi-stage build: two layers, one copied across stages.
DOCKERFILE = (Path(__file__).resolve().parent / "fixtures" / "publish" / "Dockerfile").read_text()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A build context with a multi-stage Dockerfile; unique file content so the first push uploads layers."""
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "a.txt").write_text(f"a {uuid.uuid4()}\n")
    (tmp_path / "b.txt").write_text(f"b {uuid.uuid4()}\n")
    monkeypatch.chdir(tmp_path)
    # The test itself may run inside a CI system: only the variables a test sets may count.
    for name in ("CI", "DOCKER_HOST"):  # the harness clears the other CI variables
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def repo(scratch_repo: str) -> str:
    """This test's repository (conftest's scratch_repo: the engine is left as found)."""
    return scratch_repo


@pytest.fixture
def plugin(
    stack: dict[str, str],
    registry: Registry,
    workspace: Path,
    repo: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
):
    """Runs the plugin in-process with Drone-like variables plus `settings`; returns exit code and output."""
    harness = Harness(monkeypatch, capfd).configure(
        secrets=[registry.password],
        DOCKER_HOST=stack["DOCKER_HOST"],
        repo=repo,
        username=registry.username,
        password=registry.password,
    )

    def run(settings: dict[str, str], build_number: str = "1", ci: dict[str, str] | None = None) -> Run:
        drone = {
            "DRONE": "true",
            "DRONE_BUILD_NUMBER": build_number,
            "DRONE_COMMIT_SHA": SHA,
            "DRONE_COMMIT_BRANCH": "main",
        }
        return harness.run(main, **{**(drone if ci is None else ci), **settings})

    return run


def registry_get(registry: Registry, path: str, method: str = "GET") -> requests.Response:
    accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    return requests.request(
        method,
        f"http://{registry.host}/v2/{path}",
        auth=(registry.username, registry.password),
        headers={"Accept": accept},
        timeout=10,
    )


def registry_tags(registry: Registry, repo: str) -> list[str]:
    resp = registry_get(registry, f"{repo.split('/', 1)[1]}/tags/list")
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return sorted(resp.json().get("tags") or [])


def registry_digest(registry: Registry, repo: str, tag: str) -> str:
    resp = registry_get(registry, f"{repo.split('/', 1)[1]}/manifests/{tag}", method="HEAD")
    resp.raise_for_status()
    return resp.headers["Docker-Content-Digest"]


def test_push_with_auth_exact_tags_and_handoff_digest(plugin, registry: Registry, repo: str, workspace: Path) -> None:
    run = plugin({"PLUGIN_TAG_STRATEGIES": "build_id,git_sha_build_id,git_sha"}, build_number="41")
    assert run.code == 0, run.out
    assert registry_tags(registry, repo) == sorted(["41", "c0ffee012345-41", "c0ffee012345"])  # no latest
    handoff = json.loads((workspace / ".shipline/publish.json").read_text())
    for tag in handoff["tags"]:
        assert registry_digest(registry, repo, tag) == handoff["digest"]
    assert handoff["image"] == f"{repo}@{handoff['digest']}"
    assert handoff["repo"] == repo and handoff["build_number"] == "41" and handoff["commit"] == SHA
    assert handoff["labels"]["org.opencontainers.image.revision"] == SHA
    assert (workspace / ".tags").read_text().strip() == "41,c0ffee012345-41,c0ffee012345"
    assert "layer " in run.out and ": pushed" in run.out
    assert f"{repo}:41" in run.out and handoff["digest"] in run.out  # the summary table


def test_rerun_same_commit_adds_one_tag_and_uploads_no_layer(plugin, registry: Registry, repo: str) -> None:
    first = plugin({}, build_number="7")
    assert first.code == 0, first.out
    assert registry_tags(registry, repo) == ["c0ffee012345-7"]
    second = plugin({}, build_number="8")
    assert second.code == 0, second.out
    assert registry_tags(registry, repo) == ["c0ffee012345-7", "c0ffee012345-8"]
    layer_lines = [line for line in second.out.splitlines() if line.strip().startswith("layer ")]
    assert layer_lines and all(line.endswith("layer already exists") for line in layer_lines), layer_lines


def test_dry_run_builds_locally_and_pushes_nothing(
    plugin, registry: Registry, repo: str, workspace: Path, docker_client: docker.DockerClient
) -> None:
    run = plugin({"PLUGIN_DRY_RUN": "true"}, build_number="3")
    assert run.code == 0, run.out
    assert registry_tags(registry, repo) == []
    assert docker_client.images.get(f"{repo}:c0ffee012345-3")  # built and tagged locally
    assert f"would push  {repo}:c0ffee012345-3" in run.out
    assert not (workspace / ".shipline/publish.json").exists()


def test_wrong_password_exits_1_with_the_registrys_message(plugin, registry: Registry, repo: str) -> None:
    run = plugin({"PLUGIN_PASSWORD": "not-the-password-42"})
    assert run.code == 1, run.out
    last = run.out.strip().splitlines()[-1]
    assert "unauthorized: authentication required" in last and registry.host in last
    assert "not-the-password-42" not in run.out
    assert registry_tags(registry, repo) == []


def test_bad_tag_exits_2_before_anything(plugin, registry: Registry, repo: str, docker_client) -> None:
    run = plugin({"PLUGIN_TAGS": "ok,not/ok"})
    assert run.code == 2, run.out
    assert 'PLUGIN_TAGS: "ok,not/ok" has an item "not/ok" that is not a tag' in run.out.strip().splitlines()[-1]
    assert "== build" not in run.out
    assert registry_tags(registry, repo) == []


def test_missing_dockerfile_exits_2(plugin, workspace: Path) -> None:
    run = plugin({"PLUGIN_DOCKERFILE": "docker/Dockerfile.prod"})
    assert run.code == 2 and "PLUGIN_DOCKERFILE" in run.out.strip().splitlines()[-1]


def test_failed_step_shows_its_output_and_exits_1(plugin, workspace: Path) -> None:
    (workspace / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\nCOPY missing.txt /m\n")
    run = plugin({})
    assert run.code == 1, run.out
    # auto_labels add LABEL steps after the Dockerfile's own, hence Step 3/N
    assert re.search(r"^xx   Step 3/\d+ : COPY missing.txt /m$", run.out, re.M)
    assert re.search(r"build failed at Step 3/\d+ : COPY missing.txt /m: COPY failed", run.out.strip().splitlines()[-1])


def test_target_builds_the_named_stage(plugin, repo: str, docker_client: docker.DockerClient) -> None:
    run = plugin({"PLUGIN_TARGET": "assets", "PLUGIN_DRY_RUN": "true"}, build_number="5")
    assert run.code == 0, run.out
    image = docker_client.api.inspect_image(f"{repo}:c0ffee012345-5")
    assert len(image["RootFS"]["Layers"]) == 1  # the assets stage only: a.txt, not b.txt
    assert "COPY b.txt" not in run.out


def test_unreachable_registry_exits_1_naming_host(plugin) -> None:
    run = plugin({"PLUGIN_REPO": "127.0.0.1:9/it/nowhere"})
    assert run.code == 1, run.out
    assert "registry 127.0.0.1:9 is unreachable" in run.out.strip().splitlines()[-1]


def test_woodpecker_latest_and_secret_build_args(
    plugin, registry: Registry, repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (Path("Dockerfile")).write_text(DOCKERFILE + "ARG NPM_TOKEN_VALUE\n")
    monkeypatch.setenv("NPM_TOKEN_VALUE", "tok-secret-value-123")
    ci = {"CI": "woodpecker", "CI_PIPELINE_NUMBER": "12", "CI_COMMIT_SHA": SHA, "CI_COMMIT_BRANCH": "feature/X"}
    settings = {
        "PLUGIN_TAG_STRATEGIES": "system_build_id,branch",
        "PLUGIN_LATEST": "true",
        "PLUGIN_BUILD_ARGS_FROM_ENV": "NPM_TOKEN_VALUE",
    }
    run = plugin(settings, ci=ci)
    assert run.code == 0, run.out
    assert registry_tags(registry, repo) == ["feature-x", "latest", "woodpecker-12"]
    assert "tok-secret-value-123" not in run.out
    assert "NPM_TOKEN_VALUE=******" in run.out
    assert "latest is pushed too" in run.out


def test_docker_config_credentials(plugin, registry: Registry, repo: str) -> None:
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}})
    run = plugin({"PLUGIN_USERNAME": "", "PLUGIN_PASSWORD": "", "PLUGIN_DOCKER_CONFIG": config}, build_number="2")
    assert run.code == 0, run.out
    assert registry_tags(registry, repo) == ["c0ffee012345-2"]
    assert auth not in run.out
