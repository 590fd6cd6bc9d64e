"""Bad inputs: each one exits 2 with one line naming the setting, before any API call (the server given here
does not exist, so any call would end in exit 1 instead)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugins.chaos_kill.__main__ import main
from plugins.chaos_kill.plan import build_plan, describe_plan
from plugins.chaos_kill.settings import DECLARATION
from tests.harness import Harness

UNREACHABLE = {
    "PLUGIN_KUBERNETES_SERVER": "http://127.0.0.1:9",
    "PLUGIN_KUBERNETES_TOKEN": "s3cr3t-token-value",
}
GOOD = {"PLUGIN_NAMESPACE": "shop", "PLUGIN_LABEL_SELECTOR": "app=web", **UNREACHABLE}


@pytest.mark.parametrize(
    ("env", "setting", "words"),
    [
        pytest.param({"PLUGIN_NAMESPACE": "kube-system"}, "PLUGIN_NAMESPACE", "is protected", id="kube-system"),
        pytest.param({"PLUGIN_NAMESPACE": "kube-node-lease"}, "PLUGIN_NAMESPACE", "is protected", id="kube-node-lease"),
        pytest.param(
            {"PLUGIN_NAMESPACE": "prod", "PLUGIN_PROTECTED_NAMESPACES": "prod,kube-system"},
            "PLUGIN_NAMESPACE",
            "is protected",
            id="custom-protected",
        ),
        pytest.param({"PLUGIN_NAMESPACE": ""}, "PLUGIN_NAMESPACE", "is required", id="no-namespace"),
        pytest.param({"PLUGIN_LABEL_SELECTOR": ""}, "PLUGIN_LABEL_SELECTOR", "is required", id="empty-selector"),
        pytest.param({"PLUGIN_LABEL_SELECTOR": "   "}, "PLUGIN_LABEL_SELECTOR", "is required", id="blank-selector"),
        pytest.param({"PLUGIN_LABEL_SELECTOR": "app=web,"}, "PLUGIN_LABEL_SELECTOR", 'ends with ","', id="empty-term"),
        pytest.param({"PLUGIN_MODE": "percent", "PLUGIN_VALUE": "0"}, "PLUGIN_VALUE", "not a percentage", id="pct-0"),
        pytest.param(
            {"PLUGIN_MODE": "percent", "PLUGIN_VALUE": "150"}, "PLUGIN_VALUE", "not a percentage", id="pct-150"
        ),
        pytest.param({"PLUGIN_MODE": "percent"}, "PLUGIN_VALUE", "is required with mode percent", id="pct-no-value"),
        pytest.param({"PLUGIN_MODE": "fixed", "PLUGIN_VALUE": "-1"}, "PLUGIN_VALUE", "below the minimum", id="neg"),
        pytest.param({"PLUGIN_MODE": "fixed", "PLUGIN_VALUE": "0"}, "PLUGIN_VALUE", "not a pod count", id="fixed-0"),
        pytest.param(
            {"PLUGIN_MODE": "fixed", "PLUGIN_VALUE": "1.5"}, "PLUGIN_VALUE", "not a pod count", id="fixed-fraction"
        ),
        pytest.param({"PLUGIN_MODE": "fixed", "PLUGIN_VALUE": "two"}, "PLUGIN_VALUE", "not a number", id="fixed-text"),
        pytest.param({"PLUGIN_MODE": "one", "PLUGIN_VALUE": "2"}, "PLUGIN_VALUE", "not used with mode one", id="one+v"),
        pytest.param({"PLUGIN_MODE": "all", "PLUGIN_VALUE": "2"}, "PLUGIN_VALUE", "not used with mode all", id="all+v"),
        pytest.param({"PLUGIN_NAME_PATTERN": "web-("}, "PLUGIN_NAME_PATTERN", "not a valid regex", id="bad-regex"),
        pytest.param(
            {"PLUGIN_FORCE": "true", "PLUGIN_GRACE_PERIOD": "30"}, "PLUGIN_FORCE", "contradicts", id="force+grace"
        ),
        pytest.param(
            {"PLUGIN_MIN_AVAILABLE": "0"}, "PLUGIN_MIN_AVAILABLE", "set allow_total_outage", id="min-0-needs-outage"
        ),
        # Values that would reach the API server (exit 1) if not refused here, or be taken as a number.
        pytest.param({"PLUGIN_NAMESPACE": "n" * 64}, "PLUGIN_NAMESPACE", "at most 63", id="namespace-64"),
        pytest.param(
            {"PLUGIN_LABEL_SELECTOR": "app=" + "x" * 100_000}, "PLUGIN_LABEL_SELECTOR", "longer than 4096", id="huge"
        ),
        pytest.param(
            {"PLUGIN_LABEL_SELECTOR": "app in (web"}, "PLUGIN_LABEL_SELECTOR", "not a label selector", id="unclosed-set"
        ),
        pytest.param({"PLUGIN_GRACE_PERIOD": "1e23"}, "PLUGIN_GRACE_PERIOD", "not a whole number", id="1e23"),
        pytest.param({"PLUGIN_GRACE_PERIOD": "1" + "0" * 23}, "PLUGIN_GRACE_PERIOD", "above the maximum", id="10e23"),
        pytest.param({"PLUGIN_ROUNDS": "٣"}, "PLUGIN_ROUNDS", "ASCII digits only", id="arabic-indic-digit"),
        pytest.param(
            {"PLUGIN_FIELD_SELECTOR": "spec.color=red"}, "PLUGIN_FIELD_SELECTOR", "can select on", id="field-unknown"
        ),
        pytest.param(
            {"PLUGIN_REQUIRE_LABEL": "chaos enabled"}, "PLUGIN_REQUIRE_LABEL", "not a label", id="bad-require-label"
        ),
        pytest.param({"PLUGIN_PROBE_URLS": "localhost:8080/"}, "PLUGIN_PROBE_URLS", "not an http(s) URL", id="probe"),
        pytest.param({"PLUGIN_PROBE_BODY": "ok("}, "PLUGIN_PROBE_BODY", "not a valid regex", id="probe-body"),
        pytest.param(
            {"PLUGIN_CHAOSTOOLKIT_EXPERIMENT": "/nonexistent/experiment.json"},
            "PLUGIN_CHAOSTOOLKIT_EXPERIMENT",
            "cannot read",
            id="experiment-missing",
        ),
        pytest.param(
            {"PLUGIN_KUBERNETES_SERVER": "", "PLUGIN_KUBERNETES_TOKEN": ""},
            "PLUGIN_KUBERNETES_SERVER",
            "no cluster access",
            id="no-cluster",
        ),
    ],
)
def test_bad_input_exits_2_before_any_api_call(harness: Harness, env: dict[str, str], setting: str, words: str) -> None:
    run = harness.run(main, **{**GOOD, **env})
    assert run.code == 2, run.out
    assert setting in run.last and words in run.last, run.out
    assert "cannot reach" not in run.out  # no API call was attempted
    assert "s3cr3t-token-value" not in run.out


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        pytest.param("not json", "is not JSON", id="not-json"),
        pytest.param("[]", "not a JSON object", id="not-object"),
        pytest.param("{}", "no steady-state-hypothesis", id="no-hypothesis"),
        pytest.param(
            {"steady-state-hypothesis": {"probes": [{"name": "p", "provider": {"type": "http"}}]}},
            'probe "p"',
            id="no-url",
        ),
        pytest.param(
            {
                "steady-state-hypothesis": {
                    "probes": [
                        {
                            "name": "p",
                            "tolerance": {"type": "jsonpath"},
                            "provider": {"type": "http", "url": "http://x/"},
                        }
                    ]
                }
            },
            "is not supported",
            id="unsupported-tolerance",
        ),
        pytest.param(
            {"steady-state-hypothesis": {"probes": [{"name": "p", "provider": {"type": "http", "url": "${base}/x"}}]}},
            "${base} is not a string in configuration",
            id="unknown-variable",
        ),
    ],
)
def test_bad_experiment_exits_2(harness: Harness, tmp_path: Path, doc: object, words: str) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    run = harness.run(main, **{**GOOD, "PLUGIN_CHAOSTOOLKIT_EXPERIMENT": str(path)})
    assert run.code == 2, run.out
    assert "PLUGIN_CHAOSTOOLKIT_EXPERIMENT" in run.last and words in run.last


def test_plan_from_settings() -> None:
    values = DECLARATION.load(
        {
            **GOOD,
            "PLUGIN_MODE": "percent",
            "PLUGIN_VALUE": "50",
            "PLUGIN_REQUIRE_LABEL": "shipline.io/chaos=enabled",
            "PLUGIN_FORCE": "yes",
            "PLUGIN_RESPECT_PDB": "false",
            "PLUGIN_PROBE_URLS": "http://a/healthz",
            "PLUGIN_PROBE_STATUS": "0",
            "PLUGIN_PROBE_MAX_LATENCY": "250ms",
            "PLUGIN_RANDOM_SEED": "42",
        }
    )
    plan = build_plan(values)
    assert plan.criteria.require_label == ("shipline.io/chaos", "enabled")
    assert (plan.count.mode, plan.count.value) == ("percent", 50)
    assert (plan.kill.eviction, plan.kill.grace_period) == (False, 0)
    (probe,) = plan.probes
    assert (probe.url, probe.expectation.status, probe.expectation.max_latency_ms) == ("http://a/healthz", None, 250)
    text = "\n".join(describe_plan(plan))
    assert "50% of the eligible pods" in text and "random seed '42'" in text and "delete pods, grace 0s" in text


def test_seeded_rng_is_reproducible() -> None:
    plan = build_plan(DECLARATION.load({**GOOD, "PLUGIN_RANDOM_SEED": "build-7"}))
    assert plan.rng().random() == plan.rng().random()


def test_require_label_key_only_and_defaults() -> None:
    plan = build_plan(DECLARATION.load({**GOOD, "PLUGIN_REQUIRE_LABEL": "chaos"}))
    assert plan.criteria.require_label == ("chaos", None)
    assert plan.kill.eviction is True and plan.kill.grace_period is None
    assert plan.count.min_available == 1 and plan.rounds == 1


@pytest.mark.parametrize(
    ("env", "kept"),
    [
        pytest.param({}, 1, id="default-keeps-the-last-pod"),
        pytest.param({"PLUGIN_ALLOW_TOTAL_OUTAGE": "true"}, 0, id="outage-allowed"),
        pytest.param({"PLUGIN_MIN_AVAILABLE": "0", "PLUGIN_ALLOW_TOTAL_OUTAGE": "true"}, 0, id="explicit-0"),
        pytest.param({"PLUGIN_MIN_AVAILABLE": "2", "PLUGIN_ALLOW_TOTAL_OUTAGE": "true"}, 2, id="explicit-wins"),
    ],
)
def test_min_available_defaults_to_one_unless_total_outage_allowed(env: dict[str, str], kept: int) -> None:
    assert build_plan(DECLARATION.load({**GOOD, **env})).count.min_available == kept
