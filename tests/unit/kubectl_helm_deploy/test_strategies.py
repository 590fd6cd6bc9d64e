"""Blue/green colours and canary weights: pure tables."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.kubectl_helm_deploy import blue_green_objects as colors
from plugins.kubectl_helm_deploy import canary_objects

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}},
    },
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "ns"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30001}]},
}


@pytest.mark.parametrize(
    ("service", "live", "idle"),
    [
        pytest.param(None, None, "blue", id="first-deploy"),
        pytest.param(SERVICE, None, "blue", id="uncoloured-service"),
        pytest.param(colors.service_for(SERVICE, "blue"), "blue", "green", id="blue-live"),
        pytest.param(colors.service_for(SERVICE, "green"), "green", "blue", id="green-live"),
        pytest.param({"spec": {"selector": {colors.COLOR_LABEL: "red"}}}, None, "blue", id="unknown-colour"),
    ],
)
def test_colours(service: dict[str, Any] | None, live: str | None, idle: str) -> None:
    assert colors.live_color(service) == live
    assert colors.idle_color(colors.live_color(service)) == idle


def test_coloured_deployment() -> None:
    green = colors.colored_deployment(DEPLOYMENT, "green")
    assert green["metadata"]["name"] == "web-green"
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", colors.COLOR_LABEL: "green"}
    assert green["spec"]["template"]["metadata"]["labels"] == {"app": "web", colors.COLOR_LABEL: "green"}
    assert DEPLOYMENT["metadata"]["name"] == "web"


@pytest.mark.parametrize("color", colors.COLORS)
def test_service_selects_colour_only(color: str) -> None:
    svc = colors.service_for(SERVICE, color)
    assert svc["spec"]["selector"] == {"app": "web", colors.COLOR_LABEL: color}
    assert colors.selector_patch(color) == {"spec": {"selector": {colors.COLOR_LABEL: color}}}


@pytest.mark.parametrize(
    ("weight", "stable", "replicas"),
    [
        pytest.param(25, 4, 1, id="quarter-of-four"),
        pytest.param(10, 4, 1, id="rounds-up"),
        pytest.param(1, 1, 1, id="at-least-one"),
        pytest.param(50, 5, 3, id="half-of-five-up"),
        pytest.param(100, 3, 3, id="all"),
        pytest.param(30, 0, 1, id="stable-scaled-to-zero"),
        pytest.param(34, 3, 2, id="ceil"),
    ],
)
def test_canary_replicas(weight: int, stable: int, replicas: int) -> None:
    assert canary_objects.canary_replicas(weight, stable) == replicas


@pytest.mark.parametrize("weight", [0, 101, -5])
def test_canary_replicas_bad_weight(weight: int) -> None:
    with pytest.raises(ValueError):
        canary_objects.canary_replicas(weight, 4)


@pytest.mark.parametrize(
    ("steps", "weight", "expected"),
    [pytest.param([], 25, [25], id="single"), pytest.param(["10", "50", "100"], 25, [10, 50, 100], id="steps-win")],
)
def test_step_weights(steps: list[str], weight: int, expected: list[int]) -> None:
    assert canary_objects.step_weights(steps, weight) == expected


def test_canary_deployment_shares_service_selector() -> None:
    canary = canary_objects.canary_deployment(DEPLOYMENT, 1)
    assert canary["metadata"]["name"] == "web-canary"
    assert canary["spec"]["replicas"] == 1
    pod_labels = canary["spec"]["template"]["metadata"]["labels"]
    assert SERVICE["spec"]["selector"].items() <= pod_labels.items()  # the stable Service selects canary pods
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "web", canary_objects.TRACK_LABEL: "canary"}


def test_canary_service_and_ingress() -> None:
    svc = canary_objects.canary_service(SERVICE)
    assert svc["metadata"]["name"] == "web-canary"
    assert svc["spec"]["selector"] == {"app": "web", canary_objects.TRACK_LABEL: "canary"}
    assert svc["spec"]["ports"] == [{"port": 80, "targetPort": 8080}]
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "site",
            "namespace": "ns",
            "annotations": {"nginx.ingress.kubernetes.io/canary-weight": "5"},
        },
        "spec": {
            "tls": [{"hosts": ["a"]}],
            "rules": [
                {
                    "host": "a",
                    "http": {
                        "paths": [
                            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                            {"path": "/api", "backend": {"service": {"name": "api", "port": {"number": 80}}}},
                        ]
                    },
                }
            ],
        },
    }
    copy = canary_objects.canary_ingress(ingress, 30, "web")
    assert copy["metadata"]["name"] == "site-canary"
    assert copy["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "30",
    }
    paths = copy["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["web-canary", "api"]
    assert "tls" not in copy["spec"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web"
