"""The verification's effects, one function per kind of check; each returns `shared.report.Check`s.

Rollouts are waited for with watches (`shared.rollout_wait`); HTTP checks go through `shared.http_checks`.
A failed check is a result, not an exception: every check runs and is reported, then the plugin exits 1.
Only refused credentials (AuthError) stop the run at once: nothing after them could succeed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugins.deployment_verify.images import verify_pods
from plugins.deployment_verify.plan import Plan
from shared import http_checks, rollout
from shared.errors import AuthError, PluginError, RolloutFailed
from shared.kube import Cluster, api_path
from shared.log import Log
from shared.report import Check, log_checks, write_json, write_junit
from shared.rollout_wait import RolloutResult, undo_rollout, wait_for_rollout

if TYPE_CHECKING:
    import requests

    from shared.prometheus import Prometheus


@dataclass
class Outcome:
    """What the run found, for the report file."""

    checks: list[Check]
    rollouts: dict[str, RolloutResult]
    rolled_back: dict[str, str]


def resolve_deployments(cluster: Cluster, plan: Plan, log: Log) -> list[str]:
    """The Deployments to verify: the named ones, or those matching label_selector (none is a failure)."""
    if plan.deployments:
        return list(plan.deployments)
    listed = cluster.read(api_path("apps/v1", "deployments", plan.namespace), label_selector=plan.label_selector)
    names = sorted(d["metadata"]["name"] for d in listed.get("items") or [])
    if not names:
        raise RolloutFailed(
            f'no Deployment in namespace "{plan.namespace}" matches label selector "{plan.label_selector}"'
        )
    log.info(f"label selector {plan.label_selector} matches: {', '.join(names)}")
    return names


def check_rollouts(
    cluster: Cluster, plan: Plan, names: list[str], log: Log, deadline: float
) -> tuple[list[Check], dict[str, RolloutResult]]:
    """Wait for each rollout (one deadline for all of them: `timeout` bounds the whole wait)."""
    checks, results = [], {}
    for name in names:
        log.heading(f'Rollout of deployment "{name}"')
        started = time.monotonic()
        threshold = f"complete within {plan.timeout:g}s"
        try:
            result = wait_for_rollout(
                cluster,
                plan.namespace,
                name,
                timeout=max(deadline - time.monotonic(), 1.0),
                log=log,
                max_restarts=plan.max_restarts,
            )
        except AuthError:
            raise
        except PluginError as e:
            checks.append(Check(f"rollout {name}", False, "failed", threshold, str(e), time.monotonic() - started))
            continue
        results[name] = result
        measured = f"revision {result.revision} ({result.replicaset}) in {result.seconds:.1f}s"
        checks.append(Check(f"rollout {name}", True, measured, threshold, "", result.seconds))
    return checks, results


def new_pods(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """The live pods of a Deployment's new ReplicaSet."""
    deployment = cluster.read(api_path("apps/v1", "deployments", namespace, name))
    selector = rollout.selector_string((deployment.get("spec") or {}).get("selector"))
    sets = cluster.read(api_path("apps/v1", "replicasets", namespace), label_selector=selector)
    pods = cluster.read(api_path("v1", "pods", namespace), label_selector=selector)
    new = rollout.new_replicaset(deployment, sets.get("items") or [])
    if new is None:
        return []
    owned = rollout.owned_pods(new, pods.get("items") or [])
    return [dict(p) for p in owned if not p["metadata"].get("deletionTimestamp")]


def check_images(cluster: Cluster, plan: Plan, results: dict[str, RolloutResult], log: Log) -> list[Check]:
    """Every Ready pod of each new ReplicaSet runs the expected image (by digest when one is expected)."""
    checks = []
    for name in results:
        started = time.monotonic()
        pods = new_pods(cluster, plan.namespace, name)
        verdict = verify_pods(plan.expected_image, pods)
        unready = [p["metadata"]["name"] for p in pods if not rollout.is_ready(p)]
        problems = [*verdict.problems, *(f"pod {p} is not Ready" for p in unready)]
        measured = f"{verdict.matching} of {verdict.pods} pods run it"
        if not pods:
            problems.append("the new ReplicaSet has no pods")
        passed = verdict.passed and not problems
        if not passed:
            log.error(f'deployment "{name}": ' + "; ".join(problems))
        checks.append(
            Check(
                f"image {name}",
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


def roll_back(cluster: Cluster, plan: Plan, names: list[str], log: Log) -> tuple[list[Check], dict[str, str]]:
    """kubectl's undo for each Deployment, then a wait for it: what serves afterwards is reported."""
    checks, served = [], {}
    for name in names:
        log.heading(f'Rollback of deployment "{name}"')
        started = time.monotonic()
        try:
            to = undo_rollout(cluster, plan.namespace, name, log=log)
            result = wait_for_rollout(
                cluster, plan.namespace, name, timeout=plan.timeout, log=log, max_restarts=plan.max_restarts
            )
        except AuthError:
            raise
        except PluginError as e:
            checks.append(Check(f"rollback {name}", False, "failed", "previous revision serves", str(e)))
            continue
        served[name] = result.revision
        measured = f"revision {to} serves again as revision {result.revision} ({result.replicaset})"
        log.info(f'deployment "{name}": {measured}')
        checks.append(
            Check(f"rollback {name}", True, measured, "previous revision serves", "", time.monotonic() - started)
        )
    return checks, served


def check_analysis(prometheus: Prometheus | None, plan: Plan, names: list[str], log: Log) -> list[Check]:
    """The analysis checks, once, over the last analysis_interval: {{ canary }} is the verified Deployment."""
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
    names = resolve_deployments(cluster, plan, log)
    checks, results = check_rollouts(cluster, plan, names, log, deadline)
    if plan.expected_image:
        checks += check_images(cluster, plan, results, log)
    if all(c.passed for c in checks):
        import requests  # only now: a plugin's start is its imports, and HTTP checks come last

        with requests.Session() as session:
            checks += check_urls(session, plan, log)
            checks += check_canary(session, plan, log)
        checks += check_analysis(prometheus, plan, names, log)
    elif plan.urls or plan.canary or plan.analysis:
        log.info("HTTP checks and analysis skipped: the rollout already failed")
    rolled_back: dict[str, str] = {}
    if plan.rollback_on_failure and not all(c.passed for c in checks):
        rollback_checks, rolled_back = roll_back(cluster, plan, names, log)
        checks += rollback_checks
    return Outcome(checks, results, rolled_back)


def report(plan: Plan, outcome: Outcome, log: Log, plugin: str) -> None:
    """The summary table, the JSON and JUnit files; RolloutFailed naming the first failed check."""
    log.heading("Summary")
    log_checks(log, outcome.checks)
    extra: dict[str, object] = {
        "namespace": plan.namespace,
        "expected_image": plan.expected_image,
        "rollouts": {n: {"revision": r.revision, "replicaset": r.replicaset} for n, r in outcome.rollouts.items()},
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
