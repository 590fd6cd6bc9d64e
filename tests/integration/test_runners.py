"""The project's own pipelines under the real runners, with the plugin images `make images` builds:

- `.drone.yml` with `drone exec` (drone-cli, which embeds drone-runner-docker), its `deliver` pipeline;
- `.woodpecker.yml` with `woodpecker-cli exec --backend-engine docker` (Woodpecker 1.0.5, the newest CLI the Go
  module proxy serves; its exec runs the pipeline's Woodpecker 2/3 list form of `steps:`, which its schema lint,
  `woodpecker-cli lint`, does not know).

Each runs in a fresh clone of this repository, root-owned 0755 as a runner's clone step leaves it, with the host
engine's socket mounted as it is (no group added, no chmod step). The run fails the test if any step fails, and
the registry and the cluster must end as the pipeline says: the tags pushed resolve to the handed-off digest, and
the stable Deployment serves that digest on every replica with the canary gone.

What differs from the files as committed is only what this machine needs, made in `for_local_stack` and checked
by `test_local_adaptation_changes_only_the_environment`: the images' tag, the registry host, the engine's socket,
host networking (the stack listens on 127.0.0.1), a base image that exists here (nothing can be pulled), a
namespace and repository path of the run's own (checkouts share the machine's cluster and registry), the Service
names the HTTP checks use mapped to their ClusterIP (`extra_hosts`: this machine runs no cluster DNS;
kube-proxy routes the ClusterIP from the host), and no `test` step (its python image cannot be pulled; `make test`
runs those tests itself). Secrets reach `drone exec` through `--secret-file` and `woodpecker-cli exec` 1.0.5
through matrix values (its only way).

The pipelines' pods run on the real node (the run's namespace is placed there), so the verify steps' HTTP checks
reach real containers through the Service, and the chaos step kills real ones.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from kubernetes import client

from demo.cluster import Cluster
from demo.plugins import image_of
from tests.unit.shared.runner_fixtures import captured

from .conftest import stack_unavailable
from .runner_env import capture, runner_environment, woodpecker_exec
from .stacklib import REPO_ROOT

NAMESPACE = "shop"  # what both pipelines deploy to (here: a namespace of the run's own, see Site)
APP = "example-app"
APP_SERVICE = "examples/k8s/service.yaml"  # the pipelines' manifests hold the Service their verify step asks
PUBLISHED_REPO = "registry.example.com/shop/example-app"
LOCAL_BASE = "shipline/python-base:bookworm"
BUILD_NUMBER = "5"
RUN_TIMEOUT = 3600  # a hung runner ends the test; a slow one (2 busy cores) still passes


def image_tag() -> str:
    """The tag `make images` gives the plugin images (demo.plugins.image_of's rule)."""
    return image_of("docker-publish-tagger").rpartition(":")[2]


@dataclass(frozen=True)
class Site:
    """What this machine gives a pipeline run: the stack's engine socket and registry; a namespace of the run's own,
    also the image's repository path (several checkouts share the machine's one cluster and registry: `shop` and
    the tags `drone-5`, `woodpecker-5` would clash between them); the cluster DNS names the HTTP checks ask for ->
    their Service's ClusterIP (no cluster DNS runs here)."""

    docker_sock: str
    registry: str
    namespace: str
    hosts: Mapping[str, str]

    @property
    def repo(self) -> str:
        return f"{self.registry}/{self.namespace}/{APP}"


def for_local_stack(steps: list[dict[str, Any]], site: Site) -> list[dict[str, Any]]:
    """The pipeline's steps as this machine can run them (see the module docstring); nothing else changes."""
    result = []
    for original in steps:
        if original["name"] == "test":
            continue
        step = copy.deepcopy(original)
        repo, _, _ = step["image"].rpartition(":")
        step["image"] = f"{repo}:{image_tag()}"
        step["network_mode"] = "host"
        settings = step.get("settings", {})
        if settings.get("repo") == PUBLISHED_REPO:
            settings["repo"] = site.repo
            settings["build_args"] = {"BASE_IMAGE": LOCAL_BASE}
        if settings.get("namespace") == NAMESPACE:
            settings["namespace"] = site.namespace
        named = sorted({urlsplit(url).hostname for url in settings.get("urls", [])} & set(site.hosts))
        if named:
            step["extra_hosts"] = [f"{name}:{site.hosts[name]}" for name in named]
        step["volumes"] = [
            f"{site.docker_sock}:/var/run/docker.sock" if v == "/var/run/docker.sock:/var/run/docker.sock" else v
            for v in step.get("volumes", [])
        ]
        if not step["volumes"]:
            del step["volumes"]
        result.append(step)
    return result


def drone_pipeline(site: Site) -> str:
    """.drone.yml's `deliver` pipeline for the local stack."""
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / ".drone.yml").read_text()) if d]
    (deliver,) = [d for d in docs if d["name"] == "deliver"]
    drone_volumes = {step["name"]: step.pop("volumes", []) for step in deliver["steps"]}
    steps = for_local_stack(deliver["steps"], site)
    for step in steps:  # Drone names its volumes: keep the step's own mounts
        if drone_volumes.get(step["name"]):
            step["volumes"] = drone_volumes[step["name"]]
    deliver["steps"] = steps
    for volume in deliver.get("volumes", []):
        if volume.get("host", {}).get("path") == "/var/run/docker.sock":
            volume["host"]["path"] = site.docker_sock
    return yaml.safe_dump(deliver, sort_keys=False)


def woodpecker_pipeline(site: Site, secrets: Mapping[str, str]) -> str:
    """.woodpecker.yml for the local stack, its secrets as matrix values (woodpecker-cli exec 1.0.5 has no other)."""
    (doc,) = [d for d in yaml.safe_load_all((REPO_ROOT / ".woodpecker.yml").read_text()) if d]
    doc["steps"] = for_local_stack(doc["steps"], site)
    doc["matrix"] = {name: [value] for name, value in secrets.items()}
    return yaml.safe_dump(doc, sort_keys=False)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class Shop:
    secrets: dict[str, str]  # the pipelines' secrets: registry credentials, cluster, a token per plugin
    site: Site


@pytest.fixture
def shop(stack: dict[str, str], checkout: Path) -> Iterator[Shop]:
    """The run's own `shop` namespace, made with examples/rbac, its pods on the real node, and the example app's
    Service created from the checkout's manifest ahead of the pipeline (whose deploy step applies the same object
    again), so that its ClusterIP is known. Removed afterwards, its pods at once (nothing measures their end)."""
    if not stack.get("REAL_NODE"):
        stack_unavailable("it has no real node (another checkout runs this machine's one, see `make up`'s output)")
    name = f"it-{NAMESPACE}-{uuid.uuid4().hex[:6]}"  # it-*: a test's namespace, as stacklib's snapshots know
    cluster = Cluster(stack["KUBECONFIG"])
    try:
        tokens = cluster.prepare_namespace(name, timeout=300)  # placed on the real node
        (service,) = [d for d in yaml.safe_load_all((checkout / APP_SERVICE).read_text()) if d]
        created = cluster.core.create_namespaced_service(name, service)
        # The committed URL's name (example-app.shop.svc.cluster.local) -> this run's Service.
        hosts = {f"{created.metadata.name}.{NAMESPACE}.svc.cluster.local": created.spec.cluster_ip}
        # The pipelines' chaos step only kills pods labelled for it and keeps 2 available: as a user would set up.
        secrets = {
            "registry_username": stack["REGISTRY_USERNAME"],
            "registry_password": stack["REGISTRY_PASSWORD"],
            "kubernetes_server": stack["KUBE_SERVER"],
            "kubernetes_cert": base64.b64encode(Path(stack["KUBE_CA_FILE"]).read_bytes()).decode(),
            "kubernetes_token": tokens["deploy"],
            "kubernetes_token_verify": tokens["verify"],
            "kubernetes_token_chaos": tokens["chaos"],
        }
        yield Shop(secrets, Site(stack["DOCKER_HOST"].removeprefix("unix://"), stack["REGISTRY"], name, hosts))
        cluster.delete_namespace(name)
        cluster.core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
    finally:
        cluster.close()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A fresh clone of this repository (HEAD: uncommitted changes are not in it), as a runner's clone step
    leaves it: root-owned, 0755."""
    assert os.geteuid() == 0, "the runner tests run as root, like the runners' clone step"
    ws = tmp_path / "src"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO_ROOT), str(ws)], check=True, timeout=300)
    ws.chmod(0o755)
    tmp_path.chmod(0o755)
    assert ws.stat().st_uid == 0 and (ws.stat().st_mode & 0o777) == 0o755
    return ws


def run(argv: list[str], cwd: Path, env: Mapping[str, str], secrets: Mapping[str, str]) -> str:
    """Run a runner to the end; its output (secrets masked), or a test failure naming the failed step."""
    done = subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    output = done.stdout + done.stderr
    for value in sorted(secrets.values(), key=len, reverse=True):
        output = output.replace(value, "******")
    assert done.returncode == 0, f"{argv[0]} exited {done.returncode}:\n{output[-12000:]}"
    return output


# ---------------------------------------------------------------------------------------------------------------
# What the runs must leave behind


def assert_delivered(
    stack: Mapping[str, str], kube_admin: client.ApiClient, site: Site, ws: Path, tags: list[str]
) -> None:
    handoff = json.loads((ws / ".shipline" / "publish.json").read_text())
    assert handoff["repo"] == site.repo and handoff["image"] == f"{site.repo}@{handoff['digest']}"
    assert handoff["tags"] == tags
    assert (ws / ".tags").read_text().strip() == ",".join(tags)
    auth = (stack["REGISTRY_USERNAME"], stack["REGISTRY_PASSWORD"])
    for tag in tags:
        head = requests.head(
            f"http://{stack['REGISTRY']}/v2/{site.namespace}/{APP}/manifests/{tag}",
            auth=auth,
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == handoff["digest"], tag
    apps = client.AppsV1Api(kube_admin)
    stable = apps.read_namespaced_deployment(APP, site.namespace)
    assert [c.image for c in stable.spec.template.spec.containers] == [handoff["image"]]
    assert stable.status.updated_replicas == stable.spec.replicas == stable.status.available_replicas
    names = {d.metadata.name for d in apps.list_namespaced_deployment(site.namespace).items}
    assert f"{APP}-canary" not in names, "the canary was promoted: it must be gone"
    verify = json.loads((ws / ".shipline" / "verify.json").read_text())
    assert verify["passed"] is True
    # The HTTP check ran against the real pods behind the Service, as committed (not only the rollout check).
    checks = {c["name"]: c["passed"] for c in verify["checks"]}
    assert checks.get(f"http http://{APP}.{NAMESPACE}.svc.cluster.local/") is True, checks
    for report in ("verify-canary.xml", "chaos.xml", "verify.xml"):
        assert (ws / ".shipline" / report).is_file(), report


def head_of(ws: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ws, capture_output=True, text=True, check=True
    ).stdout.strip()


# ---------------------------------------------------------------------------------------------------------------
# The runs


@pytest.mark.real_node
def test_drone_exec_runs_the_project_pipeline(
    images: dict[str, str], stack: dict[str, str], shop: Shop, kube_admin: client.ApiClient, checkout: Path
) -> None:
    private = Path(tempfile.mkdtemp(prefix="shipline-drone-"))
    try:
        pipeline = private / "drone.yml"
        pipeline.write_text(drone_pipeline(shop.site))
        secret_file = private / "secrets.env"
        secret_file.write_text("".join(f"{k}={v}\n" for k, v in shop.secrets.items()))
        # drone exec sets DRONE_BUILD_NUMBER=0 (no build): the build number is given as the plugin setting.
        env_file = private / "build.env"
        env_file.write_text(f"PLUGIN_BUILD_NUMBER={BUILD_NUMBER}\n")
        argv = [stack["DRONE_BIN"], "exec", "--trusted", "--pipeline", "deliver", "--event", "push"]
        argv += ["--branch", "main", "--secret-file", str(secret_file), "--env-file", str(env_file), str(pipeline)]
        output = run(argv, checkout, runner_environment(stack), shop.secrets)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    sha = head_of(checkout)
    # drone exec sets no commit: the plan says it came from the workspace's HEAD.
    assert f"commit {sha}: the workspace's git HEAD" in output, output[-6000:]
    assert_delivered(stack, kube_admin, shop.site, checkout, [f"{sha[:12]}-{BUILD_NUMBER}", f"drone-{BUILD_NUMBER}"])


@pytest.mark.real_node
def test_woodpecker_exec_runs_the_project_pipeline(
    images: dict[str, str], stack: dict[str, str], shop: Shop, kube_admin: client.ApiClient, checkout: Path
) -> None:
    sha = head_of(checkout)
    # woodpecker-cli exec mounts the pipeline file's directory as the workspace: the file lives in the clone.
    pipeline = checkout / ".woodpecker-local.yml"
    pipeline.touch(mode=0o600)
    pipeline.write_text(woodpecker_pipeline(shop.site, shop.secrets))
    argv = [*woodpecker_exec(stack), "--pipeline-number", BUILD_NUMBER]
    argv += ["--commit-sha", sha, "--commit-branch", "main", "--commit-ref", "refs/heads/main"]
    argv += ["--pipeline-event", "push", "--repo", "shipline/shipline", str(pipeline)]
    try:
        run(argv, checkout, runner_environment(stack), shop.secrets)
    finally:
        pipeline.unlink()
    # Woodpecker also sets DRONE_BUILD_NUMBER: the system tag must still say woodpecker.
    tags = [f"{sha[:12]}-{BUILD_NUMBER}", f"woodpecker-{BUILD_NUMBER}"]
    assert_delivered(stack, kube_admin, shop.site, checkout, tags)


def test_a_failed_step_fails_each_runner(images: dict[str, str], stack: dict[str, str], tmp_path: Path) -> None:
    """What the pipeline tests rely on: a plugin step that exits 2 makes each runner exit non-zero."""
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    step = {"name": "bad", "image": images["chaos-kill"], "settings": {"mode": "nonsense"}}
    (tmp_path / ".drone.yml").write_text(
        yaml.safe_dump({"kind": "pipeline", "type": "docker", "name": "neg", "steps": [step]})
    )
    (tmp_path / ".woodpecker.yml").write_text(yaml.safe_dump({"steps": [step]}))
    env = runner_environment(stack)
    for argv in (
        [stack["DRONE_BIN"], "exec", "--pipeline", "neg", ".drone.yml"],
        [*woodpecker_exec(stack), ".woodpecker.yml"],
    ):
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "PLUGIN_NAMESPACE: is required" in output, output


def test_unit_fixtures_are_what_the_runners_give(images: dict[str, str], stack: dict[str, str]) -> None:
    """The unit tests' runner environments (fixtures/runners/*.env) match a fresh capture: the same variables and,
    for everything but per-run values (times, host names, paths), the same values."""
    volatile = {"HOSTNAME", "DRONE_DOCKER_NETWORK_ID", "DRONE_DOCKER_VOLUME_PATH", "CI_STEP_NAME"}  # + exec --prefix
    volatile |= {"CI_COMMIT_SHA", "DRONE_COMMIT", "DRONE_COMMIT_SHA"}  # the capture's own throwaway commit
    for name, lines in capture(stack).items():
        fresh = dict(line.split("=", 1) for line in lines)
        kept = captured(name)
        assert sorted(fresh) == sorted(kept), f"{name}: rerun python -m tests.integration.runner_env"
        for key, value in fresh.items():
            if not key.endswith(("_STARTED", "_FINISHED", "_CREATED")) and key not in volatile:
                assert kept[key] == value, f"{name}: {key}={value!r}, the fixture says {kept[key]!r}"


# ---------------------------------------------------------------------------------------------------------------
# The adaptation itself (no stack needed)

FAKE_SITE = Site(
    docker_sock="/stack/docker.sock",
    registry="127.0.0.1:5000",
    namespace="it-shop-0a1b2c",
    hosts={"example-app.shop.svc.cluster.local": "10.96.0.42", "unused.shop.svc.cluster.local": "10.96.0.43"},
)


@pytest.mark.parametrize("name", [".drone.yml", ".woodpecker.yml"])
def test_local_adaptation_changes_only_the_environment(name: str) -> None:
    """Every step the runner tests run is the committed step with only the listed, environmental changes."""
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / name).read_text()) if d]
    if name == ".drone.yml":
        committed = next(d for d in docs if d["name"] == "deliver")["steps"]
        adapted = yaml.safe_load(drone_pipeline(FAKE_SITE))["steps"]
    else:
        committed = docs[0]["steps"]
        adapted = yaml.safe_load(woodpecker_pipeline(FAKE_SITE, {"s": "v"}))["steps"]
    committed = [s for s in committed if s["name"] != "test"]
    assert [s["name"] for s in adapted] == [s["name"] for s in committed]
    mapped = []
    for before, after in zip(committed, adapted, strict=True):
        after = copy.deepcopy(after)
        assert after.pop("network_mode") == "host"
        assert after["image"] == before["image"].rpartition(":")[0] + ":" + image_tag()
        after["image"] = before["image"]
        settings = after.get("settings", {})
        if "repo" in settings:
            assert settings.pop("build_args") == {"BASE_IMAGE": LOCAL_BASE}
            assert settings["repo"] == "127.0.0.1:5000/it-shop-0a1b2c/example-app"
            settings["repo"] = PUBLISHED_REPO
        if "namespace" in settings:
            assert settings["namespace"] == "it-shop-0a1b2c"
            settings["namespace"] = NAMESPACE
        if name == ".woodpecker.yml" and "volumes" in before:
            assert after["volumes"] == ["/stack/docker.sock:/var/run/docker.sock"]
            after["volumes"] = before["volumes"]
        if "extra_hosts" in after:  # only the Service names its own URLs ask for
            assert after.pop("extra_hosts") == ["example-app.shop.svc.cluster.local:10.96.0.42"]
            mapped.append(after["name"])
        assert after == before  # the HTTP checks too: URLs, expected body, error rate, as committed
    assert mapped == ["verify"]
