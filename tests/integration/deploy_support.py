"""Helpers of the kubectl-helm-deploy integration tests: read what the cluster holds (the `deploy` fixture of
conftest.py runs the plugin)."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "deploy"
IMAGE = "registry.local/shipline/web"


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
