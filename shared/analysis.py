"""Metric analysis, pure: the checks an operator declares (`analysis` JSON, two built-ins like Flagger's), their
PromQL with placeholders filled in, and the verdict on each measured value. Querying is shared.prometheus's
business; running checks on a schedule is the canary's (and deployment-verify's, once).

A check passes when its value is within `min`/`max` and, with `max_increase`, no more than that worse than the
stable version's value (the same query with `{{ canary }}` set to the stable's name). No data fails unless
`on_no_data` says otherwise; an unreachable Prometheus or a query error always fails. A check whose failures
exceed its `failure_limit` aborts the canary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import SettingsError
from shared.report import Check as ReportCheck
from shared.settings import Setting

ON_NO_DATA = ("fail", "pass", "skip")
PLACEHOLDERS = ("namespace", "canary", "stable", "interval")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# A Deployment's pods are <name>-<pod-template-hash>-<suffix>: this never matches <name>-canary's pods.
_PODS = 'namespace="{{ namespace }}",pod=~"{{ canary }}-[0-9a-z]+-[0-9a-z]+"'


@dataclass(frozen=True)
class Builtin:
    query: str
    unit: str
    bound: str  # "min" or "max": which side of the threshold is good
    default: float
    doc: str


# The metric names are the Prometheus client libraries' conventions (the example app exports them); a service
# with other names writes its own check with `query`.
BUILTINS: Mapping[str, Builtin] = {
    "request_success_rate": Builtin(
        # `or vector(0)`: when every request failed the numerator has no series, and that is 0%, not "no data"
        f'100 * (sum(rate(http_requests_total{{{_PODS},code!~"5.."}}[{{{{ interval }}}}])) or vector(0))'
        f" / sum(rate(http_requests_total{{{_PODS}}}[{{{{ interval }}}}]))",
        "%",
        "min",
        99.0,
        "percent of requests not answered 5xx (http_requests_total{code})",
    ),
    "request_duration_p99": Builtin(
        "1000 * histogram_quantile(0.99, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{{{_PODS}}}[{{{{ interval }}}}])))",
        "ms",
        "max",
        500.0,
        "99th percentile of http_request_duration_seconds, in ms",
    ),
}
_KEYS = {"name", "query", "min", "max", "max_increase", "failure_limit", "on_no_data"}


@dataclass(frozen=True)
class Check:
    name: str
    query: str
    min: float | None = None
    max: float | None = None
    max_increase: float | None = None  # how much worse than the stable version (lower with min, higher with max)
    failure_limit: int = 0
    on_no_data: str = "fail"
    unit: str = ""

    def threshold(self) -> str:
        parts = [f"min {_num(self.min)}{self.unit}"] if self.min is not None else []
        parts += [f"max {_num(self.max)}{self.unit}"] if self.max is not None else []
        if self.max_increase is not None:
            parts.append(f"stable {'-' if self._lower_is_worse() else '+'}{_num(self.max_increase)}{self.unit}")
        return ", ".join(parts)

    def _lower_is_worse(self) -> bool:
        return self.min is not None and self.max is None


@dataclass(frozen=True)
class Verdict:
    passed: bool | None  # None: skipped (no data with on_no_data: skip)
    reason: str  # one line, e.g. "80 < min 99%", "no data"


@dataclass(frozen=True)
class Measurement:
    """One run of one check: what was asked, what came back, and the verdict."""

    check: str
    query: str
    value: float | None
    stable: float | None
    threshold: str
    verdict: str  # pass | fail | skip
    reason: str
    at: str  # UTC time, ISO 8601

    def shown(self) -> str:
        return "no data" if self.value is None else _num(round(self.value, 3))

    def as_report(self) -> ReportCheck:
        detail = f"{self.reason}; query: {self.query}; at {self.at}"
        return ReportCheck(f"analysis {self.check}", self.verdict != "fail", self.shown(), self.threshold, detail)


def parse_checks(setting: Setting, items: Sequence[Any], *, failure_limit: int, on_no_data: str) -> tuple[Check, ...]:
    """The checks of the `analysis` setting (already a list); SettingsError naming the check for anything wrong."""
    checks: list[Check] = []
    for index, item in enumerate(items):
        check = _parse_one(setting.env, index, item, failure_limit, on_no_data)
        if any(c.name == check.name for c in checks):
            raise SettingsError(setting.env, f'check "{check.name}" is declared twice')
        checks.append(check)
    return tuple(checks)


def _parse_one(env: str, index: int, item: Any, failure_limit: int, on_no_data: str) -> Check:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise SettingsError(env, f"item {index + 1} is not a check (a JSON object with name and query, or a built-in)")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(env, f"item {index + 1} has no name")
    where = f'check "{name}"'
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise SettingsError(env, f"{where} has an unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    builtin = BUILTINS.get(name)
    query = item.get("query", builtin.query if builtin else None)
    if not isinstance(query, str) or not query.strip():
        known = ", ".join(BUILTINS)
        raise SettingsError(env, f"{where} needs a query (a PromQL string), or a built-in name ({known})")
    numbers = {k: _number(env, where, k, item.get(k)) for k in ("min", "max", "max_increase")}
    if builtin and "query" not in item and numbers[builtin.bound] is None:
        numbers[builtin.bound] = builtin.default
    if numbers["min"] is None and numbers["max"] is None and numbers["max_increase"] is None:
        raise SettingsError(env, f"{where} has no threshold: give min, max or max_increase")
    for placeholder in _PLACEHOLDER.findall(query):
        if placeholder not in PLACEHOLDERS:
            known = ", ".join("{{ " + p + " }}" for p in PLACEHOLDERS)
            raise SettingsError(env, f"{where} has an unknown placeholder {{{{ {placeholder} }}}} (known: {known})")
    if numbers["max_increase"] is not None and "canary" not in _PLACEHOLDER.findall(query):
        raise SettingsError(
            env, f"{where}: max_increase compares with the stable version, so the query needs {{{{ canary }}}}"
        )
    limit = item.get("failure_limit", failure_limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1000:
        raise SettingsError(env, f"{where}: failure_limit {limit!r} is not a whole number from 0 to 1000")
    no_data = item.get("on_no_data", on_no_data)
    if no_data not in ON_NO_DATA:
        raise SettingsError(env, f"{where}: on_no_data {no_data!r} is not one of: {', '.join(ON_NO_DATA)}")
    unit = builtin.unit if builtin and "query" not in item else ""
    return Check(name, query, numbers["min"], numbers["max"], numbers["max_increase"], limit, no_data, unit)


def _number(env: str, where: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(env, f"{where}: {key} {_shown(value)} is not a number")
    return float(value)


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:40] + "..."


def render(query: str, **values: str) -> str:
    """The query with its placeholders filled in (every placeholder was checked known by parse_checks)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], query)


def prom_duration(seconds: float) -> str:
    """A PromQL range for `seconds`: whole seconds as "30s", else milliseconds."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def judge(check: Check, value: float | None, stable: float | None = None, error: str = "") -> Verdict:
    """The verdict on one measured value (None: the query returned no data; `error`: it could not be run)."""
    if error:
        return Verdict(False, error)
    if value is None:
        passed = {"fail": False, "pass": True, "skip": None}[check.on_no_data]
        return Verdict(passed, f"no data (on_no_data: {check.on_no_data})")
    shown = f"{_num(round(value, 3))}{check.unit}"
    if check.min is not None and value < check.min:
        return Verdict(False, f"{shown} < min {_num(check.min)}{check.unit}")
    if check.max is not None and value > check.max:
        return Verdict(False, f"{shown} > max {_num(check.max)}{check.unit}")
    if check.max_increase is not None:
        if stable is None:
            passed = {"fail": False, "pass": True, "skip": None}[check.on_no_data]
            return Verdict(passed, f"{shown}, stable has no data (on_no_data: {check.on_no_data})")
        worse = stable - value if check._lower_is_worse() else value - stable
        if worse > check.max_increase:
            return Verdict(
                False,
                f"{shown} is {_num(round(worse, 3))}{check.unit} worse than stable's "
                f"{_num(round(stable, 3))}{check.unit} (max_increase {_num(check.max_increase)})",
            )
        return Verdict(True, f"{shown} (stable {_num(round(stable, 3))}{check.unit})")
    return Verdict(True, shown)


def measurement(
    check: Check, query: str, value: float | None, stable: float | None, error: str, at: str
) -> Measurement:
    verdict = judge(check, value, stable, error)
    word = "skip" if verdict.passed is None else "pass" if verdict.passed else "fail"
    return Measurement(check.name, query, value, stable, check.threshold(), word, verdict.reason, at)


class Tally:
    """Failures per check over a whole canary: a check failing more than its failure_limit aborts."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.limits = {c.name: c.failure_limit for c in checks}
        self.failures = {c.name: 0 for c in checks}

    def add(self, measured: Sequence[Measurement]) -> Measurement | None:
        """Counts the failed measurements; the first whose check is now over its limit, else None."""
        over = None
        for m in measured:
            if m.verdict == "fail":
                self.failures[m.check] += 1
                if over is None and self.failures[m.check] > self.limits[m.check]:
                    over = m
        return over


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# The settings both plugins declare for analysis (kubectl-helm-deploy's canary, deployment-verify's one-off check).
PROMETHEUS_ACCESS: tuple[Setting, ...] = (
    Setting(
        "prometheus_url",
        doc="Prometheus to query for the analysis, e.g. http://prometheus.monitoring:9090",
        format="http_url",
    ),
    Setting("prometheus_token", secret=True, doc="Bearer token for Prometheus (e.g. from a secret)"),
    Setting("prometheus_ca", "text", secret=True, doc="CA certificate of Prometheus' TLS, as PEM or base64 PEM"),
)
CHECKS: tuple[Setting, ...] = (
    Setting(
        "analysis",
        "json_list",
        [],
        "Checks as a JSON list: built-ins request_success_rate (min, %) and request_duration_p99 (max, ms), or "
        "{name, query, min, max, max_increase, failure_limit, on_no_data}; the query's placeholders are "
        "{{ namespace }}, {{ canary }}, {{ stable }}, {{ interval }}",
    ),
    Setting(
        "analysis_interval", "duration", 30.0, "How often the checks run (and the range of {{ interval }})", minimum=1
    ),
    Setting("on_no_data", default="fail", doc="A query returning no data counts as", choices=ON_NO_DATA),
)
SETTINGS: tuple[Setting, ...] = (
    *PROMETHEUS_ACCESS,
    *CHECKS,
    Setting(
        "failure_limit", "int", 0, "Failed runs a check may have before the canary aborts", minimum=0, maximum=1000
    ),
)
