"""A compact, per-object diff between the live object and what a server-side dry run says it would become.

Fields the server owns (status, resourceVersion, managedFields, ...) are left out; lists of named items
(containers, ports, env) are keyed by name so a changed image reads `containers[web].image`.
"""

from __future__ import annotations

import json
from typing import Any

IGNORED = (
    "status",
    "metadata.resourceVersion",
    "metadata.uid",
    "metadata.generation",
    "metadata.creationTimestamp",
    "metadata.managedFields",
    "metadata.annotations.deployment.kubernetes.io/revision",
)
SECRET_KINDS = ("Secret",)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """path -> leaf value; named list items are keyed `[name]`, others `[index]`."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        if not value and prefix:
            out[prefix] = []
        for index, item in enumerate(value):
            key = item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str) else index
            out.update(flatten(item, f"{prefix}[{key}]"))
    else:
        out[prefix] = value
    return out


def _kept(path: str) -> bool:
    return not any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in IGNORED)


def _show(value: Any, secret: bool) -> str:
    return "******" if secret else json.dumps(value)


def render_diff(live: dict[str, Any] | None, proposed: dict[str, Any]) -> list[str]:
    """Lines `+ path: value`, `- path: value`, `~ path: old -> new`; empty when nothing changes.

    A new object is one line; a Secret's values are never shown.
    """
    if live is None:
        return [f"+ {proposed.get('kind')} {proposed.get('metadata', {}).get('name')} (new)"]
    secret = proposed.get("kind") in SECRET_KINDS
    before = {k: v for k, v in flatten(live).items() if _kept(k)}
    after = {k: v for k, v in flatten(proposed).items() if _kept(k)}
    lines: list[str] = []
    for path in sorted(before.keys() | after.keys()):
        hidden = secret and path.startswith(("data", "stringData"))
        if path not in before:
            lines.append(f"+ {path}: {_show(after[path], hidden)}")
        elif path not in after:
            lines.append(f"- {path}: {_show(before[path], hidden)}")
        elif before[path] != after[path]:
            lines.append(f"~ {path}: {_show(before[path], hidden)} -> {_show(after[path], hidden)}")
    return lines
