"""Blue/green, pure: which colour is live, which one the new version goes to, and the objects for each.

Two Deployments `<name>-blue` / `<name>-green` carry the label `shipline.io/color`; the Service selects one
colour by adding that label to its selector. Switching traffic is a change of that one selector value.
"""

from __future__ import annotations

import copy
from typing import Any

COLOR_LABEL = "shipline.io/color"
COLORS = ("blue", "green")


def live_color(service: dict[str, Any] | None) -> str | None:
    """The colour the Service sends traffic to (None before the first blue/green deploy)."""
    if not service:
        return None
    color = (service.get("spec", {}).get("selector") or {}).get(COLOR_LABEL)
    return color if color in COLORS else None


def idle_color(live: str | None) -> str:
    """Where the new version goes: the colour not serving (blue on the first deploy)."""
    return "green" if live == "blue" else "blue"


def colored_name(name: str, color: str) -> str:
    return f"{name}-{color}"


def colored_deployment(deployment: dict[str, Any], color: str) -> dict[str, Any]:
    """`<name>-<color>`: the Deployment with the colour in its name, labels, selector and pod labels."""
    new = copy.deepcopy(deployment)
    meta = new["metadata"]
    meta["name"] = colored_name(meta["name"], color)
    meta.setdefault("labels", {})[COLOR_LABEL] = color
    spec = new.setdefault("spec", {})
    spec.setdefault("selector", {}).setdefault("matchLabels", {})[COLOR_LABEL] = color
    spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})[COLOR_LABEL] = color
    return new


def service_for(service: dict[str, Any], color: str) -> dict[str, Any]:
    """The Service selecting only pods of `color`."""
    new = copy.deepcopy(service)
    new.setdefault("spec", {}).setdefault("selector", {})[COLOR_LABEL] = color
    return new


def selector_patch(color: str) -> dict[str, Any]:
    """The merge patch that switches a Service to `color`."""
    return {"spec": {"selector": {COLOR_LABEL: color}}}
