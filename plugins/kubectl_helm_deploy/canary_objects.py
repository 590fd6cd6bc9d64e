"""Canary, pure: weights to replica counts and the canary's objects (Deployment, Service, Ingress copies, HTTPRoute
weights), and the state annotation that lets a later run resume a paused canary.

Without a traffic router the weight is approximated by replicas (as Argo Rollouts does): the canary shares the
stable Service's selector, so traffic splits roughly by pod count. With `canary_ingress`, ingress-nginx splits
traffic by the `canary-weight` annotation on a copy of the Ingress that points at a canary-only Service; with
`canary_route`, the HTTPRoute's backendRefs weight the stable Service against the canary-only Service.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from shared.errors import SettingsError

TRACK_LABEL = "shipline.io/track"
NGINX = "nginx.ingress.kubernetes.io/"
STATE_ANNOTATION = "shipline.io/canary-state"  # on <name>-canary: step, weight, status, last analysis
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


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
    for key in _SERVER_FIELDS:
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


def _backend_refs(route: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [rule.setdefault("backendRefs", []) for rule in (route.get("spec") or {}).get("rules") or []]


def check_route(route: dict[str, Any], service: str, setting: str) -> None:
    """SettingsError unless some rule of the HTTPRoute sends traffic to Service `service`."""
    refs = [r for rule in _backend_refs(copy.deepcopy(route)) for r in rule]
    if not any(r.get("name") == service and r.get("kind", "Service") == "Service" for r in refs):
        name = route["metadata"]["name"]
        raise SettingsError(setting, f'HTTPRoute "{name}" has no backendRef to Service "{service}"')


def route_weights(route: dict[str, Any], service: str, weight: int) -> dict[str, Any]:
    """The HTTPRoute with each backendRef to `service` weighted 100 - weight, beside `<service>-canary` weighted
    `weight` (weight 0: the canary backend is dropped, everything goes to the stable Service)."""
    new = copy.deepcopy(route)
    meta = new["metadata"]
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    new.pop("status", None)
    canary = canary_name(service)
    for refs in _backend_refs(new):
        kept = [r for r in refs if r.get("name") != canary]
        added = []
        for ref in kept:
            if ref.get("name") == service and ref.get("kind", "Service") == "Service":
                ref["weight"] = 100 - weight
                if weight:
                    added.append({**ref, "name": canary, "weight": weight})
        refs[:] = kept + added
    return new


def read_state(canary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The canary's state annotation (None when there is no canary or no readable state)."""
    raw = ((canary or {}).get("metadata", {}).get("annotations") or {}).get(STATE_ANNOTATION)
    try:
        state = json.loads(raw) if raw else None
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def state_patch(state: dict[str, Any]) -> dict[str, Any]:
    """A merge patch writing `state` to the canary Deployment's annotation."""
    return {"metadata": {"annotations": {STATE_ANNOTATION: json.dumps(state, sort_keys=True)}}}


def at_zero(obj: dict[str, Any]) -> dict[str, Any]:
    """The canary's Deployment with no pods, or its Ingress copy with weight 0: no traffic goes to the canary."""
    new = copy.deepcopy(obj)
    if new["kind"] == "Deployment":
        new["spec"]["replicas"] = 0
    else:
        new["metadata"]["annotations"][NGINX + "canary-weight"] = "0"
    return new
