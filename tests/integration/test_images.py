"""The four plugin images: built on the local base by scripts/images.sh (what `make images` runs), and run as a
CI runner runs a plugin step: `docker run --rm --network host -e PLUGIN_...` against the real stack, with the
workspace and socket as CI runners hand them over (root-owned 0755 workspace, the engine's socket as it is)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client

from .stacklib import Namespace, wait_for

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("docker-publish-tagger", "kubectl-helm-deploy", "deployment-verify", "chaos-kill")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def image(plugin: str) -> str:
    return f"shipline/{plugin}:{os.environ.get('SHIPLINE_IMAGE_TAG') or VERSION}"


def docker(
    stack: Mapping[str, str], *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The docker CLI against the stack's engine. `env` values reach `docker run -e NAME` (never argv)."""
    child = {"PATH": os.environ["PATH"], "DOCKER_HOST": stack["DOCKER_HOST"], **(env or {})}
    return subprocess.run(["docker", *args], env=child, capture_output=True, text=True, timeout=600, check=False)


def run_plugin(
    stack: Mapping[str, str],
    plugin: str,
    env: Mapping[str, str],
    workdir: Path,
    docker_socket: bool = False,
    user: str = "",
    volumes: Sequence[Path] = (),
) -> subprocess.CompletedProcess[str]:
    args = ["run", "--rm", "--network", "host", "-v", f"{workdir}:{workdir}", "-w", str(workdir)]
    args += [a for v in volumes for a in ("-v", f"{v}:{v}")]  # e.g. a BuildKit daemon's socket directory
    args += ["--user", user] if user else []
    if docker_socket:
        sock = stack["DOCKER_HOST"].removeprefix("unix://")
        args += ["-v", f"{sock}:/var/run/docker.sock"]
    for name in sorted(env):
        args += ["-e", name]
    return docker(stack, *args, image(plugin), env=env)


def workspace(tmp_path: Path) -> Path:
    """A workspace as Drone's and Woodpecker's clone step leaves it: root-owned, 0755."""
    assert os.geteuid() == 0, "the integration tests run as root, like the stack they use"
    tmp_path.chmod(0o755)
    return tmp_path


def example_workspace(tmp_path: Path, part: str) -> Path:
    """A workspace holding the example's `part` (examples/k8s or examples/chart) under the same name."""
    ws = workspace(tmp_path)
    shutil.copytree(ROOT / "examples" / part, ws / part)
    return ws


# ---------------------------------------------------------------------------------------------------------------
# How the images are made

# What no image may contain (it has no shell: its files are read with `docker export`, never run).
NEVER_IN_AN_IMAGE = (
    "bin/sh", "bin/bash", "bin/dash", "usr/bin/sh", "usr/bin/bash", "usr/bin/dash", "usr/bin/apt", "usr/bin/apt-get",
    "usr/bin/dpkg", "usr/bin/perl", "wheels", "opt/shipline/bin/pip",
)  # fmt: skip
STDLIB_DROPPED = ("test", "idlelib", "tkinter", "ensurepip", "lib2to3", "pydoc_data", "distutils")
# Each image's packages (top-level names in /opt/shipline/lib): what it must carry and what it must not.
CARRIES = {
    "docker-publish-tagger": ({"docker", "requests", "yaml", "shared"}, {"kubernetes", "pyhelm3", "pydantic"}),
    "kubectl-helm-deploy": ({"kubernetes", "pyhelm3", "requests", "yaml"}, {"docker"}),
    "deployment-verify": ({"kubernetes", "requests", "yaml"}, {"docker", "pyhelm3", "pydantic"}),
    "chaos-kill": ({"kubernetes", "requests", "yaml"}, {"docker", "pyhelm3", "pydantic"}),
}


def image_files(stack: Mapping[str, str], image_name: str) -> set[str]:
    """Every path in the image's file system (from `docker export` of a created, never started container)."""
    created = docker(stack, "create", image_name)
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    try:
        child = {"PATH": os.environ["PATH"], "DOCKER_HOST": stack["DOCKER_HOST"]}
        exported = subprocess.run(["docker", "export", container], env=child, capture_output=True, timeout=300)
        assert exported.returncode == 0, exported.stderr
        with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
            return {name.rstrip("/").removeprefix("./") for name in tar.getnames()}
    finally:
        docker(stack, "rm", container)


def inspect(stack: Mapping[str, str], image_name: str) -> dict[str, Any]:
    inspected = docker(stack, "image", "inspect", image_name)
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_image_is_minimal_with_labels(images: dict[str, str], stack: dict[str, str], plugin: str) -> None:
    config = inspect(stack, images[plugin])["Config"]
    assert config["User"] == "0:0"  # runners hand over a root-owned workspace and socket (README, security)
    assert config["Entrypoint"] == [f"/opt/shipline/bin/{plugin}"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == plugin
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"]
    assert labels["org.opencontainers.image.created"]
    files = image_files(stack, images[plugin])
    assert f"opt/shipline/bin/{plugin}" in files
    assert not [path for path in NEVER_IN_AN_IMAGE if path in files]
    # Debian's /usr/lib/python3.X on the local base, /usr/local/lib/python3.X on python:3.11-slim (BASE_IMAGE)
    stdlib = {m.group(1) for path in files if (m := re.match(r"usr/(?:local/)?lib/python3\.\d+/([^/]+)", path))}
    assert "json" in stdlib and "encodings" in stdlib, sorted(stdlib)
    assert not stdlib & set(STDLIB_DROPPED)
    packages = {path.split("/")[3] for path in files if path.startswith("opt/shipline/lib/") and path.count("/") > 3}
    carried, not_carried = CARRIES[plugin]
    assert carried <= packages, sorted(packages)
    assert not packages & not_carried, sorted(packages)
    plugin_packages = {path.split("/")[4] for path in files if path.startswith("opt/shipline/lib/plugins/")}
    assert plugin_packages - {"__init__.py", "__pycache__"} == {plugin.replace("-", "_")}
    assert ("usr/local/bin/helm" in files) == (plugin == "kubectl-helm-deploy")


def test_images_share_their_common_layers(images: dict[str, str], stack: dict[str, str]) -> None:
    """Runtime and common packages first, then the Kubernetes client: what a runner pulls once for the suite."""
    layers = {plugin: inspect(stack, images[plugin])["RootFS"]["Layers"] for plugin in PLUGINS}

    def shared_prefix(*stacks: list[str]) -> int:
        return next((i for i, ids in enumerate(zip(*stacks, strict=False)) if len(set(ids)) > 1), min(map(len, stacks)))

    all_four = shared_prefix(*layers.values())
    kube_three = shared_prefix(*(layers[p] for p in ("kubectl-helm-deploy", "deployment-verify", "chaos-kill")))
    assert all_four >= 2, layers  # the runtime and the common packages
    assert kube_three > all_four, layers  # and the Kubernetes client


def test_make_images_twice_gives_the_same_images(images: dict[str, str], stack: dict[str, str]) -> None:
    first = {plugin: inspect(stack, images[plugin])["Id"] for plugin in PLUGINS}
    env = {**os.environ, "DOCKER_HOST": stack["DOCKER_HOST"], "HELM_BIN": stack["HELM_BIN"]}
    again = subprocess.run([str(ROOT / "scripts" / "images.sh")], env=env, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-4000:]
    assert {plugin: inspect(stack, images[plugin])["Id"] for plugin in PLUGINS} == first


def test_deploy_image_carries_helm_3(images: dict[str, str], stack: dict[str, str]) -> None:
    done = docker(stack, "run", "--rm", "--entrypoint", "helm", images["kubectl-helm-deploy"], "version", "--short")
    assert done.returncode == 0 and done.stdout.startswith("v3."), done.stdout + done.stderr


@pytest.mark.parametrize("plugin", PLUGINS)
def test_help_prints_the_plugin_docs(images: dict[str, str], stack: dict[str, str], plugin: str) -> None:
    done = docker(stack, "run", "--rm", images[plugin], "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"# {plugin}"), done.stdout[:500]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_no_settings_is_a_settings_error(images: dict[str, str], stack: dict[str, str], plugin: str) -> None:
    done = docker(stack, "run", "--rm", images[plugin])
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert any(line.startswith("xx ") and "PLUGIN_" in line for line in output.splitlines()), output
    assert "Traceback" not in output


# What no plugin may have loaded when its first request leaves (issue 15: start-up budgeted): the HTTP stacks and
# the clients built on them. Their first requests go through the stdlib's http.client (shared.kube.Cluster's reads
# by path, the tagger's engine version); these load afterwards, when first used.
HEAVY_AT_FIRST_REQUEST = (
    "requests", "urllib3", "docker", "pydantic", "pyhelm3", "kubernetes.client.api_client", "kubernetes.dynamic",
    "kubernetes.watch", "kubernetes.config",
)  # fmt: skip
# Run by the image's own interpreter, as its entry point runs the plugin: a hook on the first socket.connect prints
# every loaded module and ends the process before anything is sent.
FIRST_REQUEST_PROBE = """
import os, sys
def first_connect(event, args):
    if event == "socket.connect":
        print("LOADED", *sorted(sys.modules), flush=True)
        os._exit(0)
sys.addaudithook(first_connect)
sys.path.insert(0, "/opt/shipline/lib")
from plugins.{package}.__main__ import main
sys.exit(main([]))
"""


def first_request_settings(plugin: str) -> dict[str, str]:
    """Valid settings whose first connection goes to 127.0.0.1:9 (the probe ends the process before it)."""
    kube = {"PLUGIN_KUBERNETES_SERVER": "http://127.0.0.1:9", "PLUGIN_KUBERNETES_TOKEN": "t", "PLUGIN_NAMESPACE": "ns"}
    return {
        "docker-publish-tagger": {"PLUGIN_REPO": "127.0.0.1:9/a/b", "PLUGIN_DOCKER_HOST": "tcp://127.0.0.1:9",
                                  "DRONE": "true", "DRONE_BUILD_NUMBER": "1", "DRONE_COMMIT_SHA": "0" * 40},
        "kubectl-helm-deploy": {**kube, "PLUGIN_MANIFESTS": "k8s"},
        "deployment-verify": {**kube, "PLUGIN_DEPLOYMENTS": "web"},
        "chaos-kill": {**kube, "PLUGIN_LABEL_SELECTOR": "app=web"},
    }[plugin]  # fmt: skip


@pytest.mark.parametrize("plugin", PLUGINS)
def test_nothing_heavy_is_loaded_before_the_first_request(
    images: dict[str, str], stack: dict[str, str], tmp_path: Path, plugin: str
) -> None:
    ws = example_workspace(tmp_path, "k8s")
    (ws / "Dockerfile").write_text("FROM scratch\n")
    env = first_request_settings(plugin)
    code = FIRST_REQUEST_PROBE.format(package=plugin.replace("-", "_"))
    args = ["run", "--rm", "--network", "none", "-v", f"{ws}:{ws}", "-w", str(ws), "--entrypoint", "python3"]
    args += [a for name in sorted(env) for a in ("-e", name)]
    done = docker(stack, *args, images[plugin], "-IuS", "-c", code, env=env)
    loaded = next((line.split()[1:] for line in done.stdout.splitlines() if line.startswith("LOADED ")), None)
    assert loaded is not None, f"no connection was attempted:\n{done.stdout}{done.stderr}"
    assert f"plugins.{plugin.replace('-', '_')}.__main__" in loaded  # the probe saw the plugin run
    heavy = sorted(m for m in loaded if m.startswith(HEAVY_AT_FIRST_REQUEST))
    assert not heavy, f"{plugin} loaded {heavy} before its first request"


# ---------------------------------------------------------------------------------------------------------------
# Each image does its job against the stack


def test_publish_image_builds_and_pushes(images: dict[str, str], stack: dict[str, str], tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "hello.txt").write_text("hello from the publish image test\n")
    (ws / "Dockerfile").write_text("FROM scratch AS base\nCOPY hello.txt /\nFROM base\nLABEL test=images\n")
    repo = f"{stack['REGISTRY']}/it-images/hello-{uuid.uuid4().hex[:8]}"
    env = {
        "DRONE": "true",
        "DRONE_BUILD_NUMBER": "7",
        "DRONE_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
        "DRONE_COMMIT_BRANCH": "main",
        "DRONE_BUILD_EVENT": "push",
        "PLUGIN_REPO": repo,
        "PLUGIN_USERNAME": stack["REGISTRY_USERNAME"],
        "PLUGIN_PASSWORD": stack["REGISTRY_PASSWORD"],
    }
    done = run_plugin(stack, "docker-publish-tagger", env, ws, docker_socket=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert stack["REGISTRY_PASSWORD"] not in output
    handoff = json.loads((ws / ".shipline" / "publish.json").read_text())
    assert handoff["tags"] == ["0123456789ab-7"]
    assert handoff["image"] == f"{repo}@{handoff['digest']}"
    assert (ws / ".tags").read_text().strip() == "0123456789ab-7"
    # The registry itself says the tag is that digest.
    name = repo.split("/", 1)[1]
    head = requests.head(
        f"http://{stack['REGISTRY']}/v2/{name}/manifests/0123456789ab-7",
        auth=(stack["REGISTRY_USERNAME"], stack["REGISTRY_PASSWORD"]),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == handoff["digest"]


def _publish_env(stack: Mapping[str, str], repo: str) -> dict[str, str]:
    return {
        "DRONE": "true",
        "DRONE_BUILD_NUMBER": "7",
        "DRONE_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
        "PLUGIN_REPO": repo,
        "PLUGIN_USERNAME": stack["REGISTRY_USERNAME"],
        "PLUGIN_PASSWORD": stack["REGISTRY_PASSWORD"],
    }


def _nothing_published(stack: Mapping[str, str], repo: str) -> None:
    """Neither the engine nor the registry has anything of `repo`."""
    assert docker(stack, "image", "ls", "-q", repo).stdout.strip() == "", f"{repo} was built"
    listed = requests.get(
        f"http://{stack['REGISTRY']}/v2/{repo.split('/', 1)[1]}/tags/list",
        auth=(stack["REGISTRY_USERNAME"], stack["REGISTRY_PASSWORD"]),
        timeout=10,
    )
    assert listed.status_code == 404, f"{repo} was pushed: {listed.text}"


def test_publish_as_non_root_in_a_root_owned_workspace_fails_before_building(
    images: dict[str, str], stack: dict[str, str], tmp_path: Path
) -> None:
    """`docker run --user 10001` on the workspace a runner hands over: exit 2 naming the output, the uid and the
    fix, no traceback, nothing built or pushed."""
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text("FROM scratch\nLABEL test=preflight\n")
    repo = f"{stack['REGISTRY']}/it-images/preflight-{uuid.uuid4().hex[:8]}"
    sock_gid = str(os.stat(stack["DOCKER_HOST"].removeprefix("unix://")).st_gid)
    user = f"10001:{sock_gid}"  # the socket's group, so the workspace is the only problem
    done = run_plugin(stack, "docker-publish-tagger", _publish_env(stack, repo), ws, docker_socket=True, user=user)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert f'PLUGIN_OUTPUT_FILE: "{Path(".shipline/publish.json")}" cannot be written' in output
    assert f"{ws}, where it would be created, is not writable (owned by uid 0:0, mode 0755)" in output
    assert "this step runs as uid 10001" in output and "Run the image as root" in output
    assert "Traceback" not in output
    _nothing_published(stack, repo)


def test_publish_that_cannot_open_the_socket_fails_before_building(
    images: dict[str, str], stack: dict[str, str], tmp_path: Path
) -> None:
    """The socket as the host has it (root:docker 0660) and a user without its group: exit 1 with the fix."""
    ws = workspace(tmp_path)
    ws.chmod(0o777)  # only the socket is in the way
    (ws / "Dockerfile").write_text("FROM scratch\nLABEL test=preflight\n")
    repo = f"{stack['REGISTRY']}/it-images/preflight-{uuid.uuid4().hex[:8]}"
    env = _publish_env(stack, repo)
    done = run_plugin(stack, "docker-publish-tagger", env, ws, docker_socket=True, user="10001:10001")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "cannot open the Docker socket /var/run/docker.sock" in output
    assert "this step runs as uid 10001" in output and "--group-add" in output
    assert "Traceback" not in output
    _nothing_published(stack, repo)


def test_deploy_verify_and_chaos_images_on_the_stack(
    images: dict[str, str], stack: dict[str, str], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    """Deploy the example manifests with the deployer token, verify them, and run a chaos dry run: all as images."""
    ws = example_workspace(tmp_path, "k8s")
    app_image = f"{stack['REGISTRY']}/it-images/example-app:v1"
    kube = namespace.access_env()

    settings = {"PLUGIN_MANIFESTS": "k8s", "PLUGIN_IMAGE": app_image, "PLUGIN_TIMEOUT": "90s"}
    deploy = run_plugin(stack, "kubectl-helm-deploy", {**kube, **settings}, ws)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert namespace.token not in deploy.stdout + deploy.stderr
    apps = client.AppsV1Api(kube_admin)
    deployment = apps.read_namespaced_deployment("example-app", namespace.name)
    assert [c.image for c in deployment.spec.template.spec.containers] == [app_image]
    assert client.CoreV1Api(kube_admin).read_namespaced_service("example-app", namespace.name)

    settings = {
        "PLUGIN_DEPLOYMENTS": "example-app",
        "PLUGIN_EXPECTED_IMAGE": app_image,
        "PLUGIN_TIMEOUT": "60s",
        "PLUGIN_REPORT_FILE": "verify.json",
        # the image's analysis path: the query through the stack Prometheus' parser, then asked
        "PLUGIN_PROMETHEUS_URL": stack["PROMETHEUS_URL"],
        "PLUGIN_ANALYSIS": json.dumps([{"name": "prometheus-answers", "query": "vector(1)", "min": 1}]),
    }
    verify = run_plugin(stack, "deployment-verify", {**kube, **settings}, ws)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads((ws / "verify.json").read_text())
    assert report["passed"] is True
    assert {"analysis prometheus-answers": "1"} == {
        c["name"]: c["measured"] for c in report["checks"] if c["name"].startswith("analysis")
    }

    def pods() -> set[str]:
        listed = client.CoreV1Api(kube_admin).list_namespaced_pod(
            namespace.name, label_selector="app.kubernetes.io/name=example-app"
        )
        return {p.metadata.name for p in listed.items if not p.metadata.deletion_timestamp}

    wait_for(lambda: len(pods()) == 3, 30, what="3 example-app pods")
    before = pods()
    settings = {
        "PLUGIN_LABEL_SELECTOR": "app.kubernetes.io/name=example-app",
        "PLUGIN_MODE": "all",
        "PLUGIN_DRY_RUN": "true",
    }
    chaos = run_plugin(stack, "chaos-kill", {**kube, **settings}, ws)
    output = chaos.stdout + chaos.stderr
    assert chaos.returncode == 0, output
    assert all(pod in output for pod in before), "the dry run names every pod it would kill"
    assert pods() == before, "a dry run killed a pod"


def test_a_whole_kubeconfig_goes_through_the_kubernetes_clients_loader(
    images: dict[str, str], stack: dict[str, str], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    """`kubeconfig` (any kubeconfig: exec plugins, client certificates, YAML) is not the token kubeconfig whose
    requests go over http.client: its requests by path go through the Kubernetes client's loader and ApiClient.
    Deploy (discovery, server-side apply, reads) and verify the example that way, as images."""
    ws = example_workspace(tmp_path, "k8s")
    app_image = f"{stack['REGISTRY']}/it-images/example-app:v1"
    ca = base64.b64encode(Path(stack["KUBE_CA_FILE"]).read_bytes()).decode()
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": namespace.server, "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": {"token": namespace.token}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": namespace.name}}],
            "current-context": "x",
        }
    )
    settings = {"PLUGIN_KUBECONFIG": kubeconfig, "PLUGIN_MANIFESTS": "k8s", "PLUGIN_IMAGE": app_image}
    deploy = run_plugin(stack, "kubectl-helm-deploy", {**settings, "PLUGIN_TIMEOUT": "90s"}, ws)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "Deployment/example-app created" in deploy.stdout, deploy.stdout
    deployment = client.AppsV1Api(kube_admin).read_namespaced_deployment("example-app", namespace.name)
    assert [c.image for c in deployment.spec.template.spec.containers] == [app_image]
    settings = {
        "PLUGIN_KUBECONFIG": kubeconfig,
        "PLUGIN_DEPLOYMENTS": "example-app",
        "PLUGIN_EXPECTED_IMAGE": app_image,
    }
    verify = run_plugin(stack, "deployment-verify", {**settings, "PLUGIN_TIMEOUT": "60s"}, ws)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert namespace.token not in deploy.stdout + deploy.stderr + verify.stdout + verify.stderr


def test_deploy_image_installs_the_example_chart_with_its_helm(
    images: dict[str, str], stack: dict[str, str], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    """Helm mode inside the image: lint, install the example chart with the deployer token, image injected."""
    ws = example_workspace(tmp_path, "chart")
    app_image = f"{stack['REGISTRY']}/it-images/example-app:v1"
    settings = {
        "PLUGIN_CHART": "chart",
        "PLUGIN_RELEASE": "web",
        "PLUGIN_IMAGE": app_image,
        "PLUGIN_IMAGE_VALUE": "image",
        "PLUGIN_TIMEOUT": "90s",
    }
    done = run_plugin(stack, "kubectl-helm-deploy", {**namespace.access_env(), **settings}, ws)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert namespace.token not in output
    deployment = client.AppsV1Api(kube_admin).read_namespaced_deployment("web", namespace.name)
    assert [c.image for c in deployment.spec.template.spec.containers] == [app_image]
    assert deployment.status.available_replicas == 3
