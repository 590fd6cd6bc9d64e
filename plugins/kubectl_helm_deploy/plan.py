"""The plan, frozen: every object to apply, the strategy's steps, what to wait for and what to prune. It is built
purely (manifests_plan.py, helm_plan.py) and every input error is raised there, before the first write; the
executors read only the plan, and `describe()` is what dry run prints and the report records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plugins.kubectl_helm_deploy import blue_green_objects as colors
from plugins.kubectl_helm_deploy import workload
from plugins.kubectl_helm_deploy.manifests import Manifest
from shared.analysis import Check
from shared.settings import Values

Obj = dict[str, Any]
Ref = tuple[str, str, str]  # apiVersion, kind, name
Live = Mapping[Ref, Obj | None]  # what was read from the cluster; None: it does not exist


def service_ref(name: str) -> Ref:
    return ("v1", "Service", name)


def deployment_ref(name: str) -> Ref:
    return ("apps/v1", "Deployment", name)


def ingress_ref(name: str) -> Ref:
    return ("networking.k8s.io/v1", "Ingress", name)


def route_ref(name: str) -> Ref:
    return ("gateway.networking.k8s.io/v1", "HTTPRoute", name)


@dataclass(frozen=True)
class Options:
    """How every strategy behaves."""

    dry_run: bool
    wait: bool
    timeout: float
    max_restarts: int
    rollback_on_failure: bool
    force_conflicts: bool
    min_stable: float = 0.0  # after a rollout, its new pods stay Ready with no new restart this long


@dataclass(frozen=True)
class Prune:
    """Delete objects labelled DEPLOY_LABEL=owner of these kinds, but those in keep (kind, name)."""

    owner: str
    kinds: tuple[tuple[str, str], ...]
    keep: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Rolling:
    """Apply every object, then wait for these Deployments, then these StatefulSets and DaemonSets (kind, name),
    undoing a failed one."""

    wait_for: tuple[str, ...]
    workloads: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BlueGreen:
    """The new version goes to the idle colour; the Service switches only once it is Ready."""

    target: str
    service: str
    live: str | None  # the colour serving now (None before the first blue/green deploy)
    new: str
    others: tuple[Manifest, ...]  # applied first: everything but the Deployment and the Service
    deployment: Obj  # <target>-<new>
    switched_service: Obj  # the Service selecting the new colour
    preview_service: str
    preview: Obj | None  # the preview Service to apply; None: its live selector is patched
    scale_down_delay: float
    keep_previous: bool

    def colored(self, color: str) -> str:
        return colors.colored_name(self.target, color)


@dataclass(frozen=True)
class CanaryStep:
    weight: int
    replicas: int
    deployment: Obj
    service: Obj | None  # with canary_ingress or canary_route: the canary-only Service
    ingress: Obj | None  # the weighted Ingress copy (canary_ingress)
    route: Obj | None = None  # the HTTPRoute with this step's backend weights (canary_route)
    pause: float | None = 0.0  # seconds; None: until promoted
    interval: float = 30.0  # analysis_interval
    effective: float = 0.0  # the share of traffic this step gives, in %: exact with a router, else the replica ratio

    def split(self) -> str:
        if self.effective == self.weight:
            return f"{self.weight}%"
        return f"asked {self.weight}%, replicas give {self.effective:.0f}%"


@dataclass(frozen=True)
class Canary:
    action: str  # start | promote | abort
    target: str
    promote: Rolling  # the stable Deployment takes the new image (also first, when there is no stable yet)
    create_stable: bool
    stable_replicas: int
    others: tuple[Manifest, ...]  # applied beside the canary: everything but the stable Deployment
    steps: tuple[CanaryStep, ...]
    promote_after: bool  # the steps end with 100: promote
    step_pause: float
    removes: tuple[Ref, ...]  # what the canary adds, removed on abort, promote and failure
    analysis: tuple[Check, ...] = ()  # run every step's interval during its pause
    resume_at: int = 0  # promote of a canary paused until promoted: the step it continues from (0: promote now)
    route_restore: Obj | None = None  # the HTTPRoute sending everything to the stable Service again


@dataclass(frozen=True)
class HelmRelease:
    chart: str
    release: str
    version: str
    repo_url: str
    values: dict[str, Any]
    lint: bool
    local: bool  # the chart is a path on disk
    helm_bin: str
    atomic: bool
    create_namespace: bool
    test: bool = False  # run the chart's test hooks (`helm test`) after the rollout


Strategy = Rolling | BlueGreen | Canary | HelmRelease


@dataclass(frozen=True)
class Plan:
    mode: str  # manifests | helm
    namespace: str
    strategy: str
    image: str  # "" when the manifests' images are deployed as written
    image_source: str  # image | publish_file | ""
    target: str  # the Deployment that rolls ("" when none is singled out)
    options: Options
    steps: Strategy
    objects: tuple[Manifest, ...] = ()
    image_changes: tuple[workload.ImageChange, ...] = ()
    prune: Prune | None = None

    def object(self, kind: str, name: str) -> Manifest | None:
        return find(self.objects, kind, name)

    def describe(self) -> list[str]:
        """The plan as the operator reads it (and the report records it)."""
        lines = [f"mode: {self.mode}", f"namespace: {self.namespace}", f"strategy: {self.strategy}"]
        lines.append(f"image: {self.image} (from {self.image_source})" if self.image else "image: as in the manifests")
        if self.target:
            lines.append(f"deployment: {self.target}")
        lines += [f"apply {m.kind}/{m.name}  ({m.source})" for m in self.objects]
        lines += [f"image {c.kind}/{c.name}[{c.container}]: {c.old} -> {c.new}" for c in self.image_changes]
        lines += _describe_steps(self.steps, self.options)
        if self.prune:
            lines.append(f"prune objects labelled {workload.DEPLOY_LABEL}={self.prune.owner} not in the plan")
        return lines


def _describe_steps(steps: Strategy, options: Options) -> list[str]:
    wait = "" if options.wait else " (not waited for)"
    if isinstance(steps, Rolling):
        return [f"wait for deployment {name}{wait}" for name in steps.wait_for] + [
            f"wait for {kind.lower()} {name}{wait}" for kind, name in steps.workloads
        ]
    if isinstance(steps, BlueGreen):
        lines = [f"blue/green: {steps.live or 'nothing'} serves; the new version goes to {steps.colored(steps.new)}"]
        if steps.preview_service:
            lines.append(f"preview: service {steps.preview_service} selects {steps.new} first")
        lines.append(f"switch service {steps.service} to {steps.new} once {steps.colored(steps.new)} is Ready")
        if steps.live and not steps.keep_previous:
            lines.append(f"scale {steps.colored(steps.live)} to 0 after {steps.scale_down_delay:g}s")
        return lines
    if isinstance(steps, Canary):
        if steps.action == "abort" or (steps.action == "promote" and not steps.resume_at):
            return [f"canary {steps.action}: remove " + ", ".join(f"{k}/{n}" for _, k, n in steps.removes)]
        lines = [f"create deployment {steps.target} with the new image first"] if steps.create_stable else []
        if steps.resume_at:
            lines.append(f"resume the canary paused at step {steps.resume_at} of {len(steps.steps)}")
        lines += [_describe_step(s, steps) for s in steps.steps[steps.resume_at :]]
        lines += [f"analysis {c.name}: {c.threshold()} (failure_limit {c.failure_limit})" for c in steps.analysis]
        if steps.promote_after:
            lines.append(f"promote: deployment {steps.target} takes the new image; the canary is removed")
        return lines
    version = f" {steps.version}" if steps.version else ""
    return [
        f"helm release {steps.release}: chart {steps.chart}{version}",
        f"values: {json.dumps(steps.values, sort_keys=True)}",
    ] + ([f"helm test {steps.release}: the chart's test hooks must pass{wait}"] if steps.test else [])


def _describe_step(step: CanaryStep, canary: Canary) -> str:
    line = f"canary at {step.split()}: {step.replicas} pod(s) beside {canary.stable_replicas} stable"
    if step.route is not None:
        line += f", HTTPRoute {step.route['metadata']['name']} weights {100 - step.weight}/{step.weight}"
    if step.pause is None:
        return line + "; pause until promoted"
    if canary.analysis:
        return line + f"; analysis every {step.interval:g}s for {max(step.pause, step.interval):g}s"
    return line + (f"; pause {step.pause:g}s" if step.pause else "")


def options_of(values: Values) -> Options:
    return Options(
        dry_run=bool(values.dry_run),
        wait=bool(values.wait),
        timeout=float(values.timeout),
        max_restarts=int(values.max_restarts),
        rollback_on_failure=bool(values.rollback_on_failure),
        force_conflicts=bool(values.force_conflicts),
        min_stable=float(values.min_stable),
    )


def find(objects: Sequence[Manifest], kind: str, name: str) -> Manifest | None:
    return next((m for m in objects if m.kind == kind and m.name == name), None)
