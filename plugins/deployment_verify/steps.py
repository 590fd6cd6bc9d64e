"""The verification's effects, one function per kind of check; each returns `shared.report.Check`s.

Rollouts are waited for with watches (`shared.rollout_wait`); HTTP checks go through `shared.http_checks`.
A failed check is a result, not an exception: every check runs and is reported, then the plugin exits 1.
Only refused credentials (AuthError) stop the run at once: nothing after them could succeed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugins.deployment_verify.images import verify_pods
from plugins.deployment_verify.plan import Plan, Workload
from shared import http_checks, rollout
from shared.errors import AuthError, PluginError, RolloutFailed
from shared.kube import Cluster, api_path
from shared.log import Log
from shared.report import Check, log_checks, write_json, write_junit
from shared.rollout import show_workload
from shared.rollout_wait import PLURAL, RolloutResult, label, new_pods, undo_rollout, wait_for_rollout
from shared.stability import hold_stable

if TYPE_CHECKING:
    import requests

    from shared.prometheus import Prometheus


@dataclass
class Outcome:
    """What the run found, for the report file."""

    checks: list[Check]
    rollouts: dict[Workload, RolloutResult]
    rolled_back: dict[str, str]


def resolve_workloads(cluster: Cluster, plan: Plan, log: Log) -> list[Workload]:
    """The workloads to verify: the named ones, or the Deployments, StatefulSets and DaemonSets matching
    label_selector (none is a failure)."""
    if plan.workloads:
        return list(plan.workloads)
    found: list[Workload] = []
    for kind in rollout.KINDS:
        listed = cluster.read(api_path("apps/v1", PLURAL[kind], plan.namespace), label_selector=plan.label_selector)
        found += sorted((kind, d["metadata"]["name"]) for d in listed.get("items") or [])
    if not found:
        raise RolloutFailed(
            f'no Deployment, StatefulSet or DaemonSet in namespace "{plan.namespace}" matches label selector '
            f'"{plan.label_selector}"'
        )
    log.info(f"label selector {plan.label_selector} matches: {', '.join(show_workload(*w) for w in found)}")
    return found


def check_rollouts(
    cluster: Cluster, plan: Plan, workloads: list[Workload], log: Log, deadline: float
) -> tuple[list[Check], dict[Workload, RolloutResult]]:
    """Wait for each rollout (one deadline for all of them: `timeout` bounds the whole wait), then hold each for
    min_stable."""
    checks, results = [], {}
    for kind, name in workloads:
        log.heading(f"Rollout of {label(kind, name)}")
        started = time.monotonic()
        threshold = f"complete within {plan.timeout:g}s"
        check = f"rollout {show_workload(kind, name)}"
        try:
            result = wait_for_rollout(
                cluster,
                plan.namespace,
                name,
                timeout=max(deadline - time.monotonic(), 1.0),
                log=log,
                max_restarts=plan.max_restarts,
                kind=kind,
            )
            if plan.min_stable and result.waited:
                hold_stable(cluster, plan.namespace, kind, name, plan.min_stable, log)
        except AuthError:
            raise
        except PluginError as e:
            checks.append(Check(check, False, "failed", threshold, str(e), time.monotonic() - started))
            continue
        results[(kind, name)] = result
        measured = f"revision {result.revision} ({result.replicaset}) in {result.seconds:.1f}s"
        if not result.waited:
            measured = "update strategy is not RollingUpdate: not waited for (as kubectl)"
        elif plan.min_stable:
            measured += f", then stable for {plan.min_stable:g}s"
        checks.append(Check(check, True, measured, threshold, "", result.seconds))
    return checks, results


def check_images(cluster: Cluster, plan: Plan, results: dict[Workload, RolloutResult], log: Log) -> list[Check]:
    """Every Ready pod of each new ReplicaSet (or ControllerRevision) runs the expected image (by digest when one
    is expected)."""
    checks = []
    for kind, name in results:
        started = time.monotonic()
        pods = new_pods(cluster, plan.namespace, kind, name)
        verdict = verify_pods(plan.expected_image, pods)
        unready = [p["metadata"]["name"] for p in pods if not rollout.is_ready(p)]
        problems = [*verdict.problems, *(f"pod {p} is not Ready" for p in unready)]
        measured = f"{verdict.matching} of {verdict.pods} pods run it"
        if not pods:
            problems.append("the new revision has no pods")
        passed = verdict.passed and not problems
        if not passed:
            log.error(f"{label(kind, name)}: " + "; ".join(problems))
        checks.append(
            Check(
                f"image {show_workload(kind, name)}",
                passed,
                measured,
                plan.expected_image,
                "; ".join(problems),
                time.monotonic() - started,
            )
        )
    return checks


def _http_threshold(plan: Plan) -> str:
    text = f"errors <= {plan.max_error_rate:.1%}"
    if plan.expectation.max_latency_ms is not None:
        text += f", p95 <= {plan.expectation.max_latency_ms:g} ms"
    return text


def _measured(stats: http_checks.Stats) -> str:
    return f"errors {stats.error_rate:.1%} ({stats.errors}/{stats.total}), p95 {stats.p95_ms:.0f} ms"


def _warm_up(url: str, plan: Plan, session: requests.Session, log: Log) -> None:
    def retrying(attempt: int, outcome: http_checks.Outcome, delay: float) -> None:
        log.progress(f"{url}: {outcome.error}; warm-up retry {attempt}/{plan.warmup_retries} in {delay:g}s")

    outcome = http_checks.warm_up(
        url, plan.expectation, session, retries=plan.warmup_retries, backoff=plan.warmup_backoff, on_retry=retrying
    )
    if not outcome.ok:
        log.warn(f"{url} did not answer as expected during warm-up ({outcome.error}); measuring anyway")


def check_urls(session: requests.Session, plan: Plan, log: Log) -> list[Check]:
    checks = []
    for url in plan.urls:
        log.heading(f"HTTP GET {url}")
        started = time.monotonic()
        _warm_up(url, plan, session, log)
        stats = http_checks.measure(url, plan.expectation, plan.requests_per_url, plan.interval, session)
        problems = http_checks.violations(stats, plan.max_error_rate, plan.expectation.max_latency_ms)
        log.info(_measured(stats) + (f"; first error: {stats.first_error}" if stats.first_error else ""))
        checks.append(
            Check(
                f"http {url}",
                not problems,
                _measured(stats),
                _http_threshold(plan),
                "; ".join(problems),
                time.monotonic() - started,
            )
        )
    return checks


def check_canary(session: requests.Session, plan: Plan, log: Log) -> list[Check]:
    """Baseline and canary measured alike; the canary may not be worse by more than the margins."""
    canary = plan.canary
    if canary is None:
        return []
    log.heading(f"Canary analysis: {canary.canary_url} against {canary.baseline_url}")
    started = time.monotonic()
    for url in (canary.baseline_url, canary.canary_url):
        _warm_up(url, plan, session, log)
    base, can = http_checks.measure_pair(
        canary.baseline_url, canary.canary_url, plan.expectation, plan.requests_per_url, plan.interval, session
    )
    log.info(f"baseline: {_measured(base)}")
    log.info(f"canary:   {_measured(can)}")
    verdict = http_checks.compare(base, can, canary.max_error_rate_increase, canary.max_latency_increase_ms)
    seconds = time.monotonic() - started
    rate_detail = f"canary error rate {can.error_rate:.1%} vs baseline {base.error_rate:.1%}" + (
        f" (canary's first error: {can.first_error})" if can.first_error else ""
    )
    latency_detail = f"canary p95 {can.p95_ms:.0f} ms vs baseline {base.p95_ms:.0f} ms"
    return [
        Check(
            "canary error rate",
            verdict.error_rate_ok,
            f"{verdict.error_rate_increase:+.1%}",
            f"<= +{canary.max_error_rate_increase:.1%}",
            "" if verdict.error_rate_ok else rate_detail,
            seconds,
        ),
        Check(
            "canary p95 latency",
            verdict.latency_ok,
            f"{verdict.latency_increase_ms:+.0f} ms",
            f"<= +{canary.max_latency_increase_ms:g} ms",
            "" if verdict.latency_ok else latency_detail,
            seconds,
        ),
    ]


def roll_back(cluster: Cluster, plan: Plan, workloads: list[Workload], log: Log) -> tuple[list[Check], dict[str, str]]:
    """kubectl's undo for each workload, then a wait for it: what serves afterwards is reported."""
    checks, served = [], {}
    for kind, name in workloads:
        log.heading(f"Rollback of {label(kind, name)}")
        started = time.monotonic()
        shown = show_workload(kind, name)
        try:
            to = undo_rollout(cluster, plan.namespace, name, log=log, kind=kind)
            result = wait_for_rollout(
                cluster, plan.namespace, name, timeout=plan.timeout, log=log, max_restarts=plan.max_restarts, kind=kind
            )
        except AuthError:
            raise
        except PluginError as e:
            checks.append(Check(f"rollback {shown}", False, "failed", "previous revision serves", str(e)))
            continue
        served[shown] = result.revision
        measured = f"revision {to} serves again as revision {result.revision} ({result.replicaset})"
        log.info(f"{label(kind, name)}: {measured}")
        checks.append(
            Check(f"rollback {shown}", True, measured, "previous revision serves", "", time.monotonic() - started)
        )
    return checks, served


def check_analysis(prometheus: Prometheus | None, plan: Plan, names: list[str], log: Log) -> list[Check]:
    """The analysis checks, once, over the last analysis_interval: {{ canary }} is the (first) verified workload."""
    if prometheus is None or not plan.analysis:
        return []
    from shared.analysis_run import Target, measure

    log.heading("Analysis")
    target = Target(plan.namespace, names[0], plan.analysis_baseline or names[0], plan.analysis_interval)
    measured = measure(prometheus, plan.analysis, target)
    for m in measured:
        log.info(f"{m.check}: {m.shown()} ({m.threshold}): {m.verdict}, {m.reason}")
    return [m.as_report() for m in measured]


def verify(cluster: Cluster, plan: Plan, log: Log, prometheus: Prometheus | None = None) -> Outcome:
    """Every check of the plan, then the rollback when one failed and it is asked for."""
    deadline = time.monotonic() + plan.timeout
    workloads = resolve_workloads(cluster, plan, log)
    checks, results = check_rollouts(cluster, plan, workloads, log, deadline)
    if plan.expected_image:
        checks += check_images(cluster, plan, results, log)
    if all(c.passed for c in checks):
        import requests  # only now: a plugin's start is its imports, and HTTP checks come last

        with requests.Session() as session:
            checks += check_urls(session, plan, log)
            checks += check_canary(session, plan, log)
        checks += check_analysis(prometheus, plan, [name for _, name in workloads], log)
    elif plan.urls or plan.canary or plan.analysis:
        log.info("HTTP checks and analysis skipped: the rollout already failed")
    rolled_back: dict[str, str] = {}
    if plan.rollback_on_failure and not all(c.passed for c in checks):
        rollback_checks, rolled_back = roll_back(cluster, plan, workloads, log)
        checks += rollback_checks
    return Outcome(checks, results, rolled_back)


def report(plan: Plan, outcome: Outcome, log: Log, plugin: str) -> None:
    """The summary table, the JSON and JUnit files; RolloutFailed naming the first failed check."""
    log.heading("Summary")
    log_checks(log, outcome.checks)
    extra: dict[str, object] = {
        "namespace": plan.namespace,
        "expected_image": plan.expected_image,
        "rollouts": {
            show_workload(*w): {"revision": r.revision, "replicaset": r.replicaset, "waited": r.waited}
            for w, r in outcome.rollouts.items()
        },
        "rolled_back": outcome.rolled_back,
    }
    if plan.report_file:
        write_json(plan.report_file, plugin, outcome.checks, extra)
    if plan.junit_file:
        write_junit(plan.junit_file, plugin, outcome.checks)
    failed = [c for c in outcome.checks if not c.passed and not c.name.startswith("rollback ")]
    if failed:
        first = failed[0]
        note = ""
        if outcome.rolled_back:
            note = (
                " (rolled back: " + ", ".join(f"{n} now at revision {r}" for n, r in outcome.rolled_back.items()) + ")"
            )
        for c in outcome.checks:
            if c.name.startswith("rollback ") and not c.passed:
                note += f"; {c.name} failed: {c.detail}"
        raise RolloutFailed(
            f"{len(failed)} of {len(outcome.checks)} checks failed; "
            f"{first.name}: {first.detail or first.measured}{note}"
        )
    log.info(f"all {len(outcome.checks)} checks passed")
