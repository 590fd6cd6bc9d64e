"""Analysis, pure: the checks parsed from `analysis`, the placeholders, and the verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from shared.analysis import BUILTINS, SETTINGS, Check, Tally, judge, measurement, parse_checks, prom_duration, render
from shared.errors import SettingsError

ANALYSIS = next(s for s in SETTINGS if s.name == "analysis")


def parse(items: list[Any], failure_limit: int = 0, on_no_data: str = "fail") -> tuple[Check, ...]:
    return parse_checks(ANALYSIS, items, failure_limit=failure_limit, on_no_data=on_no_data)


def test_builtins_by_name_take_their_default_threshold_and_unit() -> None:
    rate, p99 = parse(["request_success_rate", {"name": "request_duration_p99", "max": 200, "max_increase": 50}])
    assert (rate.min, rate.max, rate.unit, rate.query) == (99.0, None, "%", BUILTINS["request_success_rate"].query)
    assert (p99.min, p99.max, p99.max_increase, p99.unit) == (None, 200.0, 50.0, "ms")
    assert rate.threshold() == "min 99%" and p99.threshold() == "max 200ms, stable +50ms"


def test_custom_check_keeps_its_own_limits() -> None:
    (check,) = parse([{"name": "errors", "query": "sum(x{ns='{{ namespace }}'})", "max": 0.5, "failure_limit": 2}])
    assert (check.max, check.min, check.failure_limit, check.on_no_data, check.unit) == (0.5, None, 2, "fail", "")


def test_the_settings_defaults_apply_unless_a_check_overrides_them() -> None:
    a, b = parse(
        [{"name": "a", "query": "up", "min": 1}, {"name": "b", "query": "up", "min": 1, "on_no_data": "skip"}],
        failure_limit=3,
        on_no_data="pass",
    )
    assert (a.failure_limit, a.on_no_data, b.on_no_data) == (3, "pass", "skip")


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        pytest.param([42], "item 1 is not a check", id="not-an-object"),
        pytest.param([{"query": "up", "min": 1}], "item 1 has no name", id="no-name"),
        pytest.param([{"name": "x", "min": 1}], 'check "x" needs a query', id="no-query"),
        pytest.param([{"name": "x", "query": "up"}], 'check "x" has no threshold', id="no-threshold"),
        pytest.param([{"name": "x", "query": "up", "min": "high"}], 'check "x": min "high" is not a number', id="nan"),
        pytest.param([{"name": "x", "query": "up", "max": True}], 'check "x": max True is not a number', id="bool"),
        pytest.param(
            [{"name": "x", "query": "up{a='{{ target }}'}", "min": 1}],
            'check "x" has an unknown placeholder {{ target }} (known: {{ namespace }}, {{ canary }}',
            id="unknown-placeholder",
        ),
        pytest.param([{"name": "x", "query": "up", "mni": 1}], "check \"x\" has an unknown key 'mni'", id="typo"),
        pytest.param(
            [{"name": "x", "query": "up", "max_increase": 1}], "the query needs {{ canary }}", id="increase-no-canary"
        ),
        pytest.param(
            [{"name": "x", "query": "up", "min": 1, "failure_limit": -1}], "failure_limit -1 is not", id="limit"
        ),
        pytest.param(
            [{"name": "x", "query": "up", "min": 1, "on_no_data": "maybe"}], "on_no_data 'maybe' is not", id="nodata"
        ),
        pytest.param(["request_success_rate", "request_success_rate"], "declared twice", id="twice"),
    ],
)
def test_bad_checks_are_input_errors_naming_the_check(items: list[Any], problem: str) -> None:
    with pytest.raises(SettingsError) as e:
        parse(items)
    assert e.value.setting == "PLUGIN_ANALYSIS"
    assert problem in str(e.value) and "\n" not in str(e.value)


def test_render_fills_every_placeholder_with_or_without_spaces() -> None:
    query = 'x{namespace="{{namespace}}",pod=~"{{ canary }}-.*",s="{{ stable }}"}[{{ interval }}]'
    assert render(query, namespace="ns", canary="web-canary", stable="web", interval="30s") == (
        'x{namespace="ns",pod=~"web-canary-.*",s="web"}[30s]'
    )
    assert (prom_duration(30), prom_duration(2.5)) == ("30s", "2500ms")


RATE = Check("rate", "q", min=99.0, unit="%")
P99 = Check("p99", "q", max=500.0, unit="ms")
RATE_VS_STABLE = Check("rate", "q", min=90.0, max_increase=2.0, unit="%")
P99_VS_STABLE = Check("p99", "q", max=1000.0, max_increase=50.0, unit="ms")


@pytest.mark.parametrize(
    ("check", "value", "stable", "error", "passed", "reason"),
    [
        pytest.param(RATE, 99.5, None, "", True, "99.5%", id="rate-ok"),
        pytest.param(RATE, 80.0, None, "", False, "80% < min 99%", id="rate-low"),
        pytest.param(P99, 499.0, None, "", True, "499ms", id="p99-ok"),
        pytest.param(P99, 750.25, None, "", False, "750.25ms > max 500ms", id="p99-high"),
        pytest.param(RATE, None, None, "", False, "no data (on_no_data: fail)", id="no-data-fails"),
        pytest.param(
            Check("r", "q", min=1, on_no_data="pass"), None, None, "", True, "no data (on_no_data: pass)", id="pass"
        ),
        pytest.param(
            Check("r", "q", min=1, on_no_data="skip"), None, None, "", None, "no data (on_no_data: skip)", id="skip"
        ),
        pytest.param(
            Check("r", "q", min=1, on_no_data="pass"), 5.0, None, "unreachable", False, "unreachable", id="error-fails"
        ),
        pytest.param(RATE_VS_STABLE, 97.0, 98.0, "", True, "97% (stable 98%)", id="slightly-worse"),
        pytest.param(
            RATE_VS_STABLE, 95.0, 99.5, "", False, "95% is 4.5% worse than stable's 99.5%", id="much-worse-rate"
        ),
        pytest.param(P99_VS_STABLE, 180.0, 100.0, "", False, "180ms is 80ms worse than stable's 100ms", id="p99-worse"),
        pytest.param(P99_VS_STABLE, 90.0, 100.0, "", True, "90ms (stable 100ms)", id="p99-better"),
        pytest.param(P99_VS_STABLE, 90.0, None, "", False, "stable has no data", id="stable-no-data"),
    ],
)
def test_judge(
    check: Check, value: float | None, stable: float | None, error: str, passed: bool | None, reason: str
) -> None:
    verdict = judge(check, value, stable, error)
    assert verdict.passed is passed
    assert reason in verdict.reason


def test_tally_aborts_once_a_check_fails_more_than_its_limit() -> None:
    lenient = Check("lenient", "q", min=1, failure_limit=1)
    tally = Tally([RATE, lenient])
    ok, bad = measurement(lenient, "q", 5, None, "", "t"), measurement(lenient, "q", 0, None, "", "t")
    assert tally.add([measurement(RATE, "q", 100, None, "", "t"), bad]) is None  # one failure allowed
    assert tally.add([ok]) is None
    over = tally.add([bad])
    assert over is not None and over.check == "lenient" and over.reason == "0 < min 1"


def test_a_measurement_becomes_a_report_check() -> None:
    m = measurement(RATE, "rate(q[30s])", 80.0, None, "", "2026-12-03T10:00:00Z")
    report = m.as_report()
    assert (report.name, report.passed, report.measured, report.threshold) == ("analysis rate", False, "80", "min 99%")
    assert "rate(q[30s])" in report.detail and "80% < min 99%" in report.detail
