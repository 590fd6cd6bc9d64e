"""What every strategy's executor does with the cluster — apply, prune, wait, undo — and the record of what was
done, which becomes the summary and the JSON report (with the plan). It reads only the plan."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugins.kubectl_helm_deploy import workload
from plugins.kubectl_helm_deploy.apply import Applier, Outcome
from plugins.kubectl_helm_deploy.manifests import Manifest
from plugins.kubectl_helm_deploy.plan import HelmRelease, Plan
from shared.errors import PluginError, RolloutFailed
from shared.kube import Cluster
from shared.log import Log
from shared.rollout import show_workload
from shared.rollout_wait import undo_rollout, wait_for_rollout

if TYPE_CHECKING:
    from shared.analysis import Measurement
    from shared.prometheus import Prometheus


@dataclass
class Record:
    outcomes: list[Outcome] = field(default_factory=list)
    # deployment (bare name), statefulset/<name>, daemonset/<name> or release -> revision now serving
    revisions: dict[str, str] = field(default_factory=dict)
    serving: dict[str, dict[str, str]] = field(default_factory=dict)  # the same keys -> container -> image
    notes: list[str] = field(default_factory=list)
    analysis: list[Measurement] = field(default_factory=list)  # every analysis run, in order


class Execution:
    def __init__(
        self,
        cluster: Cluster,
        applier: Applier,
        plan: Plan,
        log: Log,
        record: Record,
        prometheus: Prometheus | None = None,
    ) -> None:
        self.cluster, self.applier, self.plan, self.log, self.record = cluster, applier, plan, log, record
        self.options = plan.options
        self.prometheus = prometheus

    def apply(self, obj: dict[str, Any], *, force: bool | None = None) -> Outcome:
        """Apply one object and log the outcome (blue/green and canary force: they scale what they apply)."""
        forced = self.options.force_conflicts if force is None else force
        outcome = self.applier.apply(obj, dry_run=self.options.dry_run, force_conflicts=forced)
        self.record.outcomes.append(outcome)
        self.log.info(f"{outcome.kind}/{outcome.name} {outcome.action}")
        for line in outcome.diff:
            self.log.info(f"    {line}")
        return outcome

    def apply_all(self, manifests: tuple[Manifest, ...]) -> dict[tuple[str, str], Outcome]:
        return {(m.kind, m.name): self.apply(m.obj) for m in manifests}

    def prune(self) -> None:
        prune = self.plan.prune
        if prune is None:
            return
        self.log.heading(
            f"Prune objects labelled {workload.DEPLOY_LABEL}={prune.owner} that are no longer in the manifests"
        )
        pruned = self.applier.prune(
            workload.DEPLOY_LABEL, prune.owner, set(prune.keep), list(prune.kinds), dry_run=self.options.dry_run
        )
        for outcome in pruned:
            self.log.info(f"{outcome.kind}/{outcome.name} {outcome.action}")
        if not pruned:
            self.log.info("nothing to prune")
        self.record.outcomes.extend(pruned)

    def wait(self, name: str, kind: str = "Deployment", *, stable: bool = True) -> str:
        """Wait for workload `name`'s rollout (then min_stable, unless `stable` is False: a rollback returns to
        what ran before); the revision it serves."""
        result = wait_for_rollout(
            self.cluster,
            self.plan.namespace,
            name,
            timeout=self.options.timeout,
            log=self.log,
            max_restarts=self.options.max_restarts,
            kind=kind,
        )
        if stable and self.options.min_stable and result.waited:
            from shared.stability import hold_stable

            hold_stable(self.cluster, self.plan.namespace, kind, name, self.options.min_stable, self.log)
        shown = show_workload(kind, name)
        self.record.revisions[shown] = result.revision
        self.log.info(f"{kind.lower()} {name} rolled out: revision {result.revision} ({result.replicaset})")
        self.record_images(name, kind)
        return result.revision

    def record_images(self, name: str, kind: str = "Deployment") -> dict[str, str]:
        live = self.applier.get("apps/v1", kind, name)
        images = workload.images_of(live) if live else {}
        self.record.serving[show_workload(kind, name)] = images
        return images

    def undo(self, name: str, failure: RolloutFailed, kind: str = "Deployment") -> RolloutFailed:
        """Roll workload `name` back after `failure`, wait, and return the error that tells what serves now."""
        self.log.heading(f"Roll back {kind.lower()} {name}")
        try:
            undo_rollout(self.cluster, self.plan.namespace, name, log=self.log, kind=kind)
            revision = self.wait(name, kind, stable=False)
        except PluginError as e:
            return RolloutFailed(f"{failure}; rollback failed too: {e}")
        serving = self.record.serving.get(show_workload(kind, name), {})
        images = ", ".join(f"{c}={i}" for c, i in serving.items())
        self.record.notes.append(f"rolled back {show_workload(kind, name)} to revision {revision}")
        return RolloutFailed(f"{failure}; rolled back: {kind.lower()} {name} serves revision {revision} ({images})")

    def analyse(self, stable: str, canary: str, interval: float) -> list[Measurement]:
        """The plan's analysis checks, once, recorded and logged."""
        from shared.analysis_run import Target, measure

        checks = getattr(self.plan.steps, "analysis", ())
        assert self.prometheus is not None  # __main__ connects one whenever the plan has checks
        measured = measure(self.prometheus, checks, Target(self.plan.namespace, canary, stable, interval))
        self.record.analysis.extend(measured)
        self.log.table(
            ("check", "value", "threshold", "result"),
            [(m.check, m.shown(), m.threshold, f"{m.verdict}: {m.reason}") for m in measured],
        )
        return measured

    def pause(self, seconds: float, why: str) -> None:
        if seconds > 0:
            self.log.progress(f"waiting {seconds:g}s: {why}")
            time.sleep(seconds)

    def wait_for_endpoints(self, service: str, timeout: float) -> int:
        """Wait until Service `service` has a Ready endpoint; the count, or RolloutFailed at `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.ready_endpoints(service)
            if count:
                self.log.info(f"service {service}: {count} ready endpoints")
                return count
            if time.monotonic() >= deadline:
                raise RolloutFailed(f"service {service} has no ready endpoints after {timeout:g}s")
            time.sleep(0.5)

    def ready_endpoints(self, service: str) -> int:
        """How many Ready endpoints the Service's EndpointSlices hold."""
        slices = self.cluster.read(
            self.cluster.discovery.list_namespaced_endpoint_slice,
            self.plan.namespace,
            label_selector=f"kubernetes.io/service-name={service}",
        )
        return sum(
            (e.get("conditions") or {}).get("ready") is not False
            for s in slices.get("items") or []
            for e in s.get("endpoints") or []
        )


def summarize(record: Record, log: Log) -> None:
    log.heading("Summary")
    if record.outcomes:
        log.table(("object", "result"), [(f"{o.kind}/{o.name}", o.action) for o in record.outcomes])
    for name, revision in record.revisions.items():
        log.info(f"{name}: revision {revision}")
    for name, images in record.serving.items():
        for container, image in images.items():
            log.info(f"{name}[{container}] serves {image}")
    for note in record.notes:
        log.info(note)


def write_report(path: Path, plan: Plan | None, record: Record, result: str, error: str) -> None:
    """The JSON report; `plan` is None when an input error stopped it being built (then nothing was done)."""
    planned: dict[str, Any] = {"plan": []}
    if plan is not None:
        planned = {
            "mode": plan.mode,
            "strategy": plan.strategy,
            "namespace": plan.namespace,
            "image": plan.image,
            "plan": plan.describe(),
            "release": plan.steps.release if isinstance(plan.steps, HelmRelease) else "",
        }
    body = {
        "plugin": "kubectl-helm-deploy",
        "result": result,
        "error": error,
        **planned,
        "objects": [{"kind": o.kind, "name": o.name, "action": o.action} for o in record.outcomes],
        "revisions": record.revisions,
        "serving": record.serving,
        "notes": record.notes,
        "analysis": [dataclasses.asdict(m) for m in record.analysis],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
