"""kubectl-helm-deploy, blue/green: the Service switches only to a fully Ready colour, a failed colour leaves
traffic where it was, and the Service's EndpointSlices never go empty (watched throughout)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from kubernetes import client, watch

from tests.harness import Run

from .conftest import Deploy
from .deploy_support import FIXTURES, IMAGE, deployment, images
from .stacklib import Namespace

BG = str(FIXTURES / "bluegreen")
COLOR = "shipline.io/color"


class EndpointWatch:
    """Watches the Service's EndpointSlices; records the Ready endpoint count after every change."""

    def __init__(self, admin: client.ApiClient, ns: str, service: str) -> None:
        self.counts: list[int] = []
        self._slices: dict[str, int] = {}
        self._w = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(admin, ns, service), daemon=True)

    def _run(self, admin: client.ApiClient, ns: str, service: str) -> None:
        api = client.DiscoveryV1Api(admin)
        try:
            for event in self._w.stream(
                api.list_namespaced_endpoint_slice,
                ns,
                label_selector=f"kubernetes.io/service-name={service}",
                timeout_seconds=300,
            ):
                s = event["object"]
                ready = sum(1 for e in s.endpoints or [] if not e.conditions or e.conditions.ready is not False)
                if event["type"] == "DELETED":
                    self._slices.pop(s.metadata.name, None)
                else:
                    self._slices[s.metadata.name] = ready
                self.counts.append(sum(self._slices.values()))
        except Exception:  # noqa: BLE001 - stop() closes the stream under us
            pass

    def __enter__(self) -> EndpointWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._w.stop()


def selector(admin: client.ApiClient, ns: str) -> dict[str, str]:
    """The selector of Service `web`: which colour it sends traffic to."""
    return client.CoreV1Api(admin).read_namespaced_service("web", ns).spec.selector  # type: ignore[no-any-return]


@pytest.fixture
def switch(deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient) -> Callable[[str], Run]:
    """Blue serves v1; `switch(tag)` deploys IMAGE:tag blue/green while the Service's endpoints are watched: they
    never go empty, whatever happens."""
    first = deploy(manifests=BG, image=f"{IMAGE}:v1", strategy="blue-green", service="web")
    assert first.code == 0, first.out
    assert selector(kube_admin, namespace.name) == {"app": "web", COLOR: "blue"}

    def run(tag: str) -> Run:
        with EndpointWatch(kube_admin, namespace.name, "web") as endpoints:
            result = deploy(manifests=BG, image=f"{IMAGE}:{tag}", strategy="blue-green", service="web")
        assert endpoints.counts and min(endpoints.counts) > 0, endpoints.counts
        return result

    return run


def test_switch_to_green_then_scale_blue_down(
    switch: Callable[[str], Run], namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    run = switch("v2")
    assert run.code == 0, run.out
    assert selector(kube_admin, namespace.name)[COLOR] == "green"
    assert images(kube_admin, namespace.name, "web-green")["app"] == f"{IMAGE}:v2"
    blue = deployment(kube_admin, namespace.name, "web-blue")
    assert blue is not None and blue.spec.replicas == 0  # scale_down_delay 0s in the tests


def test_failed_green_leaves_traffic_on_blue(
    switch: Callable[[str], Run], namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    run = switch("crash")
    assert run.code == 1, run.out
    assert "traffic stays on blue" in run.last and f"{IMAGE}:v1" in run.last, run.last
    assert selector(kube_admin, namespace.name)[COLOR] == "blue"
    blue = deployment(kube_admin, namespace.name, "web-blue")
    assert blue is not None and blue.status.available_replicas == 4
    green = deployment(kube_admin, namespace.name, "web-green")
    assert green is not None and green.spec.replicas == 0
