"""The plan: a pure function of settings, handoff and kube context; dry_run prints it and stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins.deployment_verify.plan import Plan, build_plan, expected_image
from plugins.deployment_verify.settings import DECLARATION
from shared.handoff import Published
from shared.settings import Values

DIGEST = "sha256:" + "a" * 64
PUBLISHED = Published(
    repo="reg:5000/shop/web", tags=["1.2.3", "42"], digest=DIGEST, image=f"reg:5000/shop/web@{DIGEST}"
)
TAG_ONLY = Published(repo="reg:5000/shop/web", tags=["1.2.3"], digest="", image="")


def load(**settings: str) -> Values:
    return DECLARATION.load({f"PLUGIN_{k.upper()}": v for k, v in settings.items()})


def plan_for(context_ns: str = "", published: Published | None = None, **settings: str) -> Plan:
    """The plan from these settings (names as in the pipeline) in a step whose context namespace is `context_ns`."""
    return build_plan(load(**settings), published, context_ns)


@pytest.mark.parametrize(
    ("settings", "published", "expected"),
    [
        pytest.param({}, None, ("", ""), id="nothing"),
        pytest.param({}, PUBLISHED, (f"reg:5000/shop/web@{DIGEST}", ".shipline/publish.json"), id="handoff-by-digest"),
        pytest.param({}, TAG_ONLY, ("reg:5000/shop/web:1.2.3", ".shipline/publish.json"), id="handoff-without-digest"),
        pytest.param({"expected_image": "x/y:1"}, PUBLISHED, ("x/y:1", "expected_image"), id="setting-wins"),
    ],
)
def test_expected_image(settings: dict[str, str], published: Published | None, expected: tuple[str, str]) -> None:
    values = load(deployments="web", **settings)
    assert expected_image(values, published) == expected


@pytest.mark.parametrize(
    ("settings", "context_ns", "field", "expected"),
    [
        pytest.param({}, "", "namespace", "default", id="namespace-default"),
        pytest.param({}, "ctx", "namespace", "ctx", id="namespace-from-context"),
        pytest.param({"namespace": "shop"}, "ctx", "namespace", "shop", id="namespace-setting"),
        pytest.param(
            {"deployments": "web,api,web"},
            "",
            "workloads",
            (("Deployment", "web"), ("Deployment", "api")),
            id="deduplicated",
        ),
        pytest.param(
            {"workloads": "statefulset/db,ds/agent,web"},
            "",
            "workloads",
            (("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent")),
            id="workloads-by-kind-bare-name-a-deployment",
        ),
        pytest.param({"min_stable": "30s"}, "", "min_stable", 30.0, id="min-stable"),
        pytest.param({"timeout": "2m30s"}, "", "timeout", 150.0, id="timeout"),
        pytest.param({}, "", "timeout", 300.0, id="timeout-default-5m"),
        pytest.param({}, "", "max_restarts", 2, id="max-restarts-default"),
        pytest.param({}, "", "rollback_on_failure", False, id="no-rollback-by-default"),
        pytest.param({"urls": '["http://a/x?q=1,2"]'}, "", "urls", ("http://a/x?q=1,2",), id="json-list-with-comma"),
        pytest.param({"interval": "250ms"}, "", "interval", 0.25, id="interval"),
    ],
)
def test_plan_fields(settings: dict[str, str], context_ns: str, field: str, expected: object) -> None:
    assert getattr(plan_for(context_ns, **{"deployments": "web", **settings}), field) == expected


def test_plan_http_expectation_and_canary() -> None:
    plan = plan_for(
        deployments="web",
        urls="http://a/,http://b/",
        expect_status="204",
        expect_body="ok",
        headers='{"Authorization": "Bearer s3cret"}',
        request_timeout="2s",
        max_latency_ms="150",
        baseline_url="http://base/",
        canary_url="http://canary/",
        max_error_rate_increase="0.05",
        max_latency_increase="100ms",
    )
    assert plan.expectation.status == 204
    assert plan.expectation.body == "ok"
    assert plan.expectation.headers == {"Authorization": "Bearer s3cret"}
    assert plan.expectation.request_timeout == 2.0
    assert plan.expectation.max_latency_ms == 150.0
    assert plan.canary is not None
    assert (plan.canary.max_error_rate_increase, plan.canary.max_latency_increase_ms) == (0.05, 100.0)
    text = "\n".join(plan.describe())
    assert "GET http://a/ x1: HTTP 204, body matching /ok/; error rate <= 0.0%, p95 <= 150 ms" in text
    assert "canary http://canary/ vs baseline http://base/" in text
    assert "s3cret" not in text


def test_describe_names_target_image_and_rollback() -> None:
    lines = plan_for("shop", PUBLISHED, label_selector="app=web", rollback_on_failure="true").describe()
    assert lines[0].startswith(
        "namespace shop: wait for the rollout of Deployments, StatefulSets and DaemonSets matching app=web "
        "(timeout 300s"
    )
    assert f"every new pod must run reg:5000/shop/web@{DIGEST} (.shipline/publish.json)" in lines
    assert lines[-1] == "on failure: roll back to the previous revision"


def test_report_paths() -> None:
    plan = plan_for(deployments="web", report_file="out/r.json", junit_file="out/j.xml")
    assert (plan.report_file, plan.junit_file) == (Path("out/r.json"), Path("out/j.xml"))


def test_plan_analysis_once_over_the_interval() -> None:
    plan = plan_for(
        "shop",
        deployments="web",
        analysis='["request_success_rate", {"name": "p99", "query": "q{pod=~\\"{{ canary }}.*\\"}", "max": 300}]',
        analysis_interval="45s",
        analysis_baseline="web-stable",
        prometheus_url="http://prometheus:9090",
    )
    assert [c.name for c in plan.analysis] == ["request_success_rate", "p99"]
    assert (plan.analysis_interval, plan.analysis_baseline) == (45.0, "web-stable")
    assert "analysis request_success_rate once over the last 45s: min 99%" in plan.describe()


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        pytest.param({"deployments": "web", "analysis": '["request_success_rate"]'}, "PLUGIN_PROMETHEUS_URL", id="url"),
        pytest.param(
            {"deployments": "a,b", "analysis": '["request_success_rate"]', "prometheus_url": "http://p:9090"},
            "PLUGIN_ANALYSIS",
            id="one-deployment",
        ),
    ],
)
def test_analysis_settings_errors(settings: dict[str, str], setting: str) -> None:
    from shared.errors import SettingsError

    with pytest.raises(SettingsError) as e:
        load(**settings)
    assert e.value.setting == setting
