"""The experiment as data, a pure function of the settings (and the Chaos Toolkit hypothesis, if any).

Everything an operator could get wrong is checked here or in the settings' checks, before any API call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from plugins.chaos_kill.chaostoolkit import ExperimentProbe, Hypothesis
from plugins.chaos_kill.selection import Count, Criteria
from plugins.chaos_kill.settings import REQUIRE_LABEL
from shared.http_checks import Expectation
from shared.settings import Values


@dataclass(frozen=True)
class Probe:
    """One HTTP check of the steady state: `requests` requests to `url`, each meeting `expectation`."""

    name: str
    url: str
    expectation: Expectation
    requests: int = 1

    def describe(self) -> str:
        named = f"{self.name}: " if self.name != self.url else ""
        return f"{named}{self.url}: {self.wants()}"

    def wants(self) -> str:
        e = self.expectation
        wants = [f"status {e.status}" if e.status is not None else "a status below 400"]
        if e.body:
            wants.append(f"body matching /{e.body}/")
        if e.max_latency_ms is not None:
            wants.append(f"p95 latency <= {e.max_latency_ms:g} ms")
        return f"{', '.join(wants)} ({self.requests} request(s))"


@dataclass(frozen=True)
class KillMethod:
    eviction: bool  # True: policy/v1 Eviction (PodDisruptionBudgets honoured); False: a plain delete
    grace_period: int | None  # None: each pod's own terminationGracePeriodSeconds


@dataclass(frozen=True)
class Plan:
    namespace: str
    label_selector: str
    field_selector: str | None
    criteria: Criteria
    count: Count
    rounds: int
    interval: float
    kill: KillMethod
    probes: tuple[Probe, ...]
    skipped_probes: tuple[str, ...]  # Chaos Toolkit probes that cannot run here (warned about)
    recovery_timeout: float
    dry_run: bool
    seed: str | None
    report_file: Path | None
    junit_file: Path | None

    def rng(self) -> random.Random:
        # A str seed is hashed with SHA-512 by `random`, so it is stable across processes (unlike hash()).
        return random.Random(self.seed) if self.seed is not None else random.Random()


def build_plan(values: Values, hypothesis: Hypothesis | None = None) -> Plan:
    require = None
    if values.require_label:
        m = REQUIRE_LABEL.fullmatch(values.require_label.strip())
        assert m is not None  # the settings check has refused anything else
        require = (m.group("key"), m.group("value"))
    probes = tuple(_probe_from_settings(values, url) for url in values.probe_urls)
    skipped: tuple[str, ...] = ()
    if hypothesis is not None:
        probes += tuple(_probe_from_experiment(values, p) for p in hypothesis.probes)
        skipped = hypothesis.skipped
    return Plan(
        namespace=values.namespace.strip(),
        label_selector=values.label_selector.strip(),
        field_selector=(values.field_selector or "").strip() or None,
        criteria=Criteria(values.name_pattern or None, values.include_unowned, require),
        count=Count(values.mode, values.value, values.max_kill, min_available(values)),
        rounds=values.rounds,
        interval=values.interval,
        kill=KillMethod(values.respect_pdb, 0 if values.force else values.grace_period),
        probes=probes,
        skipped_probes=skipped,
        recovery_timeout=values.recovery_timeout,
        dry_run=values.dry_run,
        seed=values.random_seed or None,
        report_file=values.report_file,
        junit_file=values.junit_file,
    )


def min_available(values: Values) -> int:
    """The Ready pods each workload keeps: as set, else 1 (never the last pod) unless allow_total_outage."""
    if values.given("min_available"):
        return int(values.min_available)
    return 0 if values.allow_total_outage else 1


def _probe_from_settings(values: Values, url: str) -> Probe:
    expectation = Expectation(
        status=values.probe_status or None,
        body=values.probe_body or None,
        headers=dict(values.probe_headers),
        request_timeout=values.probe_timeout,
        max_latency_ms=values.probe_max_latency * 1000 if values.probe_max_latency is not None else None,
    )
    return Probe(url, url, expectation, values.probe_requests)


def _probe_from_experiment(values: Values, probe: ExperimentProbe) -> Probe:
    # The experiment says what a good answer is; how to ask (headers, request count) stays ours.
    expectation = Expectation(
        status=probe.status,
        body=probe.body_regex,
        headers=dict(values.probe_headers),
        request_timeout=probe.timeout or values.probe_timeout,
    )
    return Probe(probe.name, probe.url, expectation, values.probe_requests)


def describe_plan(plan: Plan) -> list[str]:
    """The plan in the words the log prints before anything happens."""
    count = plan.count
    how = {"one": "one pod", "all": "every eligible pod"}.get(count.mode) or (
        f"{count.value:g}% of the eligible pods (rounded up, at least one)"
        if count.mode == "percent"
        else f"{count.value:g} pod(s)"
    )
    lines = [
        f"namespace {plan.namespace}, pods matching {plan.label_selector}"
        + (f" and fields {plan.field_selector}" if plan.field_selector else ""),
        f"kill {how} per round, {plan.rounds} round(s)"
        + (f", {plan.interval:g}s apart" if plan.rounds > 1 and plan.interval else ""),
    ]
    if plan.criteria.name_pattern:
        lines.append(f"only pods whose name matches {plan.criteria.name_pattern!r}")
    if plan.criteria.require_label:
        key, value = plan.criteria.require_label
        lines.append(f"only pods (or workloads) labelled {key if value is None else f'{key}={value}'}")
    if plan.criteria.include_unowned:
        lines.append("pods without a controller are eligible too (nothing will replace them)")
    if count.max_kill is not None:
        lines.append(f"at most {count.max_kill} pod(s) per round (max_kill)")
    if count.min_available:
        lines.append(f"every targeted workload keeps at least {count.min_available} Ready pod(s) (min_available)")
    grace = "each pod's own grace period" if plan.kill.grace_period is None else f"grace {plan.kill.grace_period}s"
    lines.append(
        ("evict through the Eviction API (PodDisruptionBudgets honoured)" if plan.kill.eviction else "delete pods")
        + f", {grace}"
    )
    lines.append(f"recovery timeout {plan.recovery_timeout:g}s per round")
    for probe in plan.probes:
        lines.append(f"probe {probe.describe()}")
    lines.append(f"random seed {plan.seed!r}" if plan.seed is not None else "random seed: none (not reproducible)")
    if plan.dry_run:
        lines.append("dry run: nothing will be killed")
    return lines
