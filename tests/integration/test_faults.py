"""Faults on the real stack: the kube-apiserver killed (SIGKILL) and started again while a plugin waits, the
registry killed mid-push, a dead controller-manager brought back by `make up`.

Each plugin runs in its own process as a pipeline step would (`python -m plugins.<name>`, PLUGIN_* variables,
the deployer's token). Rollouts and recoveries are held with cordoned nodes, so the fault always lands while the
plugin waits, and released only after the API server is back. Every test restores the stack on the way out
(started components, uncordoned nodes; `stack/cluster.sh heal` after each), whatever happened: the rest of the
suite runs on this stack.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from kubernetes import client

from .deploy_support import FIXTURES, IMAGE
from .faults import Plugin, cluster_sh, component_down, component_pids, nodes_cordoned, uncordon
from .stacklib import REPO_ROOT, STACK_ENV, Namespace, Registry, deployment_manifest, wait_for

# How long a killed component stays down when nothing in the plugin's output marks the moment to bring it back.
FAULT_SECONDS = 3.0
# Generous: two busy cores, a Kubernetes control plane restarting, other tests' leftovers.
WAIT = 240.0


@pytest.fixture(autouse=True)
def healed_stack() -> Iterator[None]:
    """Every component healthy before and after each test (restarting what a failed test left stopped)."""
    cluster_sh("heal")
    yield
    cluster_sh("heal")


def plugin_env(ns: Namespace, tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **ns.access_env(),
        "PLUGIN_REPORT_FILE": str(tmp_path / "report.json"),
        **{f"PLUGIN_{k.upper()}": v for k, v in settings.items()},
    }


def create_deployment(admin: client.ApiClient, ns: str, name: str, image: str, replicas: int) -> None:
    apps = client.AppsV1Api(admin)
    apps.create_namespaced_deployment(ns, deployment_manifest(name, image, replicas))
    wait_for(lambda: (apps.read_namespaced_deployment(name, ns).status.available_replicas or 0) == replicas, 120)


def through_apiserver_restart(
    admin: client.ApiClient,
    module: str,
    env: dict[str, str],
    cwd: Path,
    *,
    waiting: str = r'Waiting for deployment "web" rollout',
    noticed: str | None = r"interrupted|retrying",
) -> tuple[int, str]:
    """Run the plugin (inside `nodes_cordoned`: its rollout or recovery is held); once it prints `waiting`, kill
    the API server and keep it down until the plugin prints `noticed` and FAULT_SECONDS more; start it again,
    uncordon the nodes, and return the plugin's exit code and output."""
    plugin = Plugin(module, env, cwd)
    try:
        plugin.wait_for_output(waiting, WAIT)
        with component_down("kube-apiserver"):
            if noticed:
                plugin.wait_for_output(noticed, WAIT)  # it saw the connection go
            time.sleep(FAULT_SECONDS)  # the fault's length: reconnecting is refused meanwhile
        uncordon(admin)
        code, out = plugin.finish(WAIT + 120)
    finally:
        plugin.stop()
    print(f"[faults] {module} exit {code}, 401/403 ridden out {noted_refusals(out)} times:\n{out}")
    return code, out


def report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "report.json").read_text())  # type: ignore[no-any-return]


def noted_refusals(out: str) -> int:
    """How many times the plugin rode out a 401/403 (the restarted API server's empty caches)."""
    return len(re.findall(r"(forbidden \(403\)|unauthorized \(401\)).*(resuming|retrying)", out))


def test_deployment_verify_rides_out_an_apiserver_restart(
    namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    create_deployment(kube_admin, namespace.name, "web", "app:1", 2)
    apps = client.AppsV1Api(kube_admin)
    controllers = {k: v for k, v in component_pids().items() if k in ("kube-controller-manager", "kube-scheduler")}
    with nodes_cordoned(kube_admin):
        apps.patch_namespaced_deployment(
            "web",
            namespace.name,
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:2"}],
        )
        env = plugin_env(namespace, tmp_path, deployments="web", timeout="300s")
        code, out = through_apiserver_restart(kube_admin, "plugins.deployment_verify", env, tmp_path)
    assert code == 0, out
    rollout = next(c for c in report(tmp_path)["checks"] if c["name"] == "rollout web")
    assert rollout["passed"] and rollout["measured"].startswith("revision 2 "), rollout
    # The stack survived too: the same controller-manager and scheduler, healthy.
    after = component_pids()
    assert {k: after[k] for k in controllers} == controllers


def test_kubectl_helm_deploy_rides_out_an_apiserver_restart(
    namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    env = plugin_env(
        namespace, tmp_path, manifests=str(FIXTURES / "app"), image=f"{IMAGE}:v1", timeout="300s", scale_down_delay="0s"
    )
    env["GREETING"] = "hello"  # the fixture's ConfigMap substitutes it
    with nodes_cordoned(kube_admin):
        code, out = through_apiserver_restart(kube_admin, "plugins.kubectl_helm_deploy", env, tmp_path)
    assert code == 0, out
    assert "deployment web rolled out: revision 1" in out
    status = client.AppsV1Api(kube_admin).read_namespaced_deployment("web", namespace.name).status
    assert status.available_replicas == 4


def test_chaos_kill_recovery_rides_out_an_apiserver_restart(
    namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    create_deployment(kube_admin, namespace.name, "web", "app:1", 3)
    env = plugin_env(namespace, tmp_path, label_selector="app=web", mode="one", recovery_timeout="300s")
    with nodes_cordoned(kube_admin):  # the replacement pod stays Pending: recovery is in progress
        # Recovery prints nothing while it waits: the outage is FAULT_SECONDS after the kill.
        code, out = through_apiserver_restart(
            kube_admin, "plugins.chaos_kill", env, tmp_path, waiting=r"\): killed", noticed=None
        )
    assert code == 0, out
    data = report(tmp_path)
    assert data["passed"] is True
    assert re.search(r"recovered in \d+\.\ds", out), out


@pytest.fixture
def big_context(tmp_path: Path) -> Path:
    """A build context whose one layer takes a while to upload (random bytes do not compress)."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY big.bin /big.bin\n")
    with (tmp_path / "big.bin").open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(1 << 20))
    return tmp_path


def test_registry_restart_mid_push_completes_or_names_the_registry(
    stack: dict[str, str], registry: Registry, docker_client: docker.DockerClient, big_context: Path
) -> None:
    path = f"it/faults-{uuid.uuid4().hex[:10]}"
    repo = f"{registry.host}/{path}"
    env = {
        "DOCKER_HOST": stack["DOCKER_HOST"],
        "PLUGIN_REPO": repo,
        "PLUGIN_USERNAME": registry.username,
        "PLUGIN_PASSWORD": registry.password,
        "PLUGIN_TAGS": "fault",
        "DRONE": "true",
        "DRONE_BUILD_NUMBER": "1",
        "DRONE_COMMIT_SHA": "c0ffee0123456789abcdef0123456789abcdef01",
    }
    uploads = STACK_ENV.parent / "registry" / "data" / "docker" / "registry" / "v2" / "repositories" / path / "_uploads"
    plugin = Plugin("plugins.docker_publish_tagger", env, big_context)
    try:
        # The moment the registry has accepted the start of the layer upload: kill it.
        wait_for(lambda: (uploads.is_dir() and any(uploads.iterdir())) or plugin.process.poll() is not None, 400, 0.02)
        assert plugin.process.poll() is None, f"the push ended before it could be interrupted:\n{plugin.output}"
        with component_down("registry"):
            time.sleep(FAULT_SECONDS)
        code, out = plugin.finish(400)
    finally:
        plugin.stop()
        for image in docker_client.images.list(name=repo):
            for ref in image.tags:
                docker_client.images.remove(ref, noprune=False)
    print(f"[faults] docker-publish-tagger exit {code}:\n{out}")
    assert registry.password not in out
    assert code in (0, 1), out
    if code == 0:
        tags = requests.get(
            f"http://{registry.host}/v2/{path}/tags/list", auth=(registry.username, registry.password), timeout=10
        ).json()["tags"]
        assert "fault" in tags
    else:
        last = out.strip().splitlines()[-1]
        assert registry.host in last, out
    assert "Traceback" not in out


def test_make_up_restarts_a_dead_controller_manager(
    namespace: Namespace, kube_admin: client.ApiClient, stack: dict[str, str]
) -> None:
    cluster_sh("kill", "kube-controller-manager")
    try:
        assert component_pids()["kube-controller-manager"] == "-"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_STACK_LOCKED")}
        env["DOCKER_HOST"] = stack["DOCKER_HOST"]
        done = subprocess.run(
            [str(REPO_ROOT / "stack" / "up.sh")], env=env, capture_output=True, text=True, timeout=540, check=False
        )
        assert done.returncode == 0, done.stderr
    finally:
        cluster_sh("heal")
    status = cluster_sh("status")
    assert re.search(r"^kube-controller-manager\s+\d+\s+healthy$", status, re.M), status
    # ... and it works: a new Deployment gets its pods.
    create_deployment(kube_admin, namespace.name, "after", "app:1", 1)


@pytest.mark.parametrize(
    ("module", "settings"),
    [
        pytest.param("plugins.deployment_verify", {"deployments": "web", "timeout": "5s"}, id="deployment-verify"),
        pytest.param(
            "plugins.kubectl_helm_deploy",
            {"manifests": str(FIXTURES / "app"), "image": f"{IMAGE}:v1", "timeout": "5s"},
            id="kubectl-helm-deploy",
        ),
        pytest.param("plugins.chaos_kill", {"label_selector": "app=web"}, id="chaos-kill"),
    ],
)
def test_api_server_unreachable_exits_1_naming_it(
    module: str, settings: dict[str, str], namespace: Namespace, tmp_path: Path
) -> None:
    """Nothing listens where the API server should be: exit 1, the last line names the server (after at most the
    step's timeout of retries)."""
    env = plugin_env(namespace, tmp_path, **settings)
    env["PLUGIN_KUBERNETES_SERVER"] = "https://127.0.0.1:9"
    env["GREETING"] = "hello"
    plugin = Plugin(module, env, tmp_path)
    try:
        code, out = plugin.finish(WAIT)
    finally:
        plugin.stop()
    print(f"[faults] {module} without an API server: exit {code}; last line: {out.strip().splitlines()[-1]}")
    assert code == 1, out
    assert "cannot reach https://127.0.0.1:9" in out.strip().splitlines()[-1], out
