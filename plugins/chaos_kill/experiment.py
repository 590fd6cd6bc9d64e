"""The experiment: steady state, then rounds of kill -> recovery, with everything logged and reported.

Rounds re-list the pods (the killed ones have been replaced by new names) and choose again with the same
seeded random generator, so a seed reproduces the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from plugins.chaos_kill.actions import KILLED, PROTECTED, Kill, kill_pod
from plugins.chaos_kill.plan import Plan, Probe, describe_plan
from plugins.chaos_kill.probes import Reader, Recovery, availability
from plugins.chaos_kill.selection import Key, Pod, Selection, describe_pods, select_victims, show
from shared.errors import PluginError
from shared.kube import Cluster
from shared.log import Log
from shared.report import Check, log_checks, write_json, write_junit

PLUGIN = "chaos-kill"
ProbeRunner = Callable[[Probe], Check]  # one HTTP probe check (its requests), judged


@dataclass
class Round:
    number: int
    selection: Selection
    kills: list[Kill] = field(default_factory=list)
    recovery: Recovery | None = None

    def as_json(self) -> dict[str, Any]:
        s = self.selection
        return {
            "round": self.number,
            "eligible": s.eligible,
            "wanted": s.wanted,
            "selected": [p.name for p in s.victims],
            "excluded": [{"pod": name, "reason": reason} for name, reason in s.excluded],
            "notes": list(s.notes),
            "kills": [asdict(k) for k in self.kills],
            "recovered": self.recovery.recovered if self.recovery else None,
            "recovery_seconds": round(self.recovery.seconds, 1) if self.recovery else None,
            "missing": list(self.recovery.missing) if self.recovery else [],
        }


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)


def run_experiment(plan: Plan, cluster: Cluster, probe: ProbeRunner, log: Log) -> int:
    log.heading("Plan")
    for line in describe_plan(plan):
        log.info(line)
    for skipped in plan.skipped_probes:
        log.warn(f"chaostoolkit_experiment: probe {skipped} cannot run here and is NOT checked")
    outcome = Outcome()
    try:
        _run(plan, Reader(cluster, plan.namespace), probe, log, outcome)
    finally:
        _report(plan, outcome, log)
    return 0


def _run(plan: Plan, reader: Reader, probe: ProbeRunner, log: Log, outcome: Outcome) -> None:
    rng = plan.rng()
    for number in range(1, plan.rounds + 1):
        if number > 1 and plan.interval:
            log.progress(f"waiting {plan.interval:g}s (interval) before round {number}")
            time.sleep(plan.interval)
        pods, owners = _look(plan, reader)
        selection = select_victims(pods, plan.criteria, plan.count, rng)
        current = Round(number, selection)
        outcome.rounds.append(current)
        log.heading(f"Round {number} of {plan.rounds}: selection")
        _log_selection(selection, pods, log)
        if selection.eligible == 0:
            raise PluginError(
                f'no eligible pod in namespace "{plan.namespace}" for label_selector "{plan.label_selector}" '
                "(see the exclusions above)"
            )
        workloads = {p.workload: owners[p.workload] for p in selection.candidates if p.workload in owners}
        if number == 1:
            _steady_state(plan, workloads, probe, log, outcome)
        if plan.dry_run:
            names = ", ".join(p.name for p in selection.victims) or "none"
            log.heading("Dry run")
            log.info(f"would kill {len(selection.victims)} pod(s): {names}")
            if plan.rounds > 1:
                log.info(f"later rounds choose among the replacements, so only round 1 is shown of {plan.rounds}")
            return
        if not selection.victims:
            log.warn(f"round {number}: nothing to kill (the safety caps above spared every eligible pod)")
            continue
        _kill_and_recover(plan, reader, current, owners, probe, log, outcome)


def _look(plan: Plan, reader: Reader) -> tuple[list[Pod], dict[Key, dict[str, Any]]]:
    items = reader.list_pods(plan.label_selector, plan.field_selector).get("items") or []
    owners = reader.owners(items)
    return describe_pods(items, owners), owners


def _log_selection(selection: Selection, pods: list[Pod], log: Log) -> None:
    log.info(f"{selection.eligible} eligible, {selection.wanted} wanted by the mode, {len(selection.victims)} selected")
    for note in selection.notes:
        log.warn(note)
    rows = [(p.name, p.node or "-", p.workload_name, "selected") for p in selection.victims]
    by_name = {p.name: p for p in pods}
    rows += [
        (name, by_name[name].node or "-", by_name[name].workload_name, reason) for name, reason in selection.excluded
    ]
    if rows:
        log.table(("pod", "node", "workload", "decision"), rows)


def _steady_state(
    plan: Plan, workloads: dict[Key, dict[str, Any]], probe: ProbeRunner, log: Log, outcome: Outcome
) -> None:
    log.heading("Steady state before the experiment")
    checks = [_workload_check("before", key, obj) for key, obj in sorted(workloads.items())]
    checks += [_named(probe(p), f"before: probe {p.name}") for p in plan.probes]
    log_checks(log, checks)
    outcome.checks += checks
    failed = [c for c in checks if not c.passed]
    if failed:
        raise PluginError(
            "steady state not met before the experiment (nothing was killed): "
            + "; ".join(f"{c.name.removeprefix('before: ')}: {c.detail or c.measured}" for c in failed)
        )


def _workload_check(when: str, key: Key, obj: dict[str, Any]) -> Check:
    verdict = availability(key[0], obj)
    return Check(f"{when}: {show(key)} available", verdict.ok, verdict.message, "fully available", verdict.message)


def _named(check: Check, name: str) -> Check:
    return Check(name, check.passed, check.measured, check.threshold, check.detail, check.seconds)


def _kill_and_recover(
    plan: Plan,
    reader: Reader,
    current: Round,
    owners: dict[Key, dict[str, Any]],
    probe: ProbeRunner,
    log: Log,
    outcome: Outcome,
) -> None:
    n = current.number
    log.heading(f"Round {n}: kill")
    started = time.monotonic()
    for victim in current.selection.victims:
        kill = kill_pod(reader.cluster, plan.namespace, victim, plan.kill)
        current.kills.append(kill)
        log.progress(f"{kill.pod} on {kill.node} (owner {kill.owner}): {kill.outcome}" + _detail(kill))
    killed = [k for k in current.kills if k.outcome == KILLED]
    protected = [k for k in current.kills if k.outcome == PROTECTED]
    outcome.checks.append(
        Check(
            f"round {n}: kill",
            True,
            f"{len(killed)} killed, {len(protected)} protected by a PodDisruptionBudget",
            detail=", ".join(k.pod for k in protected),
        )
    )
    if protected:
        log.warn(f"PodDisruptionBudget protected {len(protected)} pod(s): {', '.join(k.pod for k in protected)}")
    if not killed:
        log.warn(f"round {n}: no pod was killed, so there is nothing to recover")
        return
    victims = {p.uid: p for p in current.selection.victims}
    workloads = {
        key: owners[key]
        for key in {victims[k.uid].workload for k in killed if k.uid in victims}
        if key is not None and key in owners
    }
    log.heading(f"Round {n}: recovery (up to {plan.recovery_timeout:g}s)")
    recovery = reader.wait_for_recovery(workloads, owners, {k.uid for k in killed}, started, plan.recovery_timeout)
    current.recovery = recovery
    outcome.checks.append(
        Check(
            f"round {n}: recovery",
            recovery.recovered,
            f"{recovery.seconds:.1f}s",
            f"<= {plan.recovery_timeout:g}s",
            "; ".join(recovery.missing),
            round(recovery.seconds, 1),
        )
    )
    if not recovery.recovered:
        raise PluginError(
            f"round {n}: not recovered within recovery_timeout {plan.recovery_timeout:g}s: "
            + "; ".join(recovery.missing)
        )
    names = ", ".join(show(k) for k in sorted(workloads)) or "no workload"
    log.progress(f"recovered in {recovery.seconds:.1f}s ({names} fully available again)")
    _probes_after(plan, n, started, probe, log, outcome)


def _probes_after(plan: Plan, n: int, started: float, probe: ProbeRunner, log: Log, outcome: Outcome) -> None:
    """Probes must pass again before the round's deadline (HTTP has no watch: ask again every half second)."""
    deadline = started + plan.recovery_timeout
    for spec in plan.probes:
        while True:
            check = _named(probe(spec), f"round {n}: probe {spec.name}")
            if check.passed or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        outcome.checks.append(check)
        log_checks(log, [check])
        if not check.passed:
            raise PluginError(
                f"round {n}: probe {spec.name} still failing after recovery_timeout {plan.recovery_timeout:g}s: "
                f"{check.detail or check.measured}"
            )


def _detail(kill: Kill) -> str:
    return f" ({kill.detail})" if kill.detail and kill.outcome != KILLED else ""


def _report(plan: Plan, outcome: Outcome, log: Log) -> None:
    if not outcome.checks and not outcome.rounds:
        return
    recoveries = [f"round {r.number}: {r.recovery.seconds:.1f}s" for r in outcome.rounds if r.recovery]
    if recoveries:
        log.heading("Recovery times")
        for line in recoveries:
            log.info(line)
    extra: dict[str, object] = {
        "namespace": plan.namespace,
        "dry_run": plan.dry_run,
        "seed": plan.seed,
        "rounds": [r.as_json() for r in outcome.rounds],
    }
    if plan.report_file:
        write_json(plan.report_file, PLUGIN, outcome.checks, extra)
        log.info(f"report written to {plan.report_file}")
    if plan.junit_file:
        write_junit(plan.junit_file, PLUGIN, outcome.checks)
        log.info(f"JUnit report written to {plan.junit_file}")
