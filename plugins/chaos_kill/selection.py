"""Which pods die: eligibility, how many, the caps, and the (seeded) random choice. Pure: values in, values out.

Pods arrive in the API's JSON shape (camelCase dicts); owners are the objects the pods' controller references
point at (ReplicaSets, their Deployments, StatefulSets ...), keyed by (kind, name).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from shared.rollout import is_ready

# Controllers that recreate what we kill. Anything else owning a pod (a Node for mirror pods, an unknown custom
# resource) is not a workload we can reason about, so its pods are never eligible.
CONTROLLER_KINDS = ("ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")

Key = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class Pod:
    """A pod as the selection sees it."""

    name: str
    uid: str = ""
    node: str = ""
    phase: str = "Running"
    ready: bool = True
    terminating: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: Key | None = None  # the direct controller, e.g. ("ReplicaSet", "web-5d4f")
    workload: Key | None = None  # the top-level workload, e.g. ("Deployment", "web")
    owner_labels: Mapping[str, str] = field(default_factory=dict)  # labels of owner and workload, merged

    @property
    def workload_name(self) -> str:
        return show(self.workload) if self.workload else "(no owner)"


@dataclass(frozen=True)
class Criteria:
    name_pattern: str | None = None
    include_unowned: bool = False
    require_label: tuple[str, str | None] | None = None  # (key, value or None for "any value")


@dataclass(frozen=True)
class Count:
    mode: str = "one"  # one | fixed | percent | all
    value: float | None = None
    max_kill: int | None = None
    min_available: int = 0


@dataclass(frozen=True)
class Selection:
    victims: tuple[Pod, ...]
    excluded: tuple[tuple[str, str], ...]  # (pod name, why it is not killed)
    candidates: tuple[Pod, ...]  # every eligible pod (victims included)
    wanted: int  # what mode/value asked for, before the caps
    notes: tuple[str, ...]  # every way the selection shrank, for the log

    @property
    def eligible(self) -> int:
        return len(self.candidates)


def show(key: Key) -> str:
    return f"{key[0].lower()}/{key[1]}"


def describe_pods(items: Iterable[Mapping[str, Any]], owners: Mapping[Key, Mapping[str, Any]]) -> list[Pod]:
    """Pods (API JSON) with their owner chain resolved: ReplicaSet -> Deployment when the ReplicaSet has one."""
    pods = []
    for item in items:
        meta, status = item.get("metadata", {}), item.get("status", {})
        owner = controller_of(item)
        workload, owner_labels = owner, dict[str, str]()
        if owner is not None and owner in owners:
            owner_obj = owners[owner]
            owner_labels.update(owner_obj.get("metadata", {}).get("labels") or {})
            parent = controller_of(owner_obj)
            if parent is not None:
                workload = parent
                owner_labels.update((owners.get(parent) or {}).get("metadata", {}).get("labels") or {})
        pods.append(
            Pod(
                name=meta.get("name", ""),
                uid=meta.get("uid", ""),
                node=item.get("spec", {}).get("nodeName", ""),
                phase=status.get("phase", ""),
                ready=is_ready(item),
                terminating=bool(meta.get("deletionTimestamp")),
                labels=dict(meta.get("labels") or {}),
                owner=owner,
                workload=workload,
                owner_labels=owner_labels,
            )
        )
    return pods


def controller_of(obj: Mapping[str, Any]) -> Key | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return (ref.get("kind", ""), ref.get("name", ""))
    return None


def count_victims(mode: str, value: float | None, eligible: int) -> int:
    """How many pods mode/value asks for out of `eligible` (percent rounds up, and is at least one pod)."""
    if eligible <= 0:
        return 0
    if mode == "one":
        return 1
    if mode == "all":
        return eligible
    if value is None:
        raise ValueError(f"mode {mode} needs a value")
    if mode == "fixed":
        return min(int(value), eligible)
    if mode == "percent":
        # Fraction of the decimal text: 33.3% of 3 must be ceil(0.999) = 1, not float noise.
        return min(eligible, max(1, math.ceil(Fraction(str(value)) * eligible / 100)))
    raise ValueError(f"unknown mode {mode!r}")


def exclusion(pod: Pod, criteria: Criteria) -> str | None:
    """Why `pod` may not be killed, or None when it is eligible."""
    if pod.terminating:
        return "already terminating"
    if pod.phase != "Running":
        return f"phase {pod.phase or 'unknown'}, not Running"
    if pod.owner is None and not criteria.include_unowned:
        return "not owned by a controller (set include_unowned to allow)"
    if pod.owner is not None and pod.owner[0] not in CONTROLLER_KINDS:
        return f"owned by a {pod.owner[0]}, not a workload controller"
    if criteria.name_pattern and not re.search(criteria.name_pattern, pod.name):
        return f"name does not match name_pattern {criteria.name_pattern!r}"
    if criteria.require_label and not _carries(pod, *criteria.require_label):
        key, value = criteria.require_label
        label = key if value is None else f"{key}={value}"
        return f"neither the pod nor its workload carries the label {label}"
    return None


def _carries(pod: Pod, key: str, value: str | None) -> bool:
    for labels in (pod.labels, pod.owner_labels):
        if key in labels and (value is None or labels[key] == value):
            return True
    return False


def select_victims(pods: list[Pod], criteria: Criteria, count: Count, rng: random.Random) -> Selection:
    """The pods to kill this round, and for every other pod why it is spared."""
    excluded: list[tuple[str, str]] = []
    eligible: list[Pod] = []
    for pod in sorted(pods, key=lambda p: p.name):
        reason = exclusion(pod, criteria)
        if reason:
            excluded.append((pod.name, reason))
        else:
            eligible.append(pod)

    wanted = count_victims(count.mode, count.value, len(eligible))
    target, notes = wanted, []
    if count.max_kill is not None and target > count.max_kill:
        notes.append(f"max_kill {count.max_kill} caps this round at {count.max_kill} of {wanted} wanted")
        target = count.max_kill

    # Ready pods per workload, counted over every listed pod (eligible or not): the guard is about what keeps
    # serving. Pods the selector does not list are not counted, which only makes the guard stricter.
    ready = Counter(p.workload for p in pods if p.ready and not p.terminating and p.workload is not None)
    order = list(eligible)
    rng.shuffle(order)  # eligible is sorted by name first, so a seed always gives the same order
    victims: list[Pod] = []
    for pod in order:
        if len(victims) >= target:
            excluded.append((pod.name, f"not chosen ({count.mode}: {target} of {len(eligible)} eligible)"))
            continue
        key = pod.workload
        if count.min_available and pod.ready and key is not None and ready[key] - 1 < count.min_available:
            excluded.append(
                (pod.name, f"min_available {count.min_available}: {show(key)} has only {ready[key]} Ready pod(s)")
            )
            continue
        victims.append(pod)
        if pod.ready and key is not None:
            ready[key] -= 1

    if len(victims) < target and count.min_available:
        notes.append(f"min_available {count.min_available} shrinks this round from {target} to {len(victims)} pod(s)")
    excluded.sort()
    victims.sort(key=lambda p: p.name)
    return Selection(tuple(victims), tuple(excluded), tuple(eligible), wanted, tuple(notes))
