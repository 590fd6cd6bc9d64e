from __future__ import annotations

from typing import Any

import pytest

from plugins.kubectl_helm_deploy.diff import flatten, render_diff


def dep(image: str, replicas: int = 2, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "resourceVersion": "1", **meta},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": 2},
    }


@pytest.mark.parametrize(
    ("live", "proposed", "lines"),
    [
        pytest.param(None, dep("a:1"), ["+ Deployment web (new)"], id="new"),
        pytest.param(dep("a:1"), dep("a:1"), [], id="unchanged"),
        pytest.param(
            dep("a:1"), dep("a:2"), ['~ spec.template.spec.containers[app].image: "a:1" -> "a:2"'], id="image"
        ),
        pytest.param(
            dep("a:1"),
            {**dep("a:1"), "metadata": {"name": "web", "resourceVersion": "9", "generation": 4}},
            [],
            id="server-fields-ignored",
        ),
        pytest.param(
            dep("a:1", labels={"x": "1"}),
            dep("a:1", replicas=3),
            ['- metadata.labels.x: "1"', "~ spec.replicas: 2 -> 3"],
            id="removed-and-changed",
        ),
    ],
)
def test_render_diff(live: dict[str, Any] | None, proposed: dict[str, Any], lines: list[str]) -> None:
    assert render_diff(live, proposed) == lines


def test_secret_values_hidden() -> None:
    live = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "b2xk"}}
    new = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "bmV3"}}
    assert render_diff(live, new) == ["~ data.password: ****** -> ******"]


def test_flatten_keys_named_items() -> None:
    assert flatten({"ports": [{"name": "http", "port": 80}, {"port": 81}]}) == {
        "ports[http].name": "http",
        "ports[http].port": 80,
        "ports[1].port": 81,
    }
