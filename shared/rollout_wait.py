"""Waiting for a workload's rollout, and undoing one: the effects around the pure rules of `shared.rollout`
(Deployments with their ReplicaSets; StatefulSets and DaemonSets with their ControllerRevisions).

The wait WATCHES the workload (field selector `metadata.name`, as kubectl does), its history and the pods
of its selector, each in a thread that lists, then watches from the list's resourceVersion. A watch that the
server closes is resumed from the last resourceVersion; one that expired (410 Gone) or lost its connection
(API server restarting, a proxy cut) is resumed from a fresh list, so no change is missed and none of this is
reported as a failure; right after a lost connection, 401/403 answers are retried too (`shared.restart_grace`).
Only the timeout, a failed rollout or refused credentials end the wait.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from shared import revisions, rollout
from shared.errors import PluginError, RolloutFailed
from shared.kube import Cluster, api_path, request_errors
from shared.log import Log
from shared.restart_grace import BACKOFF_START, next_delay
from shared.watching import WINDOW, Watch, WatchExpired

EVENTS_SHOWN = 20


@dataclass(frozen=True)
class RolloutResult:
    revision: str
    replicaset: str  # the new ReplicaSet, or ControllerRevision for the other kinds
    seconds: float
    waited: bool = True  # False: an update strategy kubectl does not wait for (OnDelete); reported only


# The API's name of each kind (AppsV1Api's read_/list_/patch_namespaced_<name>) and of its history.
_API = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}
_HISTORY = {"Deployment": "replica_set", "StatefulSet": "controller_revision", "DaemonSet": "controller_revision"}
# Their REST plurals, for reads by path (`shared.kube.api_path`).
PLURAL = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
HISTORY_PLURAL = {"Deployment": "replicasets", "StatefulSet": "controllerrevisions", "DaemonSet": "controllerrevisions"}


def api(cluster: Cluster, verb: str, kind: str) -> Callable[..., Any]:
    """`cluster.apps.<verb>_namespaced_<kind>`, e.g. api(cluster, "patch", "StatefulSet")."""
    fn: Callable[..., Any] = getattr(cluster.apps, f"{verb}_namespaced_{_API[kind]}")
    return fn


def label(kind: str, name: str) -> str:
    """How messages name a workload: `deployment "web"`, `statefulset "db"`, `daemonset "agent"`."""
    return f'{kind.lower()} "{name}"'


# -- what the watcher threads send to the waiting thread ----------------------------------------------------


@dataclass(frozen=True)
class _Sync:
    kind: str
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class _Change:
    kind: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]


@dataclass(frozen=True)
class _Note:
    text: str


@dataclass(frozen=True)
class _Fatal:
    error: PluginError


JOIN_TIMEOUT = 5.0


class _Watcher(threading.Thread):
    """List then watch one kind, forever (until `stop`), sending _Sync/_Change/_Note/_Fatal to `out`."""

    def __init__(
        self,
        cluster: Cluster,
        kind: str,
        list_fn: Callable[..., Any],
        namespace: str,
        out: queue.Queue[object],
        stop: threading.Event,
        **selector: Any,
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.cluster, self.kind, self.list_fn, self.namespace = cluster, kind, list_fn, namespace
        self.out, self.stop, self.selector = out, stop, selector
        self.response: Any = None  # the open watch, so `interrupt` can end a blocked read

    def interrupt(self) -> None:
        """Unblock a read in progress (the thread then sees `stop` and ends) instead of waiting for the window."""
        resp = self.response
        if resp is not None and hasattr(resp, "shutdown"):
            try:
                resp.shutdown()
            except (OSError, ValueError, RuntimeError):
                pass  # already closed or released: nothing to unblock

    def run(self) -> None:
        version: str | None = None
        delay = BACKOFF_START
        while not self.stop.is_set():
            try:
                if version is None:
                    listed = self.cluster.raw(self.list_fn, self.namespace, **self.selector)
                    version = listed["metadata"]["resourceVersion"]
                    self.out.put(_Sync(self.kind, listed.get("items") or []))
                version = self._watch(version)
                delay = BACKOFF_START
            except WatchExpired:
                self.out.put(_Note(f"watch of {self.kind}s expired (410 Gone); listing again"))
                version = None
            except request_errors() as e:
                if self.stop.is_set():
                    return
                # The waiting thread owns the deadline: here the only bound is the grace window of a 401/403.
                if not self.cluster.should_retry(e, float("inf"), delay):
                    self.out.put(_Fatal(self.cluster.explain(e)))
                    return
                self.out.put(_Note(f"watch of {self.kind}s interrupted ({self.cluster.explain(e)}); resuming"))
                version = None
                self.stop.wait(delay)
                delay = next_delay(delay)
            except Exception as e:  # noqa: BLE001 - a thread must report, never die silently
                self.out.put(_Fatal(PluginError(f"watch of {self.kind}s failed: {type(e).__name__}: {e}")))
                return

    def _watch(self, version: str) -> str:
        """Watch from `version` until the server closes the stream; the last resourceVersion seen."""
        # The read timeout notices a silent dead connection after the window plus a margin.
        with Watch(self.list_fn, self.namespace, version, read_timeout=WINDOW + 15, **self.selector) as watch:
            self.response = watch.response
            try:
                if self.stop.is_set():  # stopped while connecting: `interrupt` found no response to shut down
                    return version
                for kind, obj in watch:
                    self.out.put(_Change(self.kind, kind, obj))
                    if self.stop.is_set():
                        break
            finally:
                self.response = None
        return watch.version


class _State:
    """The latest copy of every watched object, by kind and name."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"workload": {}, "history": {}, "pod": {}}

    def apply(self, item: _Sync | _Change) -> None:
        if isinstance(item, _Sync):
            self.objects[item.kind] = {o["metadata"]["name"]: o for o in item.items}
        elif item.type == "DELETED":
            self.objects[item.kind].pop(item.obj["metadata"]["name"], None)
        else:
            self.objects[item.kind][item.obj["metadata"]["name"]] = item.obj

    def values(self, kind: str) -> list[dict[str, Any]]:
        return list(self.objects[kind].values())


def wait_for_rollout(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    timeout: float,
    log: Log,
    max_restarts: int = 2,
    kind: str = "Deployment",
) -> RolloutResult:
    """Wait until workload `name` (a Deployment, StatefulSet or DaemonSet) is rolled out by kubectl's rules;
    RolloutFailed (with the pod, container, reason and last termination) as soon as a new pod crash-loops, cannot
    pull its image or restarts more than `max_restarts` times, or at `timeout` naming the pods that never became
    Ready. An update strategy kubectl does not wait for (OnDelete) is reported and not waited for."""
    started = time.monotonic()
    deadline = started + timeout
    workload = _read_workload(cluster, kind, namespace, name, deadline, log)
    selector = rollout.selector_string((workload.get("spec") or {}).get("selector"))
    if kind == "StatefulSet" and (partition := rollout.partition_of(workload)):
        log.info(f"{label(kind, name)}: partition {partition}, so only ordinals {partition} and above are updated")
    updates: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    history_list = getattr(cluster.apps, f"list_namespaced_{_HISTORY[kind]}")
    watchers = [
        _Watcher(
            cluster,
            "workload",
            api(cluster, "list", kind),
            namespace,
            updates,
            stop,
            field_selector=f"metadata.name={name}",
        ),
        _Watcher(cluster, "history", history_list, namespace, updates, stop, label_selector=selector),
        _Watcher(cluster, "pod", cluster.core.list_namespaced_pod, namespace, updates, stop, label_selector=selector),
    ]
    state = _State()
    synced: set[str] = set()
    shown = ""
    gone = f"{label(kind, name)} was deleted while waiting for its rollout"
    try:
        for watcher in watchers:
            watcher.start()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = updates.get(timeout=remaining)
            except queue.Empty:
                break
            if isinstance(item, _Fatal):
                raise item.error
            if isinstance(item, _Note):
                log.progress(item.text)
                continue
            assert isinstance(item, (_Sync, _Change))
            if isinstance(item, _Change) and item.kind == "workload" and item.type == "DELETED":
                raise RolloutFailed(gone)
            state.apply(item)
            if isinstance(item, _Sync):
                synced.add(item.kind)
            if len(synced) < len(watchers) or not updates.empty():
                continue  # judge only a complete picture, and the newest one
            current = state.objects["workload"].get(name)
            if current is None:
                raise RolloutFailed(gone)
            verdict = rollout.assess(kind, current, state.values("history"), state.values("pod"), max_restarts)
            if verdict.message != shown:
                log.progress(verdict.message)
                shown = verdict.message
            if verdict.failed:
                _log_events(cluster, namespace, kind, name, state, log)
                raise RolloutFailed(f"rollout of {label(kind, name)} failed: {verdict.message}")
            if not verdict.waited:
                strategy = ((current.get("spec") or {}).get("updateStrategy") or {}).get("type")
                log.warn(f"{label(kind, name)}: update strategy {strategy}, not waited for (as kubectl)")
            if verdict.done:
                elapsed = time.monotonic() - started
                return RolloutResult(verdict.revision, verdict.replicaset, elapsed, verdict.waited)
        # Timed out: judge the last picture we have and name the pods that never became Ready.
        current = state.objects["workload"].get(name, workload)
        verdict = rollout.assess(kind, current, state.values("history"), state.values("pod"), max_restarts)
        _log_events(cluster, namespace, kind, name, state, log)
        raise RolloutFailed(timeout_message(name, timeout, verdict, kind))
    finally:
        stop.set()
        for watcher in watchers:
            watcher.interrupt()
        # Join them: a daemon thread still inside an SSL read when the interpreter exits can abort the process.
        for watcher in watchers:
            watcher.join(timeout=JOIN_TIMEOUT)


def timeout_message(name: str, timeout: float, verdict: rollout.Assessment, kind: str = "Deployment") -> str:
    text = f"{label(kind, name)} did not finish rolling out within {round(timeout, 1):g}s: {verdict.message}"
    if verdict.unready:
        text += f"; pods never Ready: {', '.join(verdict.unready)}"
    return text


def _read_workload(cluster: Cluster, kind: str, namespace: str, name: str, deadline: float, log: Log) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        try:
            found: dict[str, Any] = cluster.raw(api_path("apps/v1", PLURAL[kind], namespace, name))
            return found
        except ApiException as e:
            if e.status == 404:
                raise RolloutFailed(f'{label(kind, name)} not found in namespace "{namespace}"') from None
            raise

    result: dict[str, Any] = cluster.retrying(read, deadline, log, f"reading {label(kind, name)}")
    return result


def _log_events(cluster: Cluster, namespace: str, kind: str, name: str, state: _State, log: Log) -> None:
    """The recent Events of the workload, its history and their pods, oldest first (best effort: a failure to
    read them must not hide the rollout's own failure)."""
    names = {name, *state.objects["history"], *state.objects["pod"]}
    try:
        listed = cluster.raw(api_path("v1", "events", namespace), timeout=10)
    except request_errors() as e:
        log.warn(f"could not read events: {cluster.explain(e)}")
        return
    events = [e for e in listed.get("items") or [] if (e.get("involvedObject") or {}).get("name") in names]
    events.sort(key=event_time)
    log.heading(f"Recent events of {label(kind, name)}, its {_HISTORY[kind].replace('_', ' ')}s and pods")
    if not events:
        log.info("(none)")
        return
    log.table(
        ("last seen", "object", "type", "reason", "message"),
        [
            (
                event_time(e),
                f"{e['involvedObject'].get('kind', '')}/{e['involvedObject'].get('name', '')}",
                e.get("type", ""),
                e.get("reason", "") + (f" (x{e['count']})" if (e.get("count") or 0) > 1 else ""),
                (e.get("message") or "").strip()[:160],
            )
            for e in events[-EVENTS_SHOWN:]
        ],
    )


def event_time(event: dict[str, Any]) -> str:
    """When an event was last seen, as `YYYY-MM-DDTHH:MM:SSZ` (core/v1 and events.k8s.io fields both)."""
    series = event.get("series") or {}
    stamp = str(
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )
    # MicroTime has fractions, Time has none: cut to seconds so they sort and read alike.
    return stamp.split(".")[0].removesuffix("Z") + "Z" if stamp else ""


def undo_rollout(
    cluster: Cluster, namespace: str, name: str, *, log: Log, to_revision: int | None = None, kind: str = "Deployment"
) -> str:
    """`kubectl rollout undo`: copy the previous revision's pod template back into the workload (for a
    Deployment without `pod-template-hash`, refusing a paused one; for the other kinds from their
    ControllerRevisions). Returns the revision rolled back to, as numbered before the undo (the controller then
    renumbers it to the next revision). Callers wait_for_rollout next."""
    deadline = time.monotonic() + 60
    workload = _read_workload(cluster, kind, namespace, name, deadline, log)
    if kind == "Deployment" and (workload.get("spec") or {}).get("paused"):
        raise RolloutFailed(
            f'cannot roll back deployment "{name}": it is paused (resume it first: kubectl rollout resume)'
        )
    selector = rollout.selector_string((workload.get("spec") or {}).get("selector"))
    listed = cluster.retrying(
        lambda: cluster.raw(api_path("apps/v1", HISTORY_PLURAL[kind], namespace), label_selector=selector),
        deadline,
        log,
        f"listing the history of {label(kind, name)}",
    )
    history = listed.get("items") or []
    template = (workload.get("spec") or {}).get("template") or {}
    if kind == "Deployment":
        target = rollout.previous_replicaset(workload, history, to_revision)
        revision = str(rollout.revision_of(target)) if target else ""
        same = target is not None and rollout.same_template(target, template)
        patch = rollout.undo_patch(workload, target) if target else []
    else:
        target = revisions.previous(workload, history, to_revision)
        revision = str(revisions.number(target)) if target else ""
        same = target is not None and rollout.same_template(
            {"spec": {"template": revisions.template_of(target)}}, template
        )
        patch = revisions.undo_patch(target) if target else []
    if target is None:
        wanted = f"revision {to_revision}" if to_revision else "a previous revision"
        raise RolloutFailed(f"cannot roll back {label(kind, name)}: it has no {wanted}")
    if same:
        log.info(f"{label(kind, name)}: skipped rollback (current template already matches revision {revision})")
        return revision
    cluster.retrying(
        lambda: api(cluster, "patch", kind)(name, namespace, patch, _request_timeout=30),
        deadline,
        log,
        f"rolling back {label(kind, name)}",
    )
    history_kind = "ReplicaSet" if kind == "Deployment" else "ControllerRevision"
    log.info(f"{label(kind, name)} rolled back to revision {revision} ({history_kind} {target['metadata']['name']})")
    if kind == "StatefulSet":
        _force_rollback(cluster, namespace, workload, history, selector, deadline, log)
    return revision


def _force_rollback(
    cluster: Cluster,
    namespace: str,
    sts: dict[str, Any],
    history: list[dict[str, Any]],
    selector: str,
    deadline: float,
    log: Log,
) -> None:
    """Kubernetes' documented "forced rollback": a StatefulSet (OrderedReady) never replaces a pod of the failed
    revision that is not Ready, so the rollback would wait forever. Those pods are deleted; the controller
    recreates them from the restored template under the same names."""
    failed = revisions.current("StatefulSet", sts, history)
    if failed is None:
        return
    pods = cluster.retrying(
        lambda: cluster.raw(api_path("v1", "pods", namespace), label_selector=selector),
        deadline,
        log,
        "listing pods",
    )
    for pod in revisions.pods_of(sts, failed, pods.get("items") or []):
        if rollout.is_ready(pod) or pod["metadata"].get("deletionTimestamp"):
            continue
        pod_name: str = pod["metadata"]["name"]
        delete = functools.partial(cluster.core.delete_namespaced_pod, pod_name, namespace, _request_timeout=30)
        cluster.retrying(delete, deadline, log, f"deleting pod {pod_name}")
        log.info(f"deleted pod {pod_name}: not Ready at the failed revision, recreated from the restored template")


def new_pods(cluster: Cluster, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    """The live pods of a workload's new revision (its new ReplicaSet's, or at its new ControllerRevision)."""
    workload = cluster.read(api_path("apps/v1", PLURAL[kind], namespace, name))
    selector = rollout.selector_string((workload.get("spec") or {}).get("selector"))
    history = cluster.read(api_path("apps/v1", HISTORY_PLURAL[kind], namespace), label_selector=selector)
    pods = cluster.read(api_path("v1", "pods", namespace), label_selector=selector)
    found = rollout.new_pods(kind, workload, history.get("items") or [], pods.get("items") or [])
    return [dict(p) for p in found if not p["metadata"].get("deletionTimestamp")]
