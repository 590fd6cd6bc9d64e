"""Canary, pure: weights to replica counts and the canary's objects (Deployment, Service, Ingress copies).

Without a traffic router the weight is approximated by replicas (as Argo Rollouts does): the canary shares the
stable Service's selector, so traffic splits roughly by pod count. With `canary_ingress`, ingress-nginx splits
traffic by the `canary-weight` annotation on a copy of the Ingress that points at a canary-only Service.
"""

from __future__ import annotations

import copy
import math
from typing import Any

TRACK_LABEL = "shipline.io/track"
NGINX = "nginx.ingress.kubernetes.io/"


def canary_replicas(weight: int, stable_replicas: int) -> int:
    """ceil(weight% of the stable replicas), at least 1."""
    if not 1 <= weight <= 100:
        raise ValueError(f"weight {weight} is not between 1 and 100")
    return max(1, math.ceil(weight * stable_replicas / 100))


def step_weights(steps: list[str], weight: int) -> list[int]:
    """The weights a canary goes through: the steps when given, else the one weight."""
    return [int(s) for s in steps] if steps else [weight]


def canary_name(name: str) -> str:
    return f"{name}-canary"


def canary_deployment(stable: dict[str, Any], replicas: int) -> dict[str, Any]:
    """`<name>-canary`: the stable Deployment's pods plus a track label (so its own selector is distinct)."""
    new = copy.deepcopy(stable)
    meta = new["metadata"]
    meta["name"] = canary_name(meta["name"])
    meta.setdefault("labels", {})[TRACK_LABEL] = "canary"
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        meta.pop(key, None)
    meta.pop("annotations", None)
    new.pop("status", None)
    spec = new.setdefault("spec", {})
    spec["replicas"] = replicas
    spec.setdefault("selector", {}).setdefault("matchLabels", {})[TRACK_LABEL] = "canary"
    spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})[TRACK_LABEL] = "canary"
    return new


def canary_service(service: dict[str, Any]) -> dict[str, Any]:
    """`<service>-canary`: selects the canary pods only (the Ingress copy routes its weight there)."""
    meta = service["metadata"]
    spec = service.get("spec", {})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": canary_name(meta["name"]),
            "namespace": meta.get("namespace"),
            "labels": {TRACK_LABEL: "canary"},
        },
        "spec": {
            "selector": {**(spec.get("selector") or {}), TRACK_LABEL: "canary"},
            "ports": [
                {k: v for k, v in p.items() if k in ("name", "port", "targetPort", "protocol")}
                for p in spec.get("ports") or []
            ],
        },
    }


def canary_ingress(ingress: dict[str, Any], weight: int, service: str) -> dict[str, Any]:
    """`<ingress>-canary`: the Ingress with ingress-nginx's canary annotations, routing `service` to its canary."""
    meta = ingress["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(NGINX + "canary")}
    annotations[NGINX + "canary"] = "true"
    annotations[NGINX + "canary-weight"] = str(weight)
    spec = copy.deepcopy(ingress.get("spec", {}))
    spec.pop("tls", None)  # the main Ingress already terminates TLS for these hosts
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            backend = path.get("backend", {}).get("service", {})
            if backend.get("name") == service:
                backend["name"] = canary_name(service)
    return {
        "apiVersion": ingress.get("apiVersion", "networking.k8s.io/v1"),
        "kind": "Ingress",
        "metadata": {
            "name": canary_name(meta["name"]),
            "namespace": meta.get("namespace"),
            "labels": {TRACK_LABEL: "canary"},
            "annotations": annotations,
        },
        "spec": spec,
    }
