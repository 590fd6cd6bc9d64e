"""Manifests: found from files, directories and globs, `${VAR}`-substituted, parsed, and put in a safe order.

Every problem is an input error (exit 2) naming PLUGIN_MANIFESTS and the file, raised before anything is applied.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.errors import SettingsError

SETTING = "PLUGIN_MANIFESTS"
SUFFIXES = (".yaml", ".yml", ".json")
# ${VAR} or ${VAR:-default}; $${VAR} is a literal ${VAR}.
_VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Apply order: what others depend on first (kubectl and helm use the same idea). Unknown kinds go last.
KIND_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
)


@dataclass(frozen=True)
class Manifest:
    source: str  # "file.yaml#2": where the operator finds it
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def find_files(entries: Iterable[str], cwd: Path) -> list[Path]:
    """The manifest files named by `entries` (files, directories, globs), each once, in a stable order."""
    found: list[Path] = []
    for entry in entries:
        if glob.has_magic(entry):
            matches = sorted(Path(p) for p in glob.glob(str(cwd / entry), recursive=True))
            files = [p for p in matches if p.is_file() and p.suffix in SUFFIXES]
            if not files:
                raise SettingsError(SETTING, f'"{entry}" matches no manifest files')
        else:
            path = cwd / entry
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
                if not files:
                    raise SettingsError(SETTING, f'"{entry}" is a directory without .yaml/.yml/.json files')
            elif path.is_file():
                files = [path]
            else:
                raise SettingsError(SETTING, f'"{entry}" does not exist')
        found.extend(f for f in files if f not in found)
    return found


def substitute(text: str, env: Mapping[str, str], source: str) -> str:
    """`text` with `${VAR}` replaced from `env`; an unset variable is an error naming it, the file and line."""

    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in env:
            return env[name]
        if default is not None:
            return default
        line = text.count("\n", 0, match.start()) + 1
        raise SettingsError(SETTING, f"{source}:{line}: ${{{name}}} is not set (no silent blanks; use ${{{name}:-}})")

    return _VARIABLE.sub(replace, text)


def parse_documents(text: str, source: str) -> list[Manifest]:
    """The Kubernetes objects in a (multi-document) YAML text; `kind: List` is expanded."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SettingsError(SETTING, f"{where}: malformed YAML: {problem}") from None
    found: list[Manifest] = []
    for index, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        for obj in items:
            found.append(Manifest(f"{source}#{index}", _checked(obj, f"{source}#{index}")))
    return found


def _checked(obj: object, source: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SettingsError(SETTING, f"{source}: is not a Kubernetes object (a YAML mapping)")
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise SettingsError(SETTING, f"{source}: has no {field}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise SettingsError(SETTING, f"{source}: {obj['kind']} has no metadata.name")
    return obj


def order(manifests: Iterable[Manifest]) -> list[Manifest]:
    """Dependencies first (namespaces, CRDs, accounts, config, services, then workloads); stable otherwise."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(manifests, key=lambda m: rank.get(m.kind, len(KIND_ORDER)))


def load(entries: Iterable[str], env: Mapping[str, str], cwd: Path) -> list[Manifest]:
    """Every object of the manifests, substituted, checked for duplicates and ordered."""
    manifests: list[Manifest] = []
    for path in find_files(entries, cwd):
        source = str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SettingsError(SETTING, f"{source}: cannot be read ({e})") from None
        manifests.extend(parse_documents(substitute(text, env, source), source))
    if not manifests:
        raise SettingsError(SETTING, "the manifests hold no Kubernetes objects")
    seen: dict[tuple[str, str, str], str] = {}
    for m in manifests:
        key = (m.kind, m.obj["metadata"].get("namespace", ""), m.name)
        if key in seen:
            raise SettingsError(SETTING, f"{m.source}: {m.kind} {m.name} is also defined in {seen[key]}")
        seen[key] = m.source
    return order(manifests)
