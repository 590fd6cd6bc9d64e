"""Bad inputs that look plausible until Docker, the registry or the API server sees them, against the stack, each
run as the plugin's own process: the bad input is refused with exit 2 and one line naming the setting, and nothing
changed (no image built or pushed, no object touched, no pod killed). The seventh case (chaos-kill's
guard) runs a real kill: percent 99 of 7 pods leaves one Ready pod."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from kubernetes import client

from .stacklib import DRONE_CI, WEB_MANIFEST, Namespace, Registry, cluster_state, registry_state, run_plugin_process
from .test_chaos_kill import deployment, wait_available


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    (tmp_path / "a.txt").write_text(f"{uuid.uuid4()}\n")
    return tmp_path


def refused(plugin: str, env: dict[str, str], cwd: Path, setting: str, secret: str) -> str:
    done = run_plugin_process(plugin, env, cwd)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "Traceback" not in out and secret not in out, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert f": {setting}: " in last, last[:500]
    return last


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        pytest.param({"PLUGIN_CACHE_FROM": '{"a":1}'}, "PLUGIN_CACHE_FROM", id="json-object-for-cache_from"),
        pytest.param({"PLUGIN_REPO": "127.0.0.1:5000/" + "a" * 100_000}, "PLUGIN_REPO", id="100000-character-repo"),
    ],
)
def test_publish_refuses_before_building(
    stack: dict[str, str],
    registry: Registry,
    docker_client: docker.DockerClient,
    scratch_repo: str,
    workspace: Path,
    settings: dict[str, str],
    setting: str,
) -> None:
    env = {
        **DRONE_CI,
        "DOCKER_HOST": stack["DOCKER_HOST"],
        "PLUGIN_REPO": scratch_repo,
        "PLUGIN_USERNAME": registry.username,
        "PLUGIN_PASSWORD": registry.password,
        **settings,
    }
    tags_before = registry_state(registry, [scratch_repo])
    last = refused("docker_publish_tagger", env, workspace, setting, registry.password)
    assert len(last) < 600  # the 100,000 characters are not echoed back
    assert docker_client.images.list(name=scratch_repo) == []  # nothing was built
    assert registry_state(registry, [scratch_repo]) == tags_before
    assert not (workspace / ".tags").exists()


@pytest.mark.parametrize(
    ("plugin", "settings", "setting"),
    [
        pytest.param(
            "kubectl_helm_deploy",
            {"PLUGIN_NAMESPACE": "n" * 64, "PLUGIN_MANIFESTS": "k8s"},
            "PLUGIN_NAMESPACE",
            id="deploy-namespace-64",
        ),
        pytest.param(
            "deployment_verify",
            {"PLUGIN_NAMESPACE": "n" * 64, "PLUGIN_DEPLOYMENTS": "web"},
            "PLUGIN_NAMESPACE",
            id="verify-namespace-64",
        ),
        pytest.param(
            "chaos_kill",
            {"PLUGIN_LABEL_SELECTOR": "app=" + "x" * 100_000},
            "PLUGIN_LABEL_SELECTOR",
            id="chaos-huge-selector",
        ),
        pytest.param(
            "chaos_kill", {"PLUGIN_LABEL_SELECTOR": "app in (web"}, "PLUGIN_LABEL_SELECTOR", id="chaos-bad-selector"
        ),
        pytest.param(
            "deployment_verify",
            {"PLUGIN_LABEL_SELECTOR": "app==web,,tier"},
            "PLUGIN_LABEL_SELECTOR",
            id="verify-bad-selector",
        ),
        pytest.param(
            "chaos_kill",
            {"PLUGIN_LABEL_SELECTOR": "app=web", "PLUGIN_GRACE_PERIOD": "1e23"},
            "PLUGIN_GRACE_PERIOD",
            id="chaos-grace-1e23",
        ),
        pytest.param(
            "chaos_kill",
            {"PLUGIN_LABEL_SELECTOR": "app=web", "PLUGIN_GRACE_PERIOD": "1" + "0" * 23},
            "PLUGIN_GRACE_PERIOD",
            id="chaos-grace-10e23",
        ),
    ],
)
def test_cluster_plugins_refuse_before_any_api_call(
    kube_admin: client.ApiClient,
    namespace: Namespace,
    tmp_path: Path,
    plugin: str,
    settings: dict[str, str],
    setting: str,
) -> None:
    deployment(kube_admin, namespace.name, "web", 2)
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "web.yaml").write_text(WEB_MANIFEST)
    env = {**DRONE_CI, **namespace.access_env(), **settings}
    before = cluster_state(kube_admin, namespace.name)
    refused(plugin, env, tmp_path, setting, namespace.token)
    assert cluster_state(kube_admin, namespace.name) == before


def test_chaos_never_kills_the_last_ready_pod(
    kube_admin: client.ApiClient, namespace: Namespace, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 7)
    env = {
        **namespace.access_env(),
        "PLUGIN_LABEL_SELECTOR": "app=web",
        "PLUGIN_MODE": "percent",
        "PLUGIN_VALUE": "99",
        "PLUGIN_REPORT_FILE": str(tmp_path / "r.json"),
    }
    done = run_plugin_process("chaos_kill", env, tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    data: dict[str, Any] = json.loads((tmp_path / "r.json").read_text())
    kills = [k for k in data["rounds"][0]["kills"] if k["outcome"] == "killed"]
    assert len(kills) == 6, out[-3000:]
    assert "min_available 1 shrinks this round from 7 to 6 pod(s)" in out
    wait_available(kube_admin, namespace.name, "web", 7)
