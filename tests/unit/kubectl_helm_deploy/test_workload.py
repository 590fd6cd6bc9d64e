from __future__ import annotations

from typing import Any

import pytest

from plugins.kubectl_helm_deploy import workload


def deployment(name: str = "web", *images: tuple[str, str]) -> dict[str, Any]:
    containers = [{"name": n, "image": i} for n, i in images]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}},
    }


NEW = "reg.local:5000/team/web@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("obj", "names", "target", "expected"),
    [
        pytest.param(deployment("web", ("app", "reg.local:5000/team/web:v1")), [], "web", ["app"], id="same-repo"),
        pytest.param(
            deployment("web", ("app", "reg.local:5000/team/web:v1"), ("proxy", "envoy:1")),
            [],
            "web",
            ["app"],
            id="sidecar-untouched",
        ),
        pytest.param(deployment("web", ("app", "other/thing:1")), [], "web", ["app"], id="single-container-target"),
        pytest.param(deployment("redis", ("redis", "redis:7")), [], "web", [], id="single-container-not-target"),
        pytest.param(deployment("web", ("a", "x:1"), ("b", "y:1")), [], "web", [], id="several-containers-no-match"),
        pytest.param(deployment("web", ("a", "x:1"), ("b", "y:1")), ["b"], "web", ["b"], id="named"),
        pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}, [], "web", [], id="no-pods"),
    ],
)
def test_select_containers(obj: dict[str, Any], names: list[str], target: str, expected: list[str]) -> None:
    assert workload.select_containers(obj, NEW, names, target) == expected


def test_with_image_changes_copy_only() -> None:
    obj = deployment("web", ("app", "reg.local:5000/team/web:v1"), ("proxy", "envoy:1"))
    new, changes = workload.with_image(obj, NEW, ["app"])
    assert workload.images_of(new) == {"app": NEW, "proxy": "envoy:1"}
    assert workload.images_of(obj)["app"] == "reg.local:5000/team/web:v1"
    assert changes == [workload.ImageChange("Deployment", "web", "app", "reg.local:5000/team/web:v1", NEW)]


def test_pod_spec_of_cronjob() -> None:
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}
    assert workload.pod_spec(cron) == {"containers": []}


@pytest.mark.parametrize(
    ("surge", "unavailable", "expected"),
    [
        pytest.param(
            "1", "0", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, id="ints"
        ),
        pytest.param("25%", "", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}, id="percent"),
        pytest.param("", "", None, id="untouched"),
    ],
)
def test_with_rolling(surge: str, unavailable: str, expected: dict[str, Any] | None) -> None:
    result = workload.with_rolling(deployment("web", ("a", "x")), surge, unavailable)
    assert result["spec"].get("strategy") == expected


@pytest.mark.parametrize(
    ("obj", "namespaced", "expected"),
    [
        pytest.param({"metadata": {"name": "a"}}, True, "ns1", id="stamped"),
        pytest.param({"metadata": {"name": "a", "namespace": "other"}}, True, "other", id="kept"),
        pytest.param({"metadata": {"name": "a"}}, False, None, id="cluster-scoped"),
    ],
)
def test_with_namespace(obj: dict[str, Any], namespaced: bool, expected: str | None) -> None:
    assert workload.with_namespace(obj, "ns1", namespaced)["metadata"].get("namespace") == expected


def test_with_label_keeps_others() -> None:
    obj = {"metadata": {"name": "a", "labels": {"app": "web"}}}
    assert workload.with_label(obj, "k", "v")["metadata"]["labels"] == {"app": "web", "k": "v"}
    assert obj["metadata"]["labels"] == {"app": "web"}
