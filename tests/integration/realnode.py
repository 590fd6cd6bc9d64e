"""Workloads for the real node (`shipline-real`: kubelet + containerd): the example app's behaviour images from
the stack's registry, with probes that hold up on a loaded 2-core machine, a ClusterIP Service in front, and
waits on what the cluster reports (never on sleeps).

Probe settings, and why: a startupProbe with a long failureThreshold (a slow start under load is not a crash),
timeoutSeconds 5 (a busy node answers late), a liveness probe that tolerates a minute of failures. The
behaviours under test (exit at start, never Ready, crash after Ready) come from the app itself, not the probes.
"""

from __future__ import annotations

from typing import Any

import requests
from kubernetes import client

from .stacklib import KWOK_TOLERATION, wait_for

PORT = 8080


def image(stack: dict[str, str], behaviour: str) -> str:
    """`$APP_IMAGE_REPO:<behaviour>` (stack/app-images.sh): healthy, v2, slow-start, never-ready, exit-at-start,
    crash-after-ready, errors."""
    return f"{stack['APP_IMAGE_REPO']}:{behaviour}"


def container(image_ref: str) -> dict[str, Any]:
    http = {"port": PORT}
    return {
        "name": "app",
        "image": image_ref,
        "ports": [{"name": "http", "containerPort": PORT}],
        # A terminating pod keeps serving while kube-proxy drops its endpoint (preStop), then drains (readiness
        # fails first): no request lands on a dead pod during a rollout.
        "env": [{"name": "DRAIN_SECONDS", "value": "2"}],
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "startupProbe": {
            "httpGet": {"path": "/healthz", **http},
            "periodSeconds": 1,
            "timeoutSeconds": 5,
            "failureThreshold": 180,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readiness", **http},
            "periodSeconds": 1,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", **http},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }


def deployment(
    name: str, image_ref: str, replicas: int = 2, *, min_ready_seconds: int = 0, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready_seconds,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"terminationGracePeriodSeconds": 15, "containers": [container(image_ref)]},
            },
        },
    }


def service(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector or {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": PORT}]},
    }


def create(api: client.ApiClient, namespace: str, *objects: dict[str, Any]) -> None:
    for obj in objects:
        if obj["kind"] == "Deployment":
            client.AppsV1Api(api).create_namespaced_deployment(namespace, obj)
        elif obj["kind"] == "StatefulSet":
            client.AppsV1Api(api).create_namespaced_stateful_set(namespace, obj)
        elif obj["kind"] == "DaemonSet":
            client.AppsV1Api(api).create_namespaced_daemon_set(namespace, obj)
        elif obj["kind"] == "Service":
            client.CoreV1Api(api).create_namespaced_service(namespace, obj)
        else:
            raise ValueError(obj["kind"])


def available(api: client.ApiClient, namespace: str, name: str) -> bool:
    d = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    s = d.status
    return bool(
        (s.observed_generation or 0) >= d.metadata.generation
        and (s.updated_replicas or 0) == d.spec.replicas
        and (s.replicas or 0) == d.spec.replicas
        and (s.available_replicas or 0) == d.spec.replicas
    )


def wait_available(api: client.ApiClient, namespace: str, name: str, timeout: float = 240) -> None:
    wait_for(lambda: available(api, namespace, name), timeout, 0.5, f"deployment {name} available on the real node")


def set_image(api: client.ApiClient, namespace: str, name: str, image_ref: str) -> None:
    patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image_ref}]
    client.AppsV1Api(api).patch_namespaced_deployment(name, namespace, patch)


def service_url(api: client.ApiClient, namespace: str, name: str, path: str = "/") -> str:
    """http://<ClusterIP>:80<path>: reached from this host through kube-proxy's iptables rules."""
    ip = client.CoreV1Api(api).read_namespaced_service(name, namespace).spec.cluster_ip
    return f"http://{ip}{path}"


def wait_answering(url: str, timeout: float = 120, expect: str = "") -> str:
    """Polls `url` until it answers 200 (with `expect` in the body): a new Service's ClusterIP refuses
    connections until kube-proxy has programmed it, and its pods must be Ready endpoints. Returns the body."""

    def answers() -> str:
        try:
            r = requests.get(url, timeout=5)
        except requests.RequestException:
            return ""
        return r.text if r.status_code == 200 and expect in r.text else ""

    return wait_for(answers, timeout, 0.5, f"{url} answering 200")


def serve(api: client.ApiClient, namespace: str, name: str, image_ref: str, replicas: int, path: str = "/") -> str:
    """Deployment `name` of `image_ref` behind Service `name`, available and answering; returns the Service's
    URL of `path`."""
    create(api, namespace, deployment(name, image_ref, replicas), service(name))
    wait_available(api, namespace, name)
    url = service_url(api, namespace, name, path)
    wait_answering(url)
    return url


def ready_endpoints(api: client.ApiClient, namespace: str, service_name: str) -> dict[str, str]:
    """pod name -> address of the Service's ready endpoints (from its EndpointSlices)."""
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service_name}"
    )
    found = {}
    for s in slices.items:
        for e in s.endpoints or ():
            if e.conditions and e.conditions.ready and e.target_ref:
                found[e.target_ref.name] = e.addresses[0]
    return found


def live_pods(api: client.ApiClient, namespace: str, selector: str) -> list[client.V1Pod]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if not p.metadata.deletion_timestamp]


def quick_container(image_ref: str) -> dict[str, Any]:
    """`container` without the preStop and the app's drain (DRAIN_SECONDS 0: it stops serving at SIGTERM): a
    StatefulSet replaces its pods one by one, each waiting for the last to be gone, and these tests measure
    rollout rules, not traffic during a rollout."""
    quick = {k: v for k, v in container(image_ref).items() if k != "lifecycle"}
    return {**quick, "env": [{"name": "DRAIN_SECONDS", "value": "0"}]}


def statefulset(
    name: str, image_ref: str, replicas: int = 2, *, partition: int | None = None, strategy: str = "RollingUpdate"
) -> dict[str, Any]:
    """A StatefulSet of the example app (Parallel pod management: created at once; updates still go one by one)."""
    update: dict[str, Any] = {"type": strategy}
    if partition is not None:
        update["rollingUpdate"] = {"partition": partition}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "updateStrategy": update,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [quick_container(image_ref)]},
            },
        },
    }


def daemonset(name: str, image_ref: str, *, strategy: str = "RollingUpdate", kwok: bool = False) -> dict[str, Any]:
    """A DaemonSet of the example app, one pod per node. The DaemonSet controller picks its nodes from the
    template alone (the namespace's placement is added to each pod later), so `kwok` puts the kwok nodes'
    selector and toleration in the template; without it, the kwok nodes' taint leaves the real node."""
    placement = {"nodeSelector": {"type": "kwok"}, "tolerations": [KWOK_TOLERATION]} if kwok else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "updateStrategy": {"type": strategy},
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [quick_container(image_ref)], **placement},
            },
        },
    }
