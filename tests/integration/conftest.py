"""Fixtures for the integration tests. They run against the real local stack (`make up`) and read only
`.stack/env`, which stack/up.sh writes.

A missing or silent stack skips the tests on a workstation and fails them in CI (environment variable CI set):
in CI a missing stack is a failure, never a silent skip.

  stack          session: the `.stack/env` values (dict), once Docker, the registry and the Kubernetes API answered
  kube_admin     session: kubernetes ApiClient with the admin kubeconfig
  namespace      function: a fresh namespace with stack/rbac-deployer.yaml applied and a deployer token
                 (a stacklib.Namespace); deleted after the test. Its pods run on the kwok nodes (fake pods, kwok's
                 stage rules), or on the real node `shipline-real` (kubelet + containerd) when the test is marked
                 `@pytest.mark.real_node` (stacklib.placement_annotations)
  registry       session: stacklib.Registry(host, username, password)
  docker_client  session: docker.DockerClient on the stack's DOCKER_HOST
  deployer       function: the `harness` (tests/harness.py) with the namespace's deployer credentials
  deploy         function: runs kubectl-helm-deploy through `deployer` in tmp_path (settings -> tests.harness.Run)
  scratch_repo   function: a fresh repository name in the registry (local tags removed afterwards)
  images         session: the four plugin images, built by scripts/images.sh (plugin -> image reference)

Every test under tests/integration is marked `integration`.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests
from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from demo.plugins import PLUGINS, image_of
from plugins.kubectl_helm_deploy.__main__ import main as deploy_main
from tests.harness import Harness, Run

from .stacklib import (
    REPO_ROOT,
    REQUIRED_KEYS,
    STACK_ENV,
    Namespace,
    Registry,
    in_ci,
    issue_token,
    read_env_file,
    render_rbac,
    wait_for,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


def stack_unavailable(reason: str) -> None:
    message = f"local stack unavailable: {reason} (run `make up`)"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    """`.stack/env`, after checking that Docker, the registry and the Kubernetes API answer."""
    if not STACK_ENV.is_file():
        stack_unavailable(f"{STACK_ENV} does not exist")
    env = read_env_file(STACK_ENV)
    missing = [key for key in REQUIRED_KEYS if not env.get(key)]
    if missing:
        stack_unavailable(f"{STACK_ENV} lacks {', '.join(missing)}")

    try:
        engine = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=10)
        try:
            engine.ping()
        finally:
            engine.close()
    except Exception as exc:  # any failure means "no Docker engine"
        stack_unavailable(f"Docker engine at {env['DOCKER_HOST']} does not answer: {exc}")
    try:
        status = requests.get(f"http://{env['REGISTRY']}/v2/", timeout=5).status_code
    except requests.RequestException as exc:
        stack_unavailable(f"registry {env['REGISTRY']} does not answer: {exc}")
    if status != 401:
        stack_unavailable(f"registry {env['REGISTRY']} answered {status} to /v2/ without credentials, expected 401")
    try:
        with config.new_client_from_config(config_file=env["KUBECONFIG"]) as api:
            client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:
        stack_unavailable(f"Kubernetes API {env['KUBE_SERVER']} does not answer: {exc}")
    return env


@pytest.fixture(scope="session")
def kube_admin(stack: dict[str, str]) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=stack["KUBECONFIG"]) as api:
        yield api


@pytest.fixture(scope="session")
def registry(stack: dict[str, str]) -> Registry:
    return Registry(stack["REGISTRY"], stack["REGISTRY_USERNAME"], stack["REGISTRY_PASSWORD"])


@pytest.fixture(scope="session")
def docker_client(stack: dict[str, str]) -> Iterator[docker.DockerClient]:
    engine = docker.DockerClient(base_url=stack["DOCKER_HOST"], timeout=300)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def images(stack: dict[str, str]) -> dict[str, str]:
    """The four images, built once per session (Docker's cache makes a rebuild of unchanged code quick)."""
    env = {**os.environ, "DOCKER_HOST": stack["DOCKER_HOST"], "HELM_BIN": stack["HELM_BIN"]}
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "images.sh")], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, f"scripts/images.sh failed:\n{done.stderr[-4000:]}"
    for plugin in PLUGINS:
        assert image_of(plugin) in done.stdout, f"no size reported for {image_of(plugin)}:\n{done.stdout}"
    return {plugin: image_of(plugin) for plugin in PLUGINS}


@pytest.fixture
def namespace(
    request: pytest.FixtureRequest, stack: dict[str, str], kube_admin: client.ApiClient
) -> Iterator[Namespace]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"it-{slug}-{uuid.uuid4().hex[:6]}"
    where = "real" if request.node.get_closest_marker("real_node") else "kwok"
    if where == "real" and not stack.get("REAL_NODE"):
        stack_unavailable("it has no real node (another checkout runs this machine's one, see `make up`'s output)")
    for doc in render_rbac(name, where):
        utils.create_from_dict(kube_admin, doc)
    core = client.CoreV1Api(kube_admin)

    def default_service_account() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    # Pods can only be created once the namespace's default ServiceAccount exists.
    wait_for(default_service_account, 30, what=f"ServiceAccount {name}/default")
    yield Namespace(
        name=name, token=issue_token(kube_admin, name), server=stack["KUBE_SERVER"], ca_file=stack["KUBE_CA_FILE"]
    )
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def deployer(harness: Harness, namespace: Namespace) -> Harness:
    """The harness with the namespace's least-privilege deployer credentials, as a pipeline's secrets give them."""
    return harness.configure(secrets=[namespace.token], **namespace.access_env())


Deploy = Callable[..., Run]


@pytest.fixture
def deploy(deployer: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deploy:
    """kubectl-helm-deploy with `settings`, in tmp_path as the workspace; the Run carries its JSON report."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GREETING", "hello")
    report = tmp_path / "report.json"
    deployer.configure(report_file=report, scale_down_delay="0s", timeout="90s")
    return lambda **settings: deployer.run(deploy_main, report, **settings)


@pytest.fixture
def scratch_repo(registry: Registry, docker_client: docker.DockerClient) -> Iterator[str]:
    """A repository name of the stack's registry no other test uses; its local tags are removed afterwards."""
    name = f"{registry.host}/it/scratch-{uuid.uuid4().hex[:10]}"
    yield name
    for image in docker_client.images.list(name=name):
        for ref in image.tags:
            docker_client.images.remove(ref, noprune=False)
