"""The helm-mode plan: a pure function of the settings, the image and the values files' text; values merged as
helm merges them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from plugins.kubectl_helm_deploy.plan import HelmRelease, Plan, options_of
from shared.errors import SettingsError
from shared.settings import Values


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
        test=bool(values.helm_test),
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
