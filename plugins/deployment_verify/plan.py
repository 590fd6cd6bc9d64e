"""The verification plan: a pure function of the settings, the handoff file's content and the kube context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plugins.deployment_verify.settings import DECLARATION
from shared import analysis
from shared.handoff import Published
from shared.http_checks import Expectation
from shared.rollout import parse_workload, show_workload
from shared.settings import Values

Workload = tuple[str, str]  # kind, name


@dataclass(frozen=True)
class CanaryPlan:
    baseline_url: str
    canary_url: str
    max_error_rate_increase: float
    max_latency_increase_ms: float


@dataclass(frozen=True)
class Plan:
    namespace: str
    workloads: tuple[Workload, ...]  # empty when chosen by label_selector at run time
    label_selector: str
    timeout: float
    max_restarts: int
    min_stable: float
    expected_image: str  # "" = not checked
    image_source: str  # where expected_image came from, for the log
    urls: tuple[str, ...]
    expectation: Expectation
    requests_per_url: int
    interval: float
    max_error_rate: float
    warmup_retries: int
    warmup_backoff: float
    canary: CanaryPlan | None
    analysis: tuple[analysis.Check, ...]
    analysis_interval: float
    analysis_baseline: str  # {{ stable }}; "" = the verified Deployment itself
    rollback_on_failure: bool
    report_file: Path | None
    junit_file: Path | None

    def describe(self) -> list[str]:
        """The plan in words, for the log and for dry_run."""
        target = (
            ", ".join(show_workload(*w) for w in self.workloads)
            if self.workloads
            else f"Deployments, StatefulSets and DaemonSets matching {self.label_selector}"
        )
        lines = [
            f"namespace {self.namespace}: wait for the rollout of {target} (timeout {self.timeout:g}s, "
            f"failing fast on CrashLoopBackOff, image pull errors or more than {self.max_restarts} restarts)",
        ]
        if self.min_stable:
            lines.append(f"then every new pod must stay Ready with no new restart for {self.min_stable:g}s")
        if self.expected_image:
            lines.append(f"every new pod must run {self.expected_image} ({self.image_source})")
        else:
            lines.append("no expected image: pods' images are not checked")
        exp = self.expectation
        for url in self.urls:
            wanted = f"HTTP {exp.status}" + (f", body matching /{exp.body}/" if exp.body else "")
            limits = f"error rate <= {self.max_error_rate:.1%}"
            if exp.max_latency_ms is not None:
                limits += f", p95 <= {exp.max_latency_ms:g} ms"
            lines.append(f"GET {url} x{self.requests_per_url}: {wanted}; {limits}")
        if self.canary:
            c = self.canary
            lines.append(
                f"canary {c.canary_url} vs baseline {c.baseline_url} x{self.requests_per_url}: error rate at most "
                f"+{c.max_error_rate_increase:.1%}, p95 at most +{c.max_latency_increase_ms:g} ms"
            )
        for check in self.analysis:
            lines.append(f"analysis {check.name} once over the last {self.analysis_interval:g}s: {check.threshold()}")
        lines.append(
            "on failure: roll back to the previous revision" if self.rollback_on_failure else "on failure: no rollback"
        )
        return lines


def expected_image(values: Values, published: Published | None) -> tuple[str, str]:
    """The image every new pod must run and where that came from: the setting, else the handoff (by digest)."""
    if values.expected_image:
        return values.expected_image, "expected_image"
    if published is None:
        return "", ""
    if published.image:
        return published.image, str(values.publish_file)
    if published.repo and published.tags:
        return f"{published.repo}:{published.tags[0]}", str(values.publish_file)
    return "", ""


def build_plan(values: Values, published: Published | None, context_namespace: str) -> Plan:
    image, source = expected_image(values, published)
    canary = None
    if values.baseline_url:
        canary = CanaryPlan(
            values.baseline_url,
            values.canary_url,
            values.max_error_rate_increase,
            values.max_latency_increase * 1000,
        )
    return Plan(
        namespace=values.namespace or context_namespace or "default",
        workloads=tuple(
            dict.fromkeys([*(("Deployment", n) for n in values.deployments), *map(parse_workload, values.workloads)])
        ),
        label_selector=values.label_selector or "",
        timeout=values.timeout,
        max_restarts=values.max_restarts,
        min_stable=values.min_stable,
        expected_image=image,
        image_source=source,
        urls=tuple(values.urls),
        expectation=Expectation(
            status=values.expect_status,
            body=values.expect_body,
            headers=dict(values.headers),
            request_timeout=values.request_timeout,
            max_latency_ms=values.max_latency_ms,
        ),
        requests_per_url=values.requests_per_url,
        interval=values.interval,
        max_error_rate=values.max_error_rate,
        warmup_retries=values.warmup_retries,
        warmup_backoff=values.warmup_backoff,
        canary=canary,
        analysis=analysis.parse_checks(
            next(s for s in DECLARATION.settings if s.name == "analysis"),
            values.analysis,
            failure_limit=0,
            on_no_data=values.on_no_data,
        ),
        analysis_interval=values.analysis_interval,
        analysis_baseline=values.analysis_baseline or "",
        rollback_on_failure=values.rollback_on_failure,
        report_file=values.report_file,
        junit_file=values.junit_file,
    )
