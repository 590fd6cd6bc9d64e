"""The manifests-mode plan: a pure function of the settings, the loaded manifests, the image and the few live
objects a strategy depends on (`live_refs` names them, the caller reads them)."""

from __future__ import annotations

import functools

from plugins.kubectl_helm_deploy import blue_green_objects as colors
from plugins.kubectl_helm_deploy import canary_objects, workload
from plugins.kubectl_helm_deploy.canary_plan import build_canary
from plugins.kubectl_helm_deploy.manifests import Manifest
from plugins.kubectl_helm_deploy.plan import (
    BlueGreen,
    Canary,
    Live,
    Obj,
    Plan,
    Prune,
    Ref,
    Rolling,
    Strategy,
    deployment_ref,
    ingress_ref,
    options_of,
    route_ref,
    service_ref,
)
from plugins.kubectl_helm_deploy.plan import find as _find
from shared.errors import SettingsError
from shared.images import parse_image
from shared.settings import Values

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
        # the stable Deployment, and the canary (its state annotation says where a paused canary resumes)
        required = [deployment_ref(target), deployment_ref(canary_objects.canary_name(target))]
        named = [service_ref(values.service)] if values.service else []
        named += [ingress_ref(values.canary_ingress)] if values.canary_ingress else []
        named += [route_ref(values.canary_route)] if values.canary_route else []
    else:
        return []
    return required + [r for r in named if (r[1], r[2]) not in in_manifests]


def build_plan(
    values: Values, manifests: list[Manifest], image: str, image_source: str, namespace: str, live: Live
) -> Plan:
    """The manifests-mode plan: objects with namespace, image, rolling bounds and ownership label applied, and the
    strategy's steps."""
    deployments = [m for m in manifests if m.kind == "Deployment"]
    others = [m for m in manifests if m.kind in ("StatefulSet", "DaemonSet")]
    if values.strategy != "rolling" and others:
        raise SettingsError(
            "PLUGIN_STRATEGY",
            f"{values.strategy} rolls one Deployment; the manifests hold {others[0].kind} {others[0].name} "
            "(StatefulSets and DaemonSets roll with strategy rolling)",
        )
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
        steps = build_canary(values, objects, target, live, functools.partial(_existing, objects, live))
    else:
        steps = Rolling(
            (target,) if target else tuple(m.name for m in deployments), tuple((m.kind, m.name) for m in others)
        )
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


def _extra_keep(steps: Strategy) -> set[tuple[str, str]]:
    """What a strategy creates beside the manifests' objects, kept by the prune."""
    if isinstance(steps, BlueGreen):
        return {("Deployment", steps.colored(c)) for c in colors.COLORS}
    if isinstance(steps, Canary):
        return {(kind, name) for _, kind, name in steps.removes}
    return set()
