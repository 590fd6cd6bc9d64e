"""Chaos Toolkit hypotheses: which HTTP probes are taken, and how."""

from __future__ import annotations

import pytest

from plugins.chaos_kill.chaostoolkit import ExperimentProbe, hypothesis_of


def experiment(*probes: object, configuration: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "title": "t",
        "configuration": configuration or {},
        "steady-state-hypothesis": {"title": "web is fine", "probes": list(probes)},
    }


def http(name: str, url: str, tolerance: object = 200, **provider: object) -> dict[str, object]:
    return {"type": "probe", "name": name, "tolerance": tolerance, "provider": {"type": "http", "url": url, **provider}}


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        pytest.param(http("a", "http://web/"), ExperimentProbe("a", "http://web/", 200), id="status"),
        pytest.param(http("a", "http://web/", 204), ExperimentProbe("a", "http://web/", 204), id="other-status"),
        pytest.param(http("a", "http://web/", [503]), ExperimentProbe("a", "http://web/", 503), id="list-of-one"),
        pytest.param(
            http("a", "http://web/", {"type": "regex", "target": "body", "pattern": "ok"}),
            ExperimentProbe("a", "http://web/", 200, "ok"),
            id="body-regex",
        ),
        pytest.param(
            http("a", "http://web/", timeout=[1, 2]), ExperimentProbe("a", "http://web/", 200, None, 3.0), id="timeout"
        ),
    ],
)
def test_http_probes(probe: dict[str, object], expected: ExperimentProbe) -> None:
    hypothesis = hypothesis_of(experiment(probe))
    assert hypothesis.probes == (expected,)
    assert hypothesis.title == "web is fine"


def test_configuration_substituted_and_other_providers_skipped() -> None:
    doc = experiment(
        http("health", "${base_url}/healthz"),
        {"type": "probe", "name": "pods-ok", "tolerance": True, "provider": {"type": "python", "module": "chaosk8s"}},
        "some-ref",
        configuration={"base_url": "http://web:8080", "other": {"type": "env", "key": "X"}},
    )
    hypothesis = hypothesis_of(doc)
    assert [p.url for p in hypothesis.probes] == ["http://web:8080/healthz"]
    assert hypothesis.skipped == ("pods-ok (python provider)", "probe #3 (a reference, not a probe)")
