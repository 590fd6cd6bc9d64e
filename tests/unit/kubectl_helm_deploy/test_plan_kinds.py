"""The plan for the other workload kinds: StatefulSets and DaemonSets rolled (strategy rolling only), helm_test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugins.kubectl_helm_deploy.helm_plan import build_helm_plan
from plugins.kubectl_helm_deploy.manifests import Manifest
from plugins.kubectl_helm_deploy.manifests_plan import build_plan
from plugins.kubectl_helm_deploy.plan import HelmRelease, Rolling
from shared.errors import SettingsError

from .test_plan import IMG, SVC, dep, settings


def workload(kind: str, name: str, image: str = f"{IMG}:v1") -> Manifest:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }
    return Manifest(f"{name}.yaml#1", obj)


def test_rolling_waits_for_deployments_then_statefulsets_and_daemonsets() -> None:
    manifests = [SVC, workload("StatefulSet", "db"), dep("web"), workload("DaemonSet", "agent")]
    plan = build_plan(settings(min_stable="20s"), manifests, f"{IMG}:v2", "image", "ns1", {})
    assert plan.steps == Rolling(("web",), (("StatefulSet", "db"), ("DaemonSet", "agent")))
    assert plan.options.min_stable == 20.0
    changed = {(c.kind, c.name) for c in plan.image_changes}
    assert changed == {("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent")}
    assert plan.describe()[-2:] == ["wait for statefulset db", "wait for daemonset agent"]


def test_a_statefulset_alone_rolls() -> None:
    plan = build_plan(settings(), [workload("StatefulSet", "db")], f"{IMG}:v2", "image", "ns1", {})
    assert plan.steps == Rolling((), (("StatefulSet", "db"),))


@pytest.mark.parametrize("strategy", ["blue-green", "canary"])
@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_blue_green_and_canary_refuse_other_kinds(strategy: str, kind: str) -> None:
    with pytest.raises(SettingsError) as err:
        build_plan(
            settings(strategy=strategy, service="web"),
            [SVC, dep("web"), workload(kind, "other")],
            f"{IMG}:v2",
            "image",
            "ns1",
            {},
        )
    assert err.value.setting == "PLUGIN_STRATEGY"
    assert f"hold {kind} other" in str(err.value) and "strategy rolling" in str(err.value)


def test_helm_test_is_in_the_plan(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    tested = build_helm_plan(settings(manifests="", chart="chart", helm_test="true"), "", "", "ns", {}, tmp_path)
    assert isinstance(tested.steps, HelmRelease) and tested.steps.test
    assert tested.describe()[-1] == "helm test chart: the chart's test hooks must pass"
    untested = build_helm_plan(settings(manifests="", chart="chart"), "", "", "ns", {}, tmp_path)
    assert isinstance(untested.steps, HelmRelease) and not untested.steps.test
    assert not any(line.startswith("helm test") for line in untested.describe())
