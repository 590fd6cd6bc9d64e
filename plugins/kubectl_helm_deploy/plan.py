"""The plan: a pure function of the settings, the loaded manifests and the image — what will be applied, to
which containers the image goes, which Deployment rolls and how. Every input error is raised here, before
anything talks to the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from plugins.kubectl_helm_deploy import workload
from plugins.kubectl_helm_deploy.manifests import Manifest
from shared.errors import SettingsError
from shared.handoff import read_published
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


@dataclass(frozen=True)
class HelmPlan:
    chart: str
    release: str
    version: str
    repo_url: str
    values: dict[str, Any]
    lint: bool
    local: bool  # the chart is a path on disk (lint runs only then)


@dataclass(frozen=True)
class Plan:
    mode: str  # manifests | helm
    namespace: str
    strategy: str
    image: str  # "" when the manifests' images are deployed as written
    image_source: str  # image | publish_file | ""
    target: str  # the Deployment that rolls ("" when none is singled out)
    objects: list[Manifest] = field(default_factory=list)
    image_changes: list[workload.ImageChange] = field(default_factory=list)
    helm: HelmPlan | None = None

    @property
    def deployments(self) -> list[str]:
        return [m.name for m in self.objects if m.kind == "Deployment"]

    def object(self, kind: str, name: str) -> Manifest | None:
        return next((m for m in self.objects if m.kind == kind and m.name == name), None)

    def describe(self) -> list[str]:
        lines = [f"mode: {self.mode}", f"namespace: {self.namespace}", f"strategy: {self.strategy}"]
        lines.append(f"image: {self.image} (from {self.image_source})" if self.image else "image: as in the manifests")
        if self.target:
            lines.append(f"deployment: {self.target}")
        for m in self.objects:
            lines.append(f"apply {m.kind}/{m.name}  ({m.source})")
        for c in self.image_changes:
            lines.append(f"image {c.kind}/{c.name}[{c.container}]: {c.old} -> {c.new}")
        if self.helm:
            h = self.helm
            lines.append(f"helm release {h.release}: chart {h.chart}" + (f" {h.version}" if h.version else ""))
            lines.append("values: " + json.dumps(h.values, sort_keys=True))
        return lines


def resolve_image(values: Values, cwd: Path) -> tuple[str, str]:
    """(image, where it came from): the image setting, else the handoff's repo@digest, else nothing.

    A missing default handoff file means "deploy the manifests as written"; a missing file the operator named
    is an input error.
    """
    if values.image:
        try:
            parse_image(values.image)
        except ValueError as e:
            raise SettingsError("PLUGIN_IMAGE", str(e)) from None
        return values.image, "image"
    path = values.publish_file if values.publish_file.is_absolute() else cwd / values.publish_file
    if not values.given("publish_file") and not path.exists():
        return "", ""
    published = read_published(path, "PLUGIN_PUBLISH_FILE")
    if not published.image:
        raise SettingsError("PLUGIN_PUBLISH_FILE", f'"{values.publish_file}" holds no image')
    return published.image, "publish_file"


def build_plan(values: Values, manifests: list[Manifest], image: str, image_source: str, namespace: str) -> Plan:
    """The manifests-mode plan: objects with namespace, image, rolling bounds and ownership label applied."""
    deployments = [m for m in manifests if m.kind == "Deployment"]
    target = _target(values, [m.name for m in deployments])
    if values.strategy in ("blue-green", "canary") and not target:
        raise SettingsError("PLUGIN_DEPLOYMENT", f"strategy {values.strategy} needs one Deployment in the manifests")
    if values.strategy == "blue-green" and not any(m.kind == "Service" and m.name == values.service for m in manifests):
        raise SettingsError("PLUGIN_SERVICE", f'"{values.service}" is not a Service in the manifests')
    if values.strategy == "canary" and values.canary_action != "abort" and not image:
        raise SettingsError("PLUGIN_IMAGE", "is required for a canary (or a publish_file to read it from)")
    owner = target or (deployments[0].name if deployments else manifests[0].name)
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
    return Plan("manifests", namespace, values.strategy, image, image_source, target, objects, changes)


def _target(values: Values, deployments: list[str]) -> str:
    if values.deployment:
        if values.deployment not in deployments:
            raise SettingsError("PLUGIN_DEPLOYMENT", f'"{values.deployment}" is not a Deployment in the manifests')
        return str(values.deployment)
    if len(deployments) == 1:
        return deployments[0]
    if len(deployments) > 1 and values.strategy != "rolling":
        raise SettingsError("PLUGIN_DEPLOYMENT", f"the manifests hold {len(deployments)} Deployments: name one")
    return ""


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
    helm = HelmPlan(
        chart=str(cwd / chart) if local else chart,
        release=release,
        version=values.chart_version or "",
        repo_url=values.repo_url or "",
        values=merged,
        lint=bool(values.helm_lint),
        local=local,
    )
    return Plan("helm", namespace, "rolling", image if values.image_value else "", image_source, "", helm=helm)


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
    except (ValueError, RecursionError):  # not JSON (or a number past 4,300 digits, nesting too deep): a string
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
