"""Pure edits of workload objects: which containers get the new image, rolling parameters, ownership labels.

Objects are the API's JSON shape (dicts); every function returns a new object and leaves its input alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from shared.images import same_repository

DEPLOY_LABEL = "shipline.io/deploy"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")


@dataclass(frozen=True)
class ImageChange:
    kind: str
    name: str
    container: str
    old: str
    new: str


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload object (None for anything that has none)."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec")  # type: ignore[no-any-return]
    if kind == "CronJob":
        return obj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")  # type: ignore[no-any-return]
    if kind in WORKLOAD_KINDS:
        return obj.get("spec", {}).get("template", {}).get("spec")  # type: ignore[no-any-return]
    return None


def select_containers(obj: dict[str, Any], image: str, names: list[str], target: str) -> list[str]:
    """Names of the containers of `obj` that get `image`.

    Named containers when `names` is given; else those already running the image's repository; else, for the
    target Deployment with a single container, that container.
    """
    spec = pod_spec(obj)
    if not spec:
        return []
    containers = spec.get("containers") or []
    if names:
        return [c["name"] for c in containers if c.get("name") in names]
    chosen = [c["name"] for c in containers if same_repository(str(c.get("image", "")), image)]
    if not chosen and len(containers) == 1 and obj.get("kind") == "Deployment" and obj["metadata"]["name"] == target:
        chosen = [containers[0]["name"]]
    return chosen


def with_image(obj: dict[str, Any], image: str, containers: list[str]) -> tuple[dict[str, Any], list[ImageChange]]:
    """A copy of `obj` whose `containers` run `image`, and the changes made."""
    new = copy.deepcopy(obj)
    spec = pod_spec(new)
    changes: list[ImageChange] = []
    for c in (spec or {}).get("containers") or []:
        if c.get("name") in containers:
            changes.append(ImageChange(new["kind"], new["metadata"]["name"], c["name"], str(c.get("image", "")), image))
            c["image"] = image
    return new, changes


def with_rolling(deployment: dict[str, Any], max_surge: str, max_unavailable: str) -> dict[str, Any]:
    """A copy of `deployment` with the given rolling-update bounds (kept as written when empty)."""
    if not max_surge and not max_unavailable:
        return deployment
    new = copy.deepcopy(deployment)
    strategy = new.setdefault("spec", {}).setdefault("strategy", {})
    strategy["type"] = "RollingUpdate"
    rolling = strategy.setdefault("rollingUpdate", {})
    for key, raw in (("maxSurge", max_surge), ("maxUnavailable", max_unavailable)):
        if raw:
            rolling[key] = raw if raw.endswith("%") else int(raw)
    return new


def with_label(obj: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """A copy of `obj` carrying the label `key=value` (used for pruning: what this deployment owns)."""
    new = copy.deepcopy(obj)
    labels = new.setdefault("metadata", {}).setdefault("labels", {}) or {}
    labels[key] = value
    new["metadata"]["labels"] = labels
    return new


def with_namespace(obj: dict[str, Any], namespace: str, namespaced: bool) -> dict[str, Any]:
    """A copy of `obj` in `namespace` when it is namespaced and names none itself."""
    if not namespaced or obj.get("metadata", {}).get("namespace"):
        return obj
    new = copy.deepcopy(obj)
    new["metadata"]["namespace"] = namespace
    return new


def replicas_of(deployment: dict[str, Any]) -> int:
    value = deployment.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def images_of(obj: dict[str, Any]) -> dict[str, str]:
    """container name -> image of a workload."""
    return {c["name"]: str(c.get("image", "")) for c in (pod_spec(obj) or {}).get("containers") or []}
