"""Rollout rules, pure: Deployments, StatefulSets, DaemonSets, their ReplicaSets or ControllerRevisions and Pods
as dicts in the API's JSON shape (camelCase, as `shared.kube.Cluster.read` gives them). No client, no clock.

`status_of` is kubectl's `rollout status` verdict for each kind (`rollout_status`, `statefulset_status`,
`daemonset_status`), rule for rule and message for message. `pod_problems` catches what kubectl keeps waiting
through (CrashLoopBackOff, image pull errors) so a caller can fail in seconds instead of at the 600 s progress
deadline; `assess` applies it to the pods of the new revision of any kind. The ReplicaSet helpers follow
kubectl's `rollout undo` for Deployments; `shared.revisions` holds the ControllerRevision ones of the others.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.settings import Setting

# The pod-health settings of every rollout wait (deploy's and verify's), declared once.
POD_HEALTH: tuple[Setting, ...] = (
    Setting(
        "max_restarts",
        "int",
        2,
        "A new pod restarting more often than this fails the rollout at once",
        minimum=0,
        maximum=1000,
    ),
    Setting(
        "min_stable",
        "duration",
        0.0,
        "After the rollout, every new pod must stay Ready with no new restart this long (e.g. 30s)",
        maximum=3600,
    ),
)

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"

# Waiting reasons that will not fix themselves while we wait (kubectl waits through them anyway).
BAD_WAITING_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
)

# Deployment annotations kubectl never copies from a ReplicaSet back into the Deployment on undo.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

Obj = Mapping[str, Any]


KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# kubectl's names and short names of each kind, as `kind/name` settings take them (case-insensitive).
KIND_NAMES = {
    **dict.fromkeys(("deployment", "deployments", "deploy"), "Deployment"),
    **dict.fromkeys(("statefulset", "statefulsets", "sts"), "StatefulSet"),
    **dict.fromkeys(("daemonset", "daemonsets", "ds"), "DaemonSet"),
}


def parse_workload(value: str) -> tuple[str, str]:
    """`statefulset/db` -> ("StatefulSet", "db"); a bare name is a Deployment. ValueError for another kind."""
    kind, slash, name = value.rpartition("/")
    if not slash:
        return "Deployment", value
    if kind.lower() not in KIND_NAMES:
        raise ValueError(f'"{kind}" is not deployment, statefulset or daemonset')
    return KIND_NAMES[kind.lower()], name


def show_workload(kind: str, name: str) -> str:
    """How a workload is named in logs and reports: a Deployment by its bare name, the others as kind/name."""
    return name if kind == "Deployment" else f"{kind.lower()}/{name}"


@dataclass(frozen=True)
class RolloutStatus:
    done: bool
    failed: bool
    message: str
    waited: bool = True  # False: kubectl does not wait for this update strategy (OnDelete): reported, not waited for


def _waiting(message: str) -> RolloutStatus:
    return RolloutStatus(False, False, message)


def status_of(kind: str, obj: Obj) -> RolloutStatus:
    """kubectl's `rollout status` verdict on a workload of any of KINDS."""
    viewers = {"Deployment": rollout_status, "StatefulSet": statefulset_status, "DaemonSet": daemonset_status}
    return viewers[kind](obj)


def rollout_status(deployment: Obj) -> RolloutStatus:
    """kubectl's verdict on a Deployment, in kubectl's order and words (without its trailing newline)."""
    name = _meta(deployment).get("name", "")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    if (_meta(deployment).get("generation") or 0) > (status.get("observedGeneration") or 0):
        return _waiting("Waiting for deployment spec update to be observed...")
    progressing = condition(status, "Progressing")
    if progressing and progressing.get("reason") == TIMED_OUT_REASON:
        return RolloutStatus(False, True, f'deployment "{name}" exceeded its progress deadline')
    desired = spec.get("replicas")
    updated = status.get("updatedReplicas") or 0
    if desired is not None and updated < desired:
        return _waiting(
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {desired} new replicas have been '
            "updated...",
        )
    replicas = status.get("replicas") or 0
    if replicas > updated:
        return _waiting(
            f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas are pending '
            "termination...",
        )
    available = status.get("availableReplicas") or 0
    if available < updated:
        return _waiting(
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas are '
            "available...",
        )
    return RolloutStatus(True, False, f'deployment "{name}" successfully rolled out')


NOT_ROLLING = "rollout status is only available for RollingUpdate strategy type"


def statefulset_status(sts: Obj) -> RolloutStatus:
    """kubectl's StatefulSet viewer. As in kubectl, a RollingUpdate with a `partition` (the API server always sets
    one, 0 by default) is complete once the ordinals at or above it are updated and every pod is Ready."""
    meta, spec, status = _meta(sts), sts.get("spec") or {}, sts.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return RolloutStatus(True, False, NOT_ROLLING, waited=False)
    observed = status.get("observedGeneration") or 0
    if observed == 0 or (meta.get("generation") or 0) > observed:
        return _waiting("Waiting for statefulset spec update to be observed...")
    replicas, ready = spec.get("replicas"), status.get("readyReplicas") or 0
    if replicas is not None and ready < replicas:
        return _waiting(f"Waiting for {replicas - ready} pods to be ready...")
    updated = status.get("updatedReplicas") or 0
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        partition = rolling.get("partition")
        if replicas is not None and partition is not None and updated < replicas - partition:
            return _waiting(
                f"Waiting for partitioned roll out to finish: {updated} out of {replicas - partition} new pods have "
                "been updated...",
            )
        return RolloutStatus(True, False, f"partitioned roll out complete: {updated} new pods have been updated...")
    if status.get("updateRevision") != status.get("currentRevision"):
        return _waiting(
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{status.get('updateRevision', '')}...",
        )
    return RolloutStatus(
        True,
        False,
        f"statefulset rolling update complete {status.get('currentReplicas') or 0} pods at revision "
        f"{status.get('currentRevision', '')}...",
    )


def daemonset_status(daemon: Obj) -> RolloutStatus:
    """kubectl's DaemonSet viewer: every node that should run the daemon runs the new revision, available."""
    meta, spec, status = _meta(daemon), daemon.get("spec") or {}, daemon.get("status") or {}
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return RolloutStatus(True, False, NOT_ROLLING, waited=False)
    name = meta.get("name", "")
    if (meta.get("generation") or 0) > (status.get("observedGeneration") or 0):
        return _waiting("Waiting for daemon set spec update to be observed...")
    desired, updated = status.get("desiredNumberScheduled") or 0, status.get("updatedNumberScheduled") or 0
    if updated < desired:
        return _waiting(
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} new pods have been '
            "updated...",
        )
    available = status.get("numberAvailable") or 0
    if available < desired:
        return _waiting(
            f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} updated pods are '
            "available...",
        )
    return RolloutStatus(True, False, f'daemon set "{name}" successfully rolled out')


def partition_of(sts: Obj) -> int:
    """A StatefulSet's RollingUpdate partition: ordinals below it keep the old revision (0: none do)."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def condition(status: Obj, kind: str) -> Obj | None:
    """The condition of type `kind` in an object's status, or None."""
    return next((c for c in status.get("conditions") or () if c.get("type") == kind), None)


@dataclass(frozen=True)
class PodProblem:
    pod: str
    container: str
    reason: str
    message: str
    restarts: int

    def __str__(self) -> str:
        text = f"pod {self.pod} container {self.container}: {self.reason}"
        if self.restarts:
            text += f" ({self.restarts} restarts)"
        return f"{text}: {self.message}" if self.message else text


def pod_problems(pod: Obj, max_restarts: int) -> list[PodProblem]:
    """What is wrong with a pod's containers (init containers too) that waiting will not fix."""
    name = _meta(pod).get("name", "")
    status = pod.get("status") or {}
    problems = []
    for cs in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        restarts = cs.get("restartCount") or 0
        reason = waiting.get("reason") or ""
        if reason in BAD_WAITING_REASONS:
            problems.append(PodProblem(name, cs.get("name", ""), reason, _explain(cs, waiting), restarts))
        elif restarts > max_restarts:
            problems.append(
                PodProblem(
                    name, cs.get("name", ""), f"restarted more than {max_restarts} times", _explain(cs, {}), restarts
                )
            )
    return problems


def _explain(cs: Obj, waiting: Obj) -> str:
    """The waiting message plus the last termination (reason, exit code, message): why the container died."""
    parts = [waiting["message"]] if waiting.get("message") else []
    last = (cs.get("lastState") or {}).get("terminated")
    if last:
        text = f"last termination: {last.get('reason') or 'terminated'}, exit code {last.get('exitCode', '?')}"
        if last.get("message"):
            text += f": {str(last['message']).strip()}"
        parts.append(text)
    return "; ".join(parts)


def is_ready(pod: Obj) -> bool:
    ready = condition(pod.get("status") or {}, "Ready")
    return bool(ready and ready.get("status") == "True")


def not_ready_reason(pod: Obj) -> str:
    """Why a pod is not Ready, in a few words (phase, the Ready condition's reason/message, waiting reasons)."""
    status = pod.get("status") or {}
    if _meta(pod).get("deletionTimestamp"):
        return "terminating"
    parts = [status.get("phase") or "Pending"]
    waiting = [
        f"{cs.get('name')}: {((cs.get('state') or {}).get('waiting') or {}).get('reason')}"
        for cs in status.get("containerStatuses") or ()
        if ((cs.get("state") or {}).get("waiting") or {}).get("reason")
    ]
    ready = condition(status, "Ready")
    if waiting:
        parts.append(", ".join(waiting))
    elif ready and ready.get("message"):
        parts.append(str(ready["message"]))
    elif ready and ready.get("reason"):
        parts.append(str(ready["reason"]))
    else:
        scheduled = condition(status, "PodScheduled")
        if scheduled and scheduled.get("status") == "False":
            parts.append(f"unschedulable: {scheduled.get('message') or scheduled.get('reason')}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Assessment:
    """Where a rollout stands, from the workload, its ReplicaSets or ControllerRevisions and the pods of its
    selector."""

    done: bool
    failed: bool
    message: str
    replicaset: str = ""  # the new ReplicaSet's (or ControllerRevision's) name, "" until it exists
    revision: str = ""
    problems: tuple[PodProblem, ...] = ()
    unready: tuple[str, ...] = ()  # "pod (why)" for each new pod that is not Ready
    waited: bool = True  # False: the update strategy is not one kubectl waits for (OnDelete)


def assess(kind: str, workload: Obj, history: Iterable[Obj], pods: Iterable[Obj], max_restarts: int) -> Assessment:
    """kubectl's verdict on a workload of any of KINDS, failing early on problems of its NEW pods (those of the
    new ReplicaSet, or at the new ControllerRevision: old pods may crash freely, they are going away). Pod
    problems win over a complete status: a Ready pod that keeps restarting fails."""
    new = new_revision(kind, workload, history)
    new_pods = _pods_at(kind, workload, new, pods) if new else []
    name = _meta(new).get("name", "") if new else ""
    if kind == "Deployment":
        revision, unseen = str(revision_of(new)) if new else "", "ReplicaSet"
    else:
        revision, unseen = str((new or {}).get("revision") or ""), "ControllerRevision"
    return _judged(status_of(kind, workload), new_pods, max_restarts, name, revision, "" if new else unseen)


def assess_rollout(deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj], max_restarts: int) -> Assessment:
    """`assess` for a Deployment."""
    return assess("Deployment", deployment, replicasets, pods, max_restarts)


def new_revision(kind: str, workload: Obj, history: Iterable[Obj]) -> Obj | None:
    """The new ReplicaSet (Deployment) or ControllerRevision (the others) of a workload; None until it exists."""
    if kind == "Deployment":
        return new_replicaset(workload, history)
    from shared import revisions  # a sibling module; kept beside its only users

    return revisions.current(kind, workload, list(history))


def new_pods(kind: str, workload: Obj, history: Iterable[Obj], pods: Iterable[Obj]) -> list[Obj]:
    """The pods of a workload's new revision, by name."""
    new = new_revision(kind, workload, history)
    return _pods_at(kind, workload, new, pods) if new else []


def _pods_at(kind: str, workload: Obj, new: Obj, pods: Iterable[Obj]) -> list[Obj]:
    if kind == "Deployment":
        return owned_pods(new, pods)
    from shared import revisions

    return revisions.pods_of(workload, new, pods)


def stability_problem(pod: Obj, restarts_before: int) -> str:
    """Why a new pod is no longer stable after its rollout ("" while it is): not Ready, or restarted since
    (`restarts_before` is its containers' restart count when the window began), with its last termination."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    restarts = restart_count(pod)
    if _meta(pod).get("deletionTimestamp"):
        return f"pod {_meta(pod).get('name')} is being deleted"
    if restarts <= restarts_before and is_ready(pod):
        return ""
    what = f"restarted ({restarts - restarts_before} new restarts)" if restarts > restarts_before else "is not Ready"
    text = f"pod {_meta(pod).get('name')} was Ready, then {what}: {not_ready_reason(pod)}"
    for cs in statuses:
        state = cs.get("state") or {}
        ended = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if ended and (restarts > restarts_before or state.get("terminated")):
            text += f"; container {cs.get('name')} last termination: {ended.get('reason') or 'terminated'}, exit code "
            text += f"{ended.get('exitCode', '?')}" + (
                f": {str(ended['message']).strip()}" if ended.get("message") else ""
            )
    return text


def restart_count(pod: Obj) -> int:
    return sum(cs.get("restartCount") or 0 for cs in (pod.get("status") or {}).get("containerStatuses") or ())


def _judged(
    status: RolloutStatus, pods: list[Obj], max_restarts: int, name: str, revision: str, unseen: str
) -> Assessment:
    """The verdict from kubectl's status and the new pods; `unseen` names what is not found yet (the new ...)."""
    live = [p for p in pods if not _meta(p).get("deletionTimestamp")]
    problems = tuple(problem for pod in live for problem in pod_problems(pod, max_restarts))
    unready = tuple(f"{_meta(p).get('name')} ({not_ready_reason(p)})" for p in live if not is_ready(p))

    def verdict(done: bool, failed: bool, message: str) -> Assessment:
        return Assessment(done, failed, message, name, revision, problems, unready, status.waited)

    if not status.waited:
        return verdict(True, False, status.message)
    if status.failed:
        return verdict(False, True, status.message)
    if problems:
        return verdict(False, True, "; ".join(str(p) for p in problems))
    if status.done and unseen:
        return verdict(False, False, f"Waiting for the new {unseen} to be seen...")
    return verdict(status.done, False, status.message)


# -- ReplicaSets ---------------------------------------------------------------------------------------------


def revision_of(obj: Obj) -> int:
    """The `deployment.kubernetes.io/revision` annotation as a number (0 when absent or not a number)."""
    try:
        return int((_meta(obj).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def owned_replicasets(deployment: Obj, replicasets: Iterable[Obj]) -> list[Obj]:
    """The ReplicaSets this Deployment controls (by controller owner reference), newest revision first."""
    uid = _meta(deployment).get("uid")
    owned = [
        rs
        for rs in replicasets
        if any(ref.get("uid") == uid and ref.get("controller") for ref in _meta(rs).get("ownerReferences") or ())
    ]
    return sorted(owned, key=revision_of, reverse=True)


def new_replicaset(deployment: Obj, replicasets: Iterable[Obj]) -> Obj | None:
    """The Deployment's current ReplicaSet. Like kubectl's FindNewReplicaSet: the oldest owned ReplicaSet whose
    pod template (hash label ignored) equals the Deployment's; failing that, once the controller has observed
    the Deployment, the one carrying the Deployment's revision."""
    owned = owned_replicasets(deployment, replicasets)
    template = (deployment.get("spec") or {}).get("template") or {}
    matching = [rs for rs in owned if same_template(rs, template)]
    if matching:
        return min(matching, key=lambda rs: (_meta(rs).get("creationTimestamp") or "", _meta(rs).get("name", "")))
    status = deployment.get("status") or {}
    revision = revision_of(deployment)
    if revision and (_meta(deployment).get("generation") or 0) <= (status.get("observedGeneration") or 0):
        return next((rs for rs in owned if revision_of(rs) == revision), None)
    return None


def previous_replicaset(deployment: Obj, replicasets: Iterable[Obj], to_revision: int | None = None) -> Obj | None:
    """The ReplicaSet `rollout undo` returns to: the one with `to_revision`, or the second-highest revision."""
    owned = owned_replicasets(deployment, replicasets)
    if to_revision:
        return next((rs for rs in owned if revision_of(rs) == to_revision), None)
    if len(owned) < 2:
        return None
    # kubectl takes the highest revision below the maximum, whatever the Deployment currently says.
    return owned[1] if revision_of(owned[1]) < revision_of(owned[0]) else None


def template_without_hash(replicaset: Obj) -> dict[str, Any]:
    """A ReplicaSet's pod template with the `pod-template-hash` label removed (what undo copies back)."""
    template = copy.deepcopy(dict((replicaset.get("spec") or {}).get("template") or {}))
    labels = (template.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return template


def same_template(replicaset: Obj, template: Obj) -> bool:
    """True when the ReplicaSet's pod template, hash label ignored, equals `template` (a Deployment's)."""
    return _canonical(template_without_hash(replicaset)) == _canonical(template)


def _canonical(template: Obj) -> str:
    # Drop empties the API server may add or omit (creationTimestamp: null, empty maps) before comparing.
    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            items = {k: clean(v) for k, v in value.items()}
            return {k: v for k, v in items.items() if v not in (None, {}, [])}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(template), sort_keys=True)


def undo_annotations(deployment: Obj, replicaset: Obj) -> dict[str, str]:
    """The Deployment's annotations after an undo: kubectl keeps the skipped ones from the Deployment and takes
    every other annotation from the ReplicaSet."""
    current = _meta(deployment).get("annotations") or {}
    result = {k: v for k, v in current.items() if k in ANNOTATIONS_TO_SKIP}
    result.update(
        {k: v for k, v in (_meta(replicaset).get("annotations") or {}).items() if k not in ANNOTATIONS_TO_SKIP}
    )
    return result


def undo_patch(deployment: Obj, replicaset: Obj) -> list[dict[str, Any]]:
    """The JSON patch `kubectl rollout undo` sends: the old template back, annotations as `undo_annotations`."""
    return [
        {"op": "replace", "path": "/spec/template", "value": template_without_hash(replicaset)},
        {"op": "replace", "path": "/metadata/annotations", "value": undo_annotations(deployment, replicaset)},
    ]


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector (`matchLabels`, `matchExpressions`) as the query-string form list/watch calls take."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), sorted(expr.get("values") or ())
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(f"unknown label selector operator {op!r}")
    return ",".join(parts)


def owned_pods(replicaset: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The pods a ReplicaSet controls (by controller owner reference), sorted by name."""
    uid = _meta(replicaset).get("uid")
    return sorted(
        (
            p
            for p in pods
            if any(r.get("uid") == uid and r.get("controller") for r in _meta(p).get("ownerReferences") or ())
        ),
        key=lambda p: _meta(p).get("name", ""),
    )


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}
