"""ControllerRevisions, pure: the history of StatefulSets and DaemonSets, as kubectl's `rollout undo` reads it.

A StatefulSet names its new revision in `status.updateRevision` and labels each pod with the revision's name; a
DaemonSet's current revision is its highest-numbered one, and its pods carry that revision's hash. Either
way the pod label is `controller-revision-hash`. A revision's `data` is the patch that restores its template.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

POD_LABEL = "controller-revision-hash"
HASH_LABEL = "controller.kubernetes.io/hash"

Obj = Mapping[str, Any]


def number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def owned(workload: Obj, revisions: Iterable[Obj]) -> list[Obj]:
    """The ControllerRevisions this workload controls (by controller owner reference), newest first."""
    uid = (workload.get("metadata") or {}).get("uid")
    mine = [r for r in revisions if _controlled_by(r, uid)]
    return sorted(mine, key=number, reverse=True)


def template_of(revision: Obj) -> dict[str, Any]:
    """The pod template a revision restores (its `data.spec.template`, without the `$patch` directive)."""
    template = copy.deepcopy(dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {}))
    template.pop("$patch", None)
    return template


def current(kind: str, workload: Obj, revisions: Iterable[Obj]) -> Obj | None:
    """The revision the workload is rolling to, once its controller has observed the spec (None before)."""
    meta, status = workload.get("metadata") or {}, workload.get("status") or {}
    if (meta.get("generation") or 0) > (status.get("observedGeneration") or 0):
        return None
    history = owned(workload, revisions)
    if kind == "StatefulSet":
        return next((r for r in history if (r.get("metadata") or {}).get("name") == status.get("updateRevision")), None)
    # A DaemonSet: the controller renumbers the revision matching the template to the highest number.
    return history[0] if history else None


def previous(workload: Obj, revisions: Iterable[Obj], to_revision: int | None = None) -> Obj | None:
    """The revision `rollout undo` returns to: the one numbered `to_revision`, else the second-highest."""
    history = owned(workload, revisions)
    if to_revision:
        return next((r for r in history if number(r) == to_revision), None)
    return history[1] if len(history) > 1 else None


def undo_patch(revision: Obj) -> list[dict[str, Any]]:
    """What `rollout undo` changes: the revision's pod template back into the workload (a JSON patch)."""
    return [{"op": "replace", "path": "/spec/template", "value": template_of(revision)}]


def pods_of(workload: Obj, revision: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The workload's pods at `revision`, by name: their `controller-revision-hash` is the revision's name (a
    StatefulSet's) or the hash its own labels carry (a DaemonSet's, under that same key)."""
    meta = revision.get("metadata") or {}
    labels = meta.get("labels") or {}
    wanted = {meta.get("name"), labels.get(HASH_LABEL), labels.get(POD_LABEL)} - {None}
    uid = (workload.get("metadata") or {}).get("uid")
    return sorted(
        (
            p
            for p in pods
            if _controlled_by(p, uid) and ((p.get("metadata") or {}).get("labels") or {}).get(POD_LABEL) in wanted
        ),
        key=lambda p: (p.get("metadata") or {}).get("name", ""),
    )


def _controlled_by(obj: Obj, uid: str | None) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(r.get("uid") == uid and r.get("controller") for r in refs)
