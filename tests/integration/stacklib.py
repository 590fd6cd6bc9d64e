"""Helpers for the integration tests and their fixtures (conftest.py): `.stack/env`, the deployer namespace and
its token, polling. Import them as `from tests.integration.stacklib import ...`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml
from kubernetes import client

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_ENV = Path(os.environ.get("SHIPLINE_STACK_ENV", REPO_ROOT / ".stack" / "env"))
RBAC_TEMPLATE = REPO_ROOT / "stack" / "rbac-deployer.yaml"

# What stack/up.sh must have written for the tests to run.
REQUIRED_KEYS = (
    "DOCKER_HOST",
    "REGISTRY",
    "REGISTRY_USERNAME",
    "REGISTRY_PASSWORD",
    "KUBECONFIG",
    "KUBE_SERVER",
    "KUBE_CA_FILE",
    "KUBE_NAMESPACE",
    "KUBE_TOKEN",
    "HELM_BIN",
    "DRONE_BIN",
    "WOODPECKER_BIN",
    "DOCKER_ENGINE_API_VERSION",
)

T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=value lines of a shell-sourceable env file (values may be shell-quoted)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw) if raw else []
        values[key.strip()] = parts[0] if parts else ""
    return values


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:port
    username: str
    password: str

    @property
    def auth_config(self) -> dict[str, str]:
        """For docker SDK push/pull (`auth_config=`)."""
        return {"username": self.username, "password": self.password}


def token_api_client(server: str, ca_file: str, token: str) -> client.ApiClient:
    """kubernetes ApiClient authenticated by a bearer token, TLS verified against the cluster CA."""
    configuration = client.Configuration()
    configuration.host = server
    configuration.ssl_ca_cert = ca_file
    configuration.verify_ssl = True
    # The whole header value: the client's prefix table changed its key names between releases.
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def write_token_kubeconfig(path: Path, server: str, ca_file: str, token: str, namespace: str) -> Path:
    """A kubeconfig holding a bearer token, mode 0600 (keeps the token out of every child's argv)."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stack", "cluster": {"server": server, "certificate-authority": ca_file}}],
        "users": [{"name": "deployer", "user": {"token": token}}],
        "contexts": [{"name": "deployer", "context": {"cluster": "stack", "user": "deployer", "namespace": namespace}}],
        "current-context": "deployer",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(kubeconfig, out)
    return path


@dataclass(frozen=True)
class Namespace:
    """A throw-away namespace with the stack's deployer RBAC and a token of its `deployer` ServiceAccount."""

    name: str
    token: str
    server: str
    ca_file: str

    def deployer_api(self) -> client.ApiClient:
        """ApiClient authenticated as this namespace's deployer."""
        return token_api_client(self.server, self.ca_file, self.token)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for this namespace's deployer (mode 0600)."""
        return write_token_kubeconfig(path, self.server, self.ca_file, self.token, self.name)

    def access_env(self) -> dict[str, str]:
        """The settings that make a plugin step this namespace's deployer, as the step's environment."""
        return {
            "PLUGIN_KUBERNETES_SERVER": self.server,
            "PLUGIN_KUBERNETES_CERT": Path(self.ca_file).read_text(),
            "PLUGIN_KUBERNETES_TOKEN": self.token,
            "PLUGIN_NAMESPACE": self.name,
        }


def render_rbac(namespace: str, where: str = "kwok") -> list[dict[str, Any]]:
    """stack/rbac-deployer.yaml for `namespace`: Namespace (its pods placed on the kwok nodes or the real node,
    see placement_annotations), ServiceAccount deployer, Role, RoleBinding."""
    text = RBAC_TEMPLATE.read_text().replace("${KUBE_NAMESPACE}", namespace)
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        if doc["kind"] == "Namespace":
            doc["metadata"].setdefault("annotations", {}).update(placement_annotations(where))
    return docs


# The kwok nodes' taint (stack/common.sh KWOK_TAINT): only pods tolerating it land there.
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake", "effect": "NoSchedule"}


def placement_annotations(where: str) -> dict[str, str]:
    """Namespace annotations that send its pods to the real node ("real") or the kwok nodes ("kwok"), read by the
    API server's PodNodeSelector and PodTolerationRestriction admission plugins (as stack/common.sh's
    place_namespace writes them)."""
    if where == "real":
        selector, tolerations = "shipline.io/node=real", []
    elif where == "kwok":
        selector, tolerations = "type=kwok", [KWOK_TOLERATION]
    else:
        raise ValueError(f"placement is 'real' or 'kwok', not {where!r}")
    return {
        "scheduler.alpha.kubernetes.io/node-selector": selector,
        "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(tolerations, separators=(",", ":")),
    }


def issue_token(api: client.ApiClient, namespace: str, service_account: str = "deployer", seconds: int = 3600) -> str:
    """A service-account token from the TokenRequest API (what `kubectl create token` does)."""
    spec = client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    request = client.AuthenticationV1TokenRequest(spec=spec)
    response = client.CoreV1Api(api).create_namespaced_service_account_token(service_account, namespace, request)
    return response.status.token


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """Polls `predicate` until it returns something truthy (returned) or `timeout` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def deployment_manifest(
    name: str,
    image: str,
    replicas: int,
    pod_labels: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment of `replicas` pods (one container `app` running `image`) selected by app=<name>; `pod_labels`
    go on its pods and itself, `labels` on itself only. It rolls one pod at a time, never one fewer."""
    pods = {"app": name, **(pod_labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {**pods, **(labels or {})}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": pods}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


# Namespaced kinds whose objects the plugins could create or change.
KINDS = (
    ("AppsV1Api", "list_namespaced_deployment"),
    ("AppsV1Api", "list_namespaced_replica_set"),
    ("CoreV1Api", "list_namespaced_pod"),
    ("CoreV1Api", "list_namespaced_service"),
    ("CoreV1Api", "list_namespaced_config_map"),
    ("CoreV1Api", "list_namespaced_secret"),
    ("CoreV1Api", "list_namespaced_service_account"),
    ("NetworkingV1Api", "list_namespaced_ingress"),
    ("PolicyV1Api", "list_namespaced_pod_disruption_budget"),
)


def cluster_state(admin: client.ApiClient, namespace: str) -> dict[str, Any]:
    """The cluster's namespaces and the resourceVersion of every object of KINDS in `namespace`."""
    # Namespaces of tests and benchmarks (it-*, bench-*) come and go while this one runs (several test runs share
    # the stack), and deleted ones are still terminating for a while: they do not count.
    namespaces = client.CoreV1Api(admin).list_namespace().items
    state: dict[str, Any] = {
        "namespaces": sorted(
            n.metadata.name
            for n in namespaces
            if n.status.phase != "Terminating" and not n.metadata.name.startswith(("it-", "bench-"))
        )
    }
    for api, method in KINDS:
        items = getattr(getattr(client, api)(admin), method)(namespace).items
        state[method] = {i.metadata.name: i.metadata.resource_version for i in items}
    return state


def registry_state(registry: Registry, repos: Iterable[str] = ()) -> dict[str, Any]:
    """The registry's repositories, and the tags of `repos` (host/path names): what a push would change."""
    auth = (registry.username, registry.password)
    catalog: list[str] = []
    url: str | None = f"http://{registry.host}/v2/_catalog?n=1000"  # the registry's page size limit
    while url:
        page = requests.get(url, auth=auth, timeout=10)
        page.raise_for_status()
        catalog += page.json().get("repositories") or []
        link = page.links.get("next", {}).get("url")
        url = f"http://{registry.host}{link}" if link else None
    tags = {}
    for repo in repos:
        path = repo.split("/", 1)[1]
        resp = requests.get(f"http://{registry.host}/v2/{path}/tags/list", auth=auth, timeout=10)
        tags[repo] = sorted(resp.json().get("tags") or []) if resp.ok else [f"HTTP {resp.status_code}"]
    return {"repositories": sorted(catalog), "tags": tags}


def run_plugin_process(plugin: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m plugins.<plugin>` (the images' entry point) in `cwd` with only `env` (and PATH) set."""
    child = {"PATH": os.environ["PATH"], "HOME": str(cwd), "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", f"plugins.{plugin}"],
        env=child,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# A two-replica Deployment "web" as a manifest file holds it (kwok makes its pods Ready; nothing is pulled).
WEB_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: registry.invalid/shop/web:2}]}
"""
# The CI context Drone hands every plugin step.
DRONE_CI = {
    "DRONE": "true",
    "DRONE_BUILD_NUMBER": "7",
    "DRONE_COMMIT_SHA": "c0ffee0" * 6,
    "DRONE_COMMIT_BRANCH": "main",
}
