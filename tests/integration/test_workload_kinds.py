"""StatefulSets and DaemonSets: shipline's per-kind rollout rules against kubectl's own on the same objects, and
the plugins rolling, verifying, rolling back and chaos-testing them.

Behaviour (readiness, crashes, recovery) runs on the real node; the one test that needs a DaemonSet on several
nodes runs on the two kwok nodes (their pods are simulated: only completion counting is tested there).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes import client

from shared import rollout

from .realnode import create, daemonset, image, statefulset
from .stacklib import Namespace, wait_for

API = {"StatefulSet": "stateful_set", "DaemonSet": "daemon_set", "Deployment": "deployment"}


def read(api: client.ApiClient, namespace: str, kind: str, name: str) -> dict[str, Any]:
    fn = getattr(client.AppsV1Api(api), f"read_namespaced_{API[kind]}")
    found: dict[str, Any] = json.loads(fn(name, namespace, _preload_content=False).data)
    return found


def patch(api: client.ApiClient, namespace: str, kind: str, name: str, body: Any) -> None:
    getattr(client.AppsV1Api(api), f"patch_namespaced_{API[kind]}")(name, namespace, body)


def settle(api: client.ApiClient, namespace: str, kind: str, name: str, message: str, timeout: float = 120) -> None:
    """Until shipline's viewer gives `message` (polled: the comparison below needs a state that holds still)."""

    def shows() -> bool:
        return rollout.status_of(kind, read(api, namespace, kind, name)).message == message

    wait_for(shows, timeout, 0.5, f"{kind} {name}: {message}")


def kubectl_says(stack: dict[str, str], api: client.ApiClient, namespace: str, kind: str, name: str) -> tuple[str, str]:
    """(shipline's message, kubectl's) on the same resourceVersion of the object: read, ask kubectl, read again,
    and try again if the object changed in between."""
    for _ in range(10):
        before = read(api, namespace, kind, name)
        ours = rollout.status_of(kind, before).message
        done = subprocess.run(
            [stack["KUBECTL"], "--kubeconfig", stack["KUBECONFIG"], "-n", namespace, "rollout", "status"]
            + ["--watch=false", f"{kind.lower()}/{name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        theirs = (done.stdout or done.stderr).strip().removeprefix("error: ")
        if read(api, namespace, kind, name)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]:
            return ours, theirs
    raise AssertionError(f"{kind} {name} kept changing while compared with kubectl")


@pytest.mark.real_node
def test_statefulset_and_daemonset_messages_are_kubectls(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace
) -> None:
    ns = namespace.name
    create(
        kube_admin,
        ns,
        statefulset("db", image(stack, "healthy"), 2),
        statefulset("od", image(stack, "healthy"), 1, strategy="OnDelete"),
        daemonset("agent", image(stack, "never-ready")),
    )
    cases = [
        ("StatefulSet", "db", "partitioned roll out complete: 2 new pods have been updated..."),
        ("StatefulSet", "od", rollout.NOT_ROLLING),
        (
            "DaemonSet",
            "agent",
            'Waiting for daemon set "agent" rollout to finish: 0 of 1 updated pods are available...',
        ),
    ]
    for kind, name, message in cases:
        settle(kube_admin, ns, kind, name, message)
        ours, theirs = kubectl_says(stack, kube_admin, ns, kind, name)
        assert ours == theirs == message

    # A partition: only ordinal 1 takes v2, and the rollout is complete once it has.
    patch(
        kube_admin,
        ns,
        "StatefulSet",
        "db",
        {
            "spec": {
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                "template": {"spec": {"containers": [{"name": "app", "image": image(stack, "v2")}]}},
            }
        },
    )
    settle(kube_admin, ns, "StatefulSet", "db", "partitioned roll out complete: 1 new pods have been updated...")
    ours, theirs = kubectl_says(stack, kube_admin, ns, "StatefulSet", "db")
    assert ours == theirs
    images = {
        p.metadata.name: p.spec.containers[0].image
        for p in client.CoreV1Api(kube_admin).list_namespaced_pod(ns, label_selector="app=db").items
    }
    assert images == {"db-0": image(stack, "healthy"), "db-1": image(stack, "v2")}

    # A pod that never becomes Ready: kubectl counts what is missing.
    patch(
        kube_admin,
        ns,
        "StatefulSet",
        "db",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image(stack, "never-ready")}]}}}},
    )
    settle(kube_admin, ns, "StatefulSet", "db", "Waiting for 1 pods to be ready...")
    ours, theirs = kubectl_says(stack, kube_admin, ns, "StatefulSet", "db")
    assert ours == theirs
