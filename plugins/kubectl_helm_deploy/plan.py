"""The plan: a pure function of the settings, the loaded manifests, the image and the few live objects read from
the cluster — every object to apply, the strategy's steps, what to wait for and what to prune. Every input error
is raised here, before the first write; the executors read only the plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plugins.kubectl_helm_deploy import blue_green_objects as colors
from plugins.kubectl_helm_deploy import canary_objects, workload
from plugins.kubectl_helm_deploy.manifests import Manifest
from shared.errors import SettingsError
from shared.images import parse_image
from shared.settings import Values

Obj = dict[str, Any]
Ref = tuple[str, str, str]  # apiVersion, kind, name
Live = Mapping[Ref, Obj | None]  # what was read from the cluster; None: it does not exist

# Kinds that live outside namespaces: the namespace setting is not stamped on them.
CLUSTER_KINDS = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "IngressClass",
        "RuntimeClass",
        "APIService",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)


def service_ref(name: str) -> Ref:
    return ("v1", "Service", name)


def deployment_ref(name: str) -> Ref:
    return ("apps/v1", "Deployment", name)


def ingress_ref(name: str) -> Ref:
    return ("networking.k8s.io/v1", "Ingress", name)


@dataclass(frozen=True)
class Options:
    """How every strategy behaves."""

    dry_run: bool
    wait: bool
    timeout: float
    max_restarts: int
    rollback_on_failure: bool
    force_conflicts: bool


@dataclass(frozen=True)
class Prune:
    """Delete objects labelled DEPLOY_LABEL=owner of these kinds, but those in keep (kind, name)."""

    owner: str
    kinds: tuple[tuple[str, str], ...]
    keep: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Rolling:
    """Apply every object, then wait for these Deployments (undoing a failed one)."""

    wait_for: tuple[str, ...]


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
    service: Obj | None  # with canary_ingress: the canary-only Service and the weighted Ingress copy
    ingress: Obj | None


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
        return _find(self.objects, kind, name)

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
        return [f"wait for deployment {name}{wait}" for name in steps.wait_for]
    if isinstance(steps, BlueGreen):
        lines = [f"blue/green: {steps.live or 'nothing'} serves; the new version goes to {steps.colored(steps.new)}"]
        if steps.preview_service:
            lines.append(f"preview: service {steps.preview_service} selects {steps.new} first")
        lines.append(f"switch service {steps.service} to {steps.new} once {steps.colored(steps.new)} is Ready")
        if steps.live and not steps.keep_previous:
            lines.append(f"scale {steps.colored(steps.live)} to 0 after {steps.scale_down_delay:g}s")
        return lines
    if isinstance(steps, Canary):
        if steps.action != "start":
            return [f"canary {steps.action}: remove " + ", ".join(f"{k}/{n}" for _, k, n in steps.removes)]
        lines = [f"create deployment {steps.target} with the new image first"] if steps.create_stable else []
        lines += [
            f"canary at {s.weight}%: {s.replicas} pod(s) beside {steps.stable_replicas} stable" for s in steps.steps
        ]
        if steps.promote_after:
            lines.append(f"promote: deployment {steps.target} takes the new image; the canary is removed")
        return lines
    version = f" {steps.version}" if steps.version else ""
    return [
        f"helm release {steps.release}: chart {steps.chart}{version}",
        f"values: {json.dumps(steps.values, sort_keys=True)}",
    ]


def options_of(values: Values) -> Options:
    return Options(
        dry_run=bool(values.dry_run),
        wait=bool(values.wait),
        timeout=float(values.timeout),
        max_restarts=int(values.max_restarts),
        rollback_on_failure=bool(values.rollback_on_failure),
        force_conflicts=bool(values.force_conflicts),
    )


def target_of(values: Values, manifests: list[Manifest]) -> str:
    """The Deployment that rolls: the named one, else the only one ("" when several roll together)."""
    deployments = [m.name for m in manifests if m.kind == "Deployment"]
    if values.deployment:
        if values.deployment not in deployments:
            raise SettingsError("PLUGIN_DEPLOYMENT", f'"{values.deployment}" is not a Deployment in the manifests')
        return str(values.deployment)
    if len(deployments) == 1:
        return deployments[0]
    if len(deployments) > 1 and values.strategy != "rolling":
        raise SettingsError("PLUGIN_DEPLOYMENT", f"the manifests hold {len(deployments)} Deployments: name one")
    return ""


def live_refs(values: Values, manifests: list[Manifest]) -> list[Ref]:
    """The live objects the plan depends on: the serving Service (blue/green) or the stable Deployment (canary),
    and the Services and Ingress a strategy names that the manifests do not hold."""
    in_manifests = {(m.kind, m.name) for m in manifests}
    named = [service_ref(values.preview_service)] if values.preview_service else []
    if values.strategy == "blue-green":
        required = [service_ref(values.service)]
    elif values.strategy == "canary" and (target := target_of(values, manifests)):
        required = [deployment_ref(target)]
        named = [service_ref(values.service)] if values.service else []
        named += [ingress_ref(values.canary_ingress)] if values.canary_ingress else []
    else:
        return []
    return required + [r for r in named if (r[1], r[2]) not in in_manifests]


def build_plan(
    values: Values, manifests: list[Manifest], image: str, image_source: str, namespace: str, live: Live
) -> Plan:
    """The manifests-mode plan: objects with namespace, image, rolling bounds and ownership label applied, and the
    strategy's steps."""
    deployments = [m for m in manifests if m.kind == "Deployment"]
    target = target_of(values, manifests)
    if values.strategy in ("blue-green", "canary") and not target:
        raise SettingsError("PLUGIN_DEPLOYMENT", f"strategy {values.strategy} needs one Deployment in the manifests")
    if values.strategy == "canary" and values.canary_action != "abort" and not image:
        raise SettingsError("PLUGIN_IMAGE", "is required for a canary (or a publish_file to read it from)")
    owner = target or (deployments[0].name if deployments else manifests[0].name)
    objects, changes = _objects(values, manifests, image, target, namespace, owner)
    steps: Strategy
    if values.strategy == "blue-green":
        steps = _blue_green(values, objects, target, live)
    elif values.strategy == "canary":
        steps = _canary(values, objects, target, live)
    else:
        steps = Rolling((target,) if target else tuple(m.name for m in deployments))
    prune = None
    if values.prune:
        keep = {(m.kind, m.name) for m in objects} | _extra_keep(steps)
        kinds = tuple(dict.fromkeys((m.obj["apiVersion"], m.kind) for m in objects if m.kind != "Namespace"))
        prune = Prune(owner, kinds, frozenset(keep))
    return Plan(
        "manifests",
        namespace,
        values.strategy,
        image,
        image_source,
        target,
        options_of(values),
        steps,
        tuple(objects),
        tuple(changes),
        prune,
    )


def _objects(
    values: Values, manifests: list[Manifest], image: str, target: str, namespace: str, owner: str
) -> tuple[list[Manifest], list[workload.ImageChange]]:
    objects: list[Manifest] = []
    changes: list[workload.ImageChange] = []
    matched: set[str] = set()
    for m in manifests:
        obj = workload.with_namespace(m.obj, namespace, m.kind not in CLUSTER_KINDS)
        if image:
            names = workload.select_containers(obj, image, values.containers, target)
            obj, changed = workload.with_image(obj, image, names)
            changes.extend(changed)
            matched.update(names)
        if m.kind == "Deployment":
            obj = workload.with_rolling(obj, values.max_surge, values.max_unavailable)
        obj = workload.with_label(obj, workload.DEPLOY_LABEL, owner)
        objects.append(Manifest(m.source, obj))
    missing = [c for c in values.containers if c not in matched]
    if image and missing:
        raise SettingsError("PLUGIN_CONTAINERS", f"no workload in the manifests has a container named {missing[0]}")
    if image and not changes:
        repo = parse_image(image).repository
        raise SettingsError(
            "PLUGIN_IMAGE", f"no container in the manifests runs {repo}; name the containers to update (containers)"
        )
    return objects, changes


def _find(objects: Sequence[Manifest], kind: str, name: str) -> Manifest | None:
    return next((m for m in objects if m.kind == kind and m.name == name), None)


def _blue_green(values: Values, objects: list[Manifest], target: str, live: Live) -> BlueGreen:
    deployment, service = _find(objects, "Deployment", target), _find(objects, "Service", values.service)
    if service is None:
        raise SettingsError("PLUGIN_SERVICE", f'"{values.service}" is not a Service in the manifests')
    assert deployment is not None  # target_of found it
    _existing(objects, live, service_ref(values.preview_service), "PLUGIN_PREVIEW_SERVICE", True)
    preview = _find(objects, "Service", values.preview_service) if values.preview_service else None
    serving = colors.live_color(live.get(service_ref(values.service)))
    new = colors.idle_color(serving)
    return BlueGreen(
        target=target,
        service=values.service,
        live=serving,
        new=new,
        others=tuple(m for m in objects if m not in (deployment, service)),
        deployment=colors.colored_deployment(deployment.obj, new),
        switched_service=colors.service_for(service.obj, new),
        preview_service=values.preview_service,
        preview=colors.service_for(preview.obj, new) if preview else None,
        scale_down_delay=float(values.scale_down_delay),
        keep_previous=bool(values.keep_previous),
    )


def _existing(objects: list[Manifest], live: Live, ref: Ref, setting: str, required: bool) -> Obj | None:
    """The object `ref` names, from the manifests or else the namespace; None when no name is set."""
    _, kind, name = ref
    if not name:
        return None
    found = _find(objects, kind, name)
    obj = found.obj if found else live.get(ref)
    if obj is None and required:
        raise SettingsError(
            setting, f'"{name}" is not a{"n" if kind == "Ingress" else ""} {kind} in the manifests or the namespace'
        )
    return obj


def _canary(values: Values, objects: list[Manifest], target: str, live: Live) -> Canary:
    stable = _find(objects, "Deployment", target)
    assert stable is not None  # target_of found it
    required = values.canary_action != "abort"  # an abort removes the canary whatever the inputs say now
    service_obj = _existing(objects, live, service_ref(values.service), "PLUGIN_SERVICE", required)
    ingress = _existing(objects, live, ingress_ref(values.canary_ingress), "PLUGIN_CANARY_INGRESS", required)
    live_stable = live.get(deployment_ref(target))
    stable_replicas = workload.replicas_of(live_stable or stable.obj)
    weights = canary_objects.step_weights(values.canary_steps, values.canary_weight)
    if 100 in weights:
        weights = weights[: weights.index(100)]
    steps: list[CanaryStep] = []
    for weight in weights:
        replicas = canary_objects.canary_replicas(weight, stable_replicas)
        if not ingress:
            _check_weight(values, weight, replicas, stable_replicas, steps[-1] if steps else None)
        steps.append(
            CanaryStep(
                weight,
                replicas,
                canary_objects.canary_deployment(stable.obj, replicas),
                canary_objects.canary_service(service_obj) if ingress and service_obj else None,
                canary_objects.canary_ingress(ingress, weight, values.service) if ingress else None,
            )
        )
    removes = [deployment_ref(canary_objects.canary_name(target))]
    if values.canary_ingress:
        removes += [
            service_ref(canary_objects.canary_name(values.service)),
            ingress_ref(canary_objects.canary_name(values.canary_ingress)),
        ]
    return Canary(
        action=values.canary_action,
        target=target,
        promote=Rolling((target,)),
        create_stable=live_stable is None and values.canary_action == "start",
        stable_replicas=stable_replicas,
        others=tuple(m for m in objects if m is not stable),
        steps=tuple(steps),
        promote_after=len(weights) < len(canary_objects.step_weights(values.canary_steps, values.canary_weight)),
        step_pause=float(values.step_pause),
        removes=tuple(removes),
    )


def _check_weight(values: Values, weight: int, replicas: int, stable: int, before: CanaryStep | None) -> None:
    """Without a traffic router the weight is a replica ratio: a weight the replicas cannot give is an input error."""
    setting = "PLUGIN_CANARY_STEPS" if values.canary_steps else "PLUGIN_CANARY_WEIGHT"
    if stable == 0:
        raise SettingsError(setting, f"{weight}% cannot be given by replicas: the stable deployment has 0 replicas")
    if before is not None and replicas <= before.replicas:
        raise SettingsError(
            setting,
            f"{weight}% gives {replicas} canary pod(s) beside {stable} stable, no more than {before.weight}% did",
        )


def _extra_keep(steps: Strategy) -> set[tuple[str, str]]:
    """What a strategy creates beside the manifests' objects, kept by the prune."""
    if isinstance(steps, BlueGreen):
        return {("Deployment", steps.colored(c)) for c in colors.COLORS}
    if isinstance(steps, Canary):
        return {(kind, name) for _, kind, name in steps.removes}
    return set()


def build_helm_plan(
    values: Values, image: str, image_source: str, namespace: str, files: Mapping[str, str], cwd: Path
) -> Plan:
    """The helm-mode plan; `files` holds the text of each values file (read by the caller)."""
    chart = str(values.chart)
    local = not chart.startswith("oci://") and (cwd / chart).exists()
    looks_local = chart.startswith((".", "/")) or chart.endswith((".tgz", ".tar.gz"))
    if looks_local and not local:
        raise SettingsError("PLUGIN_CHART", f'"{chart}" does not exist')
    release = values.release or chart.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tgz")
    merged: dict[str, Any] = {}
    for name in values.values_files:
        merged = merge_values(merged, _values_file(name, files[name]))
    merged = merge_values(merged, {k: _typed(v) for k, v in _nested(values.values).items()})
    merged = merge_values(merged, _nested({k: _typed(v) for k, v in (i.split("=", 1) for i in values.set)}))
    if values.image_value and image:
        merged = merge_values(merged, _nested({values.image_value: image}))
    helm = HelmRelease(
        chart=str(cwd / chart) if local else chart,
        release=release,
        version=values.chart_version or "",
        repo_url=values.repo_url or "",
        values=merged,
        lint=bool(values.helm_lint),
        local=local,
        helm_bin=str(values.helm_bin),
        atomic=bool(values.atomic),
        create_namespace=bool(values.create_namespace),
    )
    shown = image if values.image_value else ""
    return Plan("helm", namespace, "rolling", shown, image_source, "", options_of(values), helm)


def _values_file(name: str, text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise SettingsError("PLUGIN_VALUES_FILES", f'"{name}" is malformed YAML: {str(e).splitlines()[0]}') from None
    if not isinstance(data, dict):
        raise SettingsError("PLUGIN_VALUES_FILES", f'"{name}" is not a YAML mapping')
    return data


def _typed(raw: Any) -> Any:
    """helm --set's typing: JSON scalars, objects and lists as such; anything else a string."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError("PLUGIN_SET", f'"{key}" sets below a value that is not a map')
        node[parts[-1]] = value
    return out


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge: maps merge deeply, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out
