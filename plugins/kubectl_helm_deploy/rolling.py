"""Manifests mode, rolling: apply every object, prune, wait for each Deployment's rollout, undo a failed one.

`Deploy` carries what every strategy needs (client, applier, log, settings, plan) and the record of what was
done, which becomes the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from plugins.kubectl_helm_deploy import workload
from plugins.kubectl_helm_deploy.apply import Applier, Outcome
from plugins.kubectl_helm_deploy.manifests import Manifest
from plugins.kubectl_helm_deploy.plan import Plan
from shared.errors import PluginError, RolloutFailed
from shared.kube import call
from shared.log import Log
from shared.rollout_wait import undo_rollout, wait_for_rollout
from shared.settings import Values


@dataclass
class Deploy:
    api: client.ApiClient
    applier: Applier
    log: Log
    values: Values
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    revisions: dict[str, str] = field(default_factory=dict)  # deployment -> revision now serving
    serving: dict[str, dict[str, str]] = field(default_factory=dict)  # deployment -> container -> image
    notes: list[str] = field(default_factory=list)

    def apply(self, obj: dict[str, Any], *, force: bool | None = None) -> Outcome:
        """Apply one object and log the outcome (blue/green and canary force: they scale what they apply)."""
        saved = self.applier.force_conflicts
        if force is not None:
            self.applier.force_conflicts = force
        try:
            outcome = self.applier.apply(obj, dry_run=self.values.dry_run)
        finally:
            self.applier.force_conflicts = saved
        self.outcomes.append(outcome)
        self.log.info(f"{outcome.kind}/{outcome.name} {outcome.action}")
        for line in outcome.diff:
            self.log.info(f"    {line}")
        return outcome

    def apply_all(self, manifests: list[Manifest]) -> dict[tuple[str, str], Outcome]:
        return {(m.kind, m.name): self.apply(m.obj) for m in manifests}

    def prune(self, extra_keep: set[tuple[str, str]]) -> None:
        if not self.values.prune:
            return
        owner = next(iter(self.plan.objects)).obj["metadata"]["labels"][workload.DEPLOY_LABEL]
        keep = {(m.kind, m.name) for m in self.plan.objects} | extra_keep
        kinds = [(m.obj["apiVersion"], m.kind) for m in self.plan.objects if m.kind not in ("Namespace",)]
        self.log.heading(f"Prune objects labelled {workload.DEPLOY_LABEL}={owner} that are no longer in the manifests")
        pruned = self.applier.prune(workload.DEPLOY_LABEL, owner, keep, kinds, dry_run=self.values.dry_run)
        for outcome in pruned:
            self.log.info(f"{outcome.kind}/{outcome.name} {outcome.action}")
        if not pruned:
            self.log.info("nothing to prune")
        self.outcomes.extend(pruned)

    def wait(self, name: str) -> str:
        """Wait for Deployment `name`'s rollout; the revision it serves."""
        result = wait_for_rollout(
            self.api,
            self.plan.namespace,
            name,
            timeout=self.values.timeout,
            log=self.log,
            max_restarts=self.values.max_restarts,
        )
        self.revisions[name] = result.revision
        self.log.info(f"deployment {name} rolled out: revision {result.revision} ({result.replicaset})")
        self.record_images(name)
        return result.revision

    def record_images(self, name: str) -> dict[str, str]:
        live = self.applier.get("apps/v1", "Deployment", name)
        images = workload.images_of(live) if live else {}
        self.serving[name] = images
        return images

    def undo(self, name: str, failure: RolloutFailed) -> RolloutFailed:
        """Roll Deployment `name` back after `failure`, wait, and return the error that tells what serves now."""
        self.log.heading(f"Roll back deployment {name}")
        try:
            undo_rollout(self.api, self.plan.namespace, name, log=self.log)
            revision = self.wait(name)
        except PluginError as e:
            return RolloutFailed(f"{failure}; rollback failed too: {e}")
        images = ", ".join(f"{c}={i}" for c, i in self.serving.get(name, {}).items())
        self.notes.append(f"rolled back {name} to revision {revision}")
        return RolloutFailed(f"{failure}; rolled back: deployment {name} serves revision {revision} ({images})")

    def pause(self, seconds: float, why: str) -> None:
        if seconds > 0:
            self.log.progress(f"waiting {seconds:g}s: {why}")
            time.sleep(seconds)


def run_rolling(deploy: Deploy) -> None:
    plan, values, log = deploy.plan, deploy.values, deploy.log
    log.heading(("Server-side dry run of " if values.dry_run else "Apply ") + f"{len(plan.objects)} objects")
    outcomes = deploy.apply_all(plan.objects)
    deploy.prune(set())
    if values.dry_run or not values.wait:
        return
    names = [plan.target] if plan.target else plan.deployments
    for name in names:
        log.heading(f"Wait for the rollout of deployment {name}")
        try:
            deploy.wait(name)
        except RolloutFailed as failure:
            if not values.rollback_on_failure:
                raise
            if outcomes.get(("Deployment", name), Outcome("", "", "")).action != "configured":
                raise RolloutFailed(
                    f"{failure}; nothing to roll back to (the deployment is new or unchanged)"
                ) from None
            raise deploy.undo(name, failure) from None


def ready_endpoints(api: client.ApiClient, namespace: str, service: str) -> int:
    """How many Ready endpoints the Service's EndpointSlices hold."""
    slices = call(
        api,
        client.DiscoveryV1Api(api).list_namespaced_endpoint_slice,
        namespace,
        label_selector=f"kubernetes.io/service-name={service}",
    )
    count = 0
    for s in slices.items:
        for endpoint in s.endpoints or []:
            ready = endpoint.conditions.ready if endpoint.conditions else None
            count += ready is not False
    return count


def wait_for_endpoints(api: client.ApiClient, namespace: str, service: str, timeout: float, log: Log) -> int:
    """Wait until Service `service` has a Ready endpoint; the count, or RolloutFailed at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        count = ready_endpoints(api, namespace, service)
        if count:
            log.info(f"service {service}: {count} ready endpoints")
            return count
        if time.monotonic() >= deadline:
            raise RolloutFailed(f"service {service} has no ready endpoints after {timeout:g}s")
        time.sleep(0.5)
