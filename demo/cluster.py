"""What the demo does as the cluster's admin: prepare its namespace (examples/rbac, one token per plugin, as an
operator would) and read the facts it reports (revisions, images, available replicas). The plugins themselves
only ever get their own least-privilege token."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import yaml
from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from .environment import ROOT

RBAC = ROOT / "examples" / "rbac"
# ServiceAccount per plugin, from examples/rbac/.
ACCOUNTS = {"deploy": "shipline-deployer", "verify": "shipline-verify", "chaos": "shipline-chaos"}
REVISION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class DeploymentState:
    revision: str
    images: tuple[str, ...]
    replicas: int
    available: int
    updated: int
    total: int  # pods of every ReplicaSet: equal to replicas once the old ones are gone

    @property
    def healthy(self) -> bool:
        return self.available >= self.replicas and self.updated >= self.replicas and self.total == self.replicas


class Cluster:
    def __init__(self, kubeconfig: str) -> None:
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    def prepare_namespace(self, name: str, timeout: float = 90.0) -> dict[str, str]:
        """A fresh namespace with examples/rbac applied; returns a token per plugin (TokenRequest API)."""
        self.delete_namespace(name, wait=True, timeout=timeout)
        # Its pods go to the stack's real node (stack/README.md, "Which pods run where").
        where = {"scheduler.alpha.kubernetes.io/node-selector": "shipline.io/node=real"}
        meta = client.V1ObjectMeta(name=name, labels={"shipline.io/demo": "true"}, annotations=where)
        self.core.create_namespace(client.V1Namespace(metadata=meta))
        for path in sorted(RBAC.glob("*.yaml")):
            text = path.read_text().replace("${NAMESPACE}", name)
            for doc in yaml.safe_load_all(text):
                if doc:
                    utils.create_from_dict(self.api, doc)
        self._wait(lambda: self._exists(lambda: self.core.read_namespaced_service_account("default", name)), timeout)
        return {plugin: self.issue_token(name, account) for plugin, account in ACCOUNTS.items()}

    def issue_token(self, namespace: str, account: str, seconds: int = 3600) -> str:
        spec = client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
        request = client.AuthenticationV1TokenRequest(spec=spec)
        answer = self.core.create_namespaced_service_account_token(account, namespace, request)
        return str(self.api.sanitize_for_serialization(answer)["status"]["token"])

    def delete_namespace(self, name: str, wait: bool = False, timeout: float = 90.0) -> None:
        try:
            self.core.delete_namespace(name, propagation_policy="Background")
        except ApiException as e:
            if e.status != 404:
                raise
        if wait:
            self._wait(lambda: not self._exists(lambda: self.core.read_namespace(name)), timeout)

    def deployment(self, namespace: str, name: str) -> DeploymentState:
        d = self.api.sanitize_for_serialization(self.apps.read_namespaced_deployment(name, namespace))
        spec, status = d.get("spec", {}), d.get("status", {})
        return DeploymentState(
            revision=d["metadata"].get("annotations", {}).get(REVISION, ""),
            images=tuple(c["image"] for c in spec["template"]["spec"]["containers"]),
            replicas=spec.get("replicas", 0),
            available=status.get("availableReplicas", 0),
            updated=status.get("updatedReplicas", 0),
            total=status.get("replicas", 0),
        )

    def wait_healthy(self, namespace: str, name: str, timeout: float = 60.0) -> DeploymentState:
        self._wait(lambda: self.deployment(namespace, name).healthy, timeout)
        return self.deployment(namespace, name)

    def service_url(self, namespace: str, name: str) -> str:
        """http://<ClusterIP>:<port> of Service `name`: reached from this host through kube-proxy's rules."""
        spec = self.core.read_namespaced_service(name, namespace).spec
        return f"http://{spec.cluster_ip}:{spec.ports[0].port}"

    @staticmethod
    def wait_answering(url: str, text: str, timeout: float) -> str | None:
        """Polls `url` until it answers 200 with `text` in the body (returned); None after `timeout` seconds. A new
        Service's ClusterIP refuses connections until kube-proxy has programmed it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = requests.get(url, timeout=5)
                if r.status_code == 200 and text in r.text:
                    return r.text
            except requests.RequestException:
                pass
            time.sleep(0.5)
        return None

    @staticmethod
    def _exists(read: Callable[[], Any]) -> bool:
        try:
            read()
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            raise

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up after {timeout:.0f}s")
            time.sleep(0.5)
