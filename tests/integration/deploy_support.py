"""Helpers of the kubectl-helm-deploy integration tests: run the plugin in-process as the namespace's
least-privilege deployer, read what the cluster holds."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from plugins.kubectl_helm_deploy.__main__ import main

from .stacklib import Namespace

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "deploy"
IMAGE = "registry.local/shipline/web"


@dataclass
class Run:
    code: int
    out: str
    report: dict[str, Any]


def deploy(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ns: Namespace,
    tmp_path: Path,
    *,
    ca: str = "pem",
    **settings: str,
) -> Run:
    """Run kubectl-helm-deploy with `settings` (PLUGIN_<NAME>) as `ns`'s deployer; cwd is `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("PLUGIN_"):
            monkeypatch.delenv(key)
    pem = Path(ns.ca_file).read_text()
    env = {
        "kubernetes_server": ns.server,
        "kubernetes_cert": pem if ca == "pem" else base64.b64encode(pem.encode()).decode(),
        "kubernetes_token": ns.token,
        "namespace": ns.name,
        "report_file": str(tmp_path / "report.json"),
        "scale_down_delay": "0s",
        "timeout": "90s",
        **settings,
    }
    monkeypatch.setenv("GREETING", "hello")
    for key, value in env.items():
        monkeypatch.setenv(f"PLUGIN_{key.upper()}", value)
    capsys.readouterr()
    code = main([])
    out = capsys.readouterr().out
    report_path = tmp_path / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if report_path.exists():
        report_path.unlink()
    assert ns.token not in out, "the token leaked into the output"
    return Run(code, out, report)


def deployment(admin: client.ApiClient, ns: str, name: str) -> client.V1Deployment | None:
    try:
        return client.AppsV1Api(admin).read_namespaced_deployment(name, ns)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def images(admin: client.ApiClient, ns: str, name: str) -> dict[str, str]:
    dep = deployment(admin, ns, name)
    assert dep is not None, f"deployment {name} not found"
    return {c.name: c.image for c in dep.spec.template.spec.containers}


def ready_pod_images(admin: client.ApiClient, ns: str, selector: str) -> list[str]:
    pods = client.CoreV1Api(admin).list_namespaced_pod(ns, label_selector=selector).items
    found = []
    for pod in pods:
        if pod.metadata.deletion_timestamp:
            continue
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        if ready:
            found.append(pod.spec.containers[0].image)
    return sorted(found)


def fully_available(admin: client.ApiClient, ns: str, name: str) -> bool:
    dep = deployment(admin, ns, name)
    assert dep is not None
    st = dep.status
    return (st.available_replicas or 0) == dep.spec.replicas and (st.updated_replicas or 0) == dep.spec.replicas
