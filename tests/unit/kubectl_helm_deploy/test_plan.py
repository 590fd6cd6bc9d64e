from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugins.kubectl_helm_deploy.blue_green_objects import COLOR_LABEL
from plugins.kubectl_helm_deploy.helm_plan import build_helm_plan, merge_values
from plugins.kubectl_helm_deploy.inputs import resolve_image
from plugins.kubectl_helm_deploy.manifests import Manifest
from plugins.kubectl_helm_deploy.manifests_plan import build_plan, live_refs
from plugins.kubectl_helm_deploy.plan import BlueGreen, Canary, HelmRelease, Plan, deployment_ref, service_ref
from plugins.kubectl_helm_deploy.settings import DECLARATION
from plugins.kubectl_helm_deploy.workload import DEPLOY_LABEL
from shared.errors import SettingsError
from shared.handoff import Published, write_published
from shared.settings import Values

IMG = "reg.local/team/web"


def settings(**env: str) -> Values:
    base = {"PLUGIN_MANIFESTS": "k8s"}
    base.update({f"PLUGIN_{k.upper()}": v for k, v in env.items()})
    return DECLARATION.load({k: v for k, v in base.items() if v})


def dep(name: str, image: str = f"{IMG}:v1") -> Manifest:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }
    return Manifest(f"{name}.yaml#1", obj)


SVC = Manifest("svc.yaml#1", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}})
NS = Manifest("ns.yaml#1", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})


def test_plan_injects_image_namespace_rolling_and_label() -> None:
    plan = build_plan(
        settings(max_surge="1", max_unavailable="25%"), [NS, SVC, dep("web")], f"{IMG}:v2", "image", "ns1", {}
    )
    web = plan.object("Deployment", "web")
    assert web is not None
    assert web.obj["metadata"]["namespace"] == "ns1"
    assert web.obj["metadata"]["labels"][DEPLOY_LABEL] == "web"
    assert web.obj["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMG}:v2"
    assert web.obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}
    assert "namespace" not in plan.objects[0].obj["metadata"]  # Namespace is cluster-scoped
    assert plan.target == "web"
    assert [c.container for c in plan.image_changes] == ["app"]


@pytest.mark.parametrize(
    ("env", "manifests", "image", "setting"),
    [
        pytest.param({}, [dep("web"), dep("api")], f"{IMG}:v2", None, id="rolling-many-ok"),
        pytest.param(
            {"strategy": "canary", "service": "web"},
            [dep("a"), dep("b")],
            f"{IMG}:v2",
            "PLUGIN_DEPLOYMENT",
            id="canary-needs-one",
        ),
        pytest.param({"deployment": "nope"}, [dep("web")], f"{IMG}:v2", "PLUGIN_DEPLOYMENT", id="unknown-deployment"),
        pytest.param(
            {"strategy": "blue-green", "service": "other"},
            [SVC, dep("web")],
            f"{IMG}:v2",
            "PLUGIN_SERVICE",
            id="blue-green-service-missing",
        ),
        pytest.param({"strategy": "canary"}, [dep("web")], "", "PLUGIN_IMAGE", id="canary-needs-image"),
        pytest.param({"strategy": "canary", "canary_action": "abort"}, [dep("web")], "", None, id="abort-no-image"),
        pytest.param({}, [dep("web", "x/y:1"), dep("api", "x/z:1")], f"{IMG}:v2", "PLUGIN_IMAGE", id="image-unused"),
        pytest.param({"containers": "sidecar"}, [dep("web")], f"{IMG}:v2", "PLUGIN_CONTAINERS", id="unknown-container"),
    ],
)
def test_plan_errors(env: dict[str, str], manifests: list[Manifest], image: str, setting: str | None) -> None:
    if setting is None:
        build_plan(settings(**env), manifests, image, "image", "ns", {})
        return
    with pytest.raises(SettingsError) as e:
        build_plan(settings(**env), manifests, image, "image", "ns", {})
    assert e.value.setting == setting


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        pytest.param({"chart": "c"}, "PLUGIN_CHART", id="both-modes"),
        pytest.param({"manifests": ""}, "PLUGIN_MANIFESTS", id="no-mode"),
        pytest.param({"canary_route": "r", "strategy": "canary"}, "PLUGIN_SERVICE", id="route-needs-service"),
        pytest.param({"analysis": '["request_success_rate"]', "strategy": "canary"}, "PLUGIN_PROMETHEUS_URL", id="url"),
        pytest.param(
            {"analysis": '["request_success_rate"]', "prometheus_url": "http://p:9090"}, "PLUGIN_ANALYSIS", id="rolling"
        ),
        pytest.param({"analysis": '{"name": "x"}', "strategy": "canary"}, "PLUGIN_ANALYSIS", id="analysis-not-a-list"),
        pytest.param({"namespace": "n" * 64}, "PLUGIN_NAMESPACE", id="namespace-64"),
        pytest.param({"image": "127.0.0.1:5000/Team/App:v1"}, "PLUGIN_IMAGE", id="image-upper-case"),
        pytest.param({"manifests": "/**/*.yaml"}, "PLUGIN_MANIFESTS", id="glob-outside-workspace"),
        pytest.param({"manifests": "", "chart": "c", "release": "r" * 54}, "PLUGIN_RELEASE", id="release-54"),
        pytest.param({"manifests": "", "chart": "c", "values": '["a"]'}, "PLUGIN_VALUES", id="values-list"),
        pytest.param({"max_unavailable": "-1"}, "PLUGIN_MAX_UNAVAILABLE", id="max-unavailable"),
        pytest.param({"strategy": "blue-green"}, "PLUGIN_SERVICE", id="blue-green-service"),
        pytest.param({"manifests": "", "chart": "c", "strategy": "canary"}, "PLUGIN_STRATEGY", id="helm-canary"),
        pytest.param({"manifests": "", "chart": "c", "set": "novalue"}, "PLUGIN_SET", id="set-not-kv"),
    ],
)
def test_settings_errors(env: dict[str, str], setting: str) -> None:
    with pytest.raises(SettingsError) as e:
        settings(**env)
    assert e.value.setting == setting


def test_resolve_image(tmp_path: Path) -> None:
    assert resolve_image(settings(image=f"{IMG}:v3"), tmp_path) == (f"{IMG}:v3", "image")
    assert resolve_image(settings(), tmp_path) == ("", "")  # no handoff: manifests as written
    digest = "sha256:" + "b" * 64
    write_published(tmp_path / ".shipline" / "publish.json", Published(IMG, ["v3"], digest, f"{IMG}@{digest}"))
    assert resolve_image(settings(), tmp_path) == (f"{IMG}@{digest}", "publish_file")
    with pytest.raises(SettingsError, match="PLUGIN_PUBLISH_FILE"):
        resolve_image(settings(publish_file="missing.json"), tmp_path)


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}, id="deep"),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replace"),
        pytest.param({"a": {"b": 1}}, {"a": "x"}, {"a": "x"}, id="scalar-wins"),
    ],
)
def test_merge_values(base: dict[str, Any], override: dict[str, Any], merged: dict[str, Any]) -> None:
    assert merge_values(base, override) == merged


def test_helm_plan_values_order(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    # Values files first, then `values`, then `set`, then the image: each later one wins.
    given = {"values_files": "v.yaml", "values": '{"replicaCount": 2, "image": {"pullPolicy": "Always"}}'}
    given |= {"set": "replicaCount=5,feature.on=true,name=web", "image_value": "image.ref"}
    values = settings(manifests="", chart="chart", **given)
    files = {"v.yaml": "replicaCount: 1\nimage: {ref: old, pullPolicy: IfNotPresent}\n"}
    plan = build_helm_plan(values, f"{IMG}:v2", "image", "ns", files, tmp_path)
    helm = plan.steps
    assert isinstance(helm, HelmRelease)
    assert helm.release == "chart" and helm.local
    assert helm.values == {
        "replicaCount": 5,
        "image": {"ref": f"{IMG}:v2", "pullPolicy": "Always"},
        "feature": {"on": True},
        "name": "web",
    }


def test_helm_plan_missing_local_chart(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match='PLUGIN_CHART: "./nope" does not exist'):
        build_helm_plan(settings(manifests="", chart="./nope"), "", "", "ns", {}, tmp_path)


# -- strategies: what was read from the cluster completes the plan ------------------------------------------

ING = Manifest(
    "ing.yaml#1",
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "site"}, "spec": {"rules": []}},
)
SVC = Manifest(
    "svc.yaml#1",
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}},
)
ROUTE = Manifest(
    "route.yaml#1",
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "site"},
        "spec": {"rules": [{"backendRefs": [{"name": "web", "port": 80}]}]},
    },
)
LIVE_SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "w"}}}


def stable(replicas: int) -> dict[str, Any]:
    obj = dep("web").obj
    return {**obj, "spec": {**obj["spec"], "replicas": replicas}}


STABLE_4 = {deployment_ref("web"): stable(4)}


def canary_plan(live: dict[Any, Any], manifests: list[Manifest] | None = None, **env: str) -> Plan:
    values = settings(strategy="canary", **env)
    loaded = manifests or [dep("web")]
    assert set(live) <= set(live_refs(values, loaded)), "the plan reads only what live_refs asks for"
    return build_plan(values, loaded, f"{IMG}:v2", "image", "ns", live)


@pytest.mark.parametrize(
    ("env", "live", "setting"),
    [
        pytest.param({"service": "nope"}, {}, "PLUGIN_SERVICE", id="service-missing"),
        pytest.param(
            {"service": "web", "canary_ingress": "site"},
            {service_ref("web"): LIVE_SVC},
            "PLUGIN_CANARY_INGRESS",
            id="ingress-missing",
        ),
        pytest.param({}, {deployment_ref("web"): stable(0)}, "PLUGIN_CANARY_WEIGHT", id="stable-at-zero"),
        pytest.param(
            {"canary_steps": "10,20"}, {deployment_ref("web"): stable(4)}, "PLUGIN_CANARY_STEPS", id="same-replicas"
        ),
        pytest.param({"canary_steps": "10,200"}, STABLE_4, "PLUGIN_CANARY_STEPS", id="step-over-100"),
        pytest.param({"canary_steps": "10,٣"}, STABLE_4, "PLUGIN_CANARY_STEPS", id="step-unicode-digit"),
        pytest.param({"canary_steps": "50,20"}, STABLE_4, "PLUGIN_CANARY_STEPS", id="falling"),
        pytest.param({"canary_steps": "50,100,60"}, STABLE_4, "PLUGIN_CANARY_STEPS", id="100-not-last"),
        pytest.param(
            {"canary_steps": '[{"weight": 50, "pause": "soon"}]'}, STABLE_4, "PLUGIN_CANARY_STEPS", id="pause"
        ),
        pytest.param({"canary_steps": '[{"weight": 50, "wait": "1m"}]'}, STABLE_4, "PLUGIN_CANARY_STEPS", id="key"),
        pytest.param({"canary_steps": '[{"pause": "1m"}]'}, STABLE_4, "PLUGIN_CANARY_STEPS", id="no-weight"),
        pytest.param(
            {"canary_weight": "10"}, {deployment_ref("web"): stable(1)}, "PLUGIN_CANARY_WEIGHT", id="rounding"
        ),
        pytest.param(
            {"analysis": '[{"name": "x", "query": "up", "min": "high"}]', "prometheus_url": "http://p:9090"},
            STABLE_4,
            "PLUGIN_ANALYSIS",
            id="threshold-not-a-number",
        ),
    ],
)
def test_canary_input_errors(env: dict[str, str], live: dict[Any, Any], setting: str) -> None:
    with pytest.raises(SettingsError) as e:
        canary_plan(live, **env)
    assert e.value.setting == setting


def test_canary_steps_from_the_stable_replicas() -> None:
    plan = canary_plan(
        {deployment_ref("web"): stable(4), service_ref("web"): LIVE_SVC}, canary_steps="25,50,100", service="web"
    )
    steps = plan.steps
    assert isinstance(steps, Canary)
    # the replica ratio closest to each weight: 1 of 5 pods is 20%, 4 of 8 is 50%
    assert [(s.weight, s.replicas, s.effective) for s in steps.steps] == [(25, 1, 20.0), (50, 4, 50.0)]
    assert steps.promote_after and not steps.create_stable
    assert steps.steps[1].deployment["metadata"]["name"] == "web-canary"
    assert "canary at asked 25%, replicas give 20%: 1 pod(s) beside 4 stable" in plan.describe()
    assert "canary at 50%: 4 pod(s) beside 4 stable" in plan.describe()


def test_replica_rounding_past_max_weight_error_is_refused_unless_allowed() -> None:
    with pytest.raises(SettingsError) as e:
        canary_plan({deployment_ref("web"): stable(4)}, canary_weight="10", max_weight_error="5")
    assert "asked 10%, replicas give 20% (1 canary pod(s) beside 4 stable), off by more than max_weight_error" in str(
        e.value
    )
    plan = canary_plan(
        {deployment_ref("web"): stable(4)}, canary_weight="10", max_weight_error="5", allow_replica_rounding="true"
    )
    assert isinstance(plan.steps, Canary) and plan.steps.steps[0].effective == 20.0


def test_json_steps_with_pauses_intervals_and_a_manual_gate() -> None:
    steps_json = (
        '[{"weight": 10, "pause": "until promoted"}, {"weight": 50, "pause": "1m", "analysis_interval": "10s"}, 100]'
    )
    plan = canary_plan(
        STABLE_4,
        [dep("web"), SVC, ROUTE],
        canary_steps=steps_json,
        service="web",
        canary_route="site",
        analysis='["request_success_rate"]',
        prometheus_url="http://prometheus:9090",
        step_pause="5s",
        analysis_interval="20s",
    )
    steps = plan.steps
    assert isinstance(steps, Canary) and steps.promote_after
    assert [(s.weight, s.pause, s.interval, s.effective) for s in steps.steps] == [
        (10, None, 20.0, 10.0),
        (50, 60.0, 10.0, 50.0),
    ]
    assert [c.name for c in steps.analysis] == ["request_success_rate"]
    route = steps.steps[0].route
    assert route is not None
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": "web", "port": 80, "weight": 90},
        {"name": "web-canary", "port": 80, "weight": 10},
    ]
    assert steps.route_restore is not None
    assert steps.route_restore["spec"]["rules"][0]["backendRefs"] == [{"name": "web", "port": 80, "weight": 100}]
    assert [ref[1] for ref in steps.removes] == ["Deployment", "Service"]
    described = plan.describe()
    assert "canary at 10%: 1 pod(s) beside 4 stable, HTTPRoute site weights 90/10; pause until promoted" in described
    assert "analysis request_success_rate: min 99% (failure_limit 0)" in described


def test_promote_resumes_a_canary_paused_until_promoted() -> None:
    steps_json = '[{"weight": 25, "pause": "until promoted"}, {"weight": 50, "pause": "until promoted"}, 100]'
    paused = stable(1)
    paused["metadata"] = {
        "name": "web-canary",
        "annotations": {"shipline.io/canary-state": '{"status": "paused", "step": 1}'},
    }
    live = {**STABLE_4, deployment_ref("web-canary"): paused}
    resumed = canary_plan(live, canary_steps=steps_json, canary_action="promote").steps
    assert isinstance(resumed, Canary) and resumed.resume_at == 1
    paused["metadata"]["annotations"]["shipline.io/canary-state"] = '{"status": "paused", "step": 2}'
    final = canary_plan(live, canary_steps=steps_json, canary_action="promote").steps
    assert isinstance(final, Canary) and final.resume_at == 0  # paused at the last step: promote now


def test_first_canary_creates_the_stable_deployment() -> None:
    steps = canary_plan({}, allow_replica_rounding="true").steps
    assert isinstance(steps, Canary) and steps.create_stable
    assert steps.stable_replicas == 1  # the manifest's (unset) replicas


def test_canary_ingress_from_the_manifests() -> None:
    plan = canary_plan({service_ref("web"): LIVE_SVC}, [dep("web"), ING], service="web", canary_ingress="site")
    steps = plan.steps
    assert isinstance(steps, Canary)
    step = steps.steps[0]
    assert step.service is not None and step.service["metadata"]["name"] == "web-canary"
    assert (
        step.ingress is not None
        and step.ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    )
    assert [ref[1] for ref in steps.removes] == ["Deployment", "Service", "Ingress"]


@pytest.mark.parametrize(
    ("live", "serving", "new"),
    [
        pytest.param({}, None, "blue", id="first"),
        pytest.param({service_ref("web"): {"spec": {"selector": {COLOR_LABEL: "blue"}}}}, "blue", "green", id="blue"),
    ],
)
def test_blue_green_goes_to_the_idle_colour(live: dict[Any, Any], serving: str | None, new: str) -> None:
    plan = build_plan(settings(strategy="blue-green", service="web"), [SVC, dep("web")], "", "", "ns", live)
    steps = plan.steps
    assert isinstance(steps, BlueGreen)
    assert (steps.live, steps.new) == (serving, new)
    assert steps.deployment["metadata"]["name"] == f"web-{new}"
    assert steps.switched_service["spec"]["selector"][COLOR_LABEL] == new


def test_blue_green_preview_service_must_exist() -> None:
    values = settings(strategy="blue-green", service="web", preview_service="web-preview")
    assert live_refs(values, [SVC, dep("web")]) == [service_ref("web"), service_ref("web-preview")]
    with pytest.raises(SettingsError, match="PLUGIN_PREVIEW_SERVICE"):
        build_plan(values, [SVC, dep("web")], "", "", "ns", {service_ref("web"): None})


def test_prune_keeps_what_the_strategy_creates() -> None:
    plan = build_plan(settings(strategy="blue-green", service="web", prune="true"), [SVC, dep("web")], "", "", "ns", {})
    assert plan.prune is not None
    assert {("Deployment", "web-blue"), ("Deployment", "web-green"), ("Service", "web")} <= plan.prune.keep
