"""Things that only read: the target pods and their owners, workload availability, and the recovery watch.

Recovery is timed from WATCH events, not sleeps: the pods of every targeted workload are watched until each
workload has as many Ready pods (other than the killed ones) as it wants, then each workload's own status is
confirmed (watched again if the controller has not caught up yet). The time of the event that completed the
picture is the recovery time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugins.chaos_kill.plan import Probe
from plugins.chaos_kill.selection import Key, controller_of, show
from shared import http_checks, rollout
from shared.errors import PluginError
from shared.kube import Cluster, api_path, request_errors
from shared.report import Check
from shared.restart_grace import BACKOFF_START, next_delay
from shared.watching import WINDOW, Watch, WatchError

if TYPE_CHECKING:
    import requests

Obj = dict[str, Any]
# Kinds whose objects we read: kind -> (apiVersion, plural) of their REST path; of the apps/v1 ones, the name in the
# typed client's list_namespaced_<name> too (what their availability is watched with).
_READABLE = {
    "ReplicaSet": ("apps/v1", "replicasets"),
    "Deployment": ("apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "DaemonSet": ("apps/v1", "daemonsets"),
    "Job": ("batch/v1", "jobs"),
    "ReplicationController": ("v1", "replicationcontrollers"),
}
_WATCHED = {
    "ReplicaSet": "replica_set",
    "Deployment": "deployment",
    "StatefulSet": "stateful_set",
    "DaemonSet": "daemon_set",
}


@dataclass(frozen=True)
class Availability:
    ok: bool
    message: str


@dataclass(frozen=True)
class Recovery:
    recovered: bool
    seconds: float  # first kill -> all Ready again (or the time waited, when not recovered)
    missing: tuple[str, ...]  # per workload that did not recover: what it lacks


class HttpProber:
    """Runs a probe: `probe.requests` requests (0.1 s apart), every one meeting the expectation, and the p95
    latency within its limit. Its requests.Session (and requests itself) is made at the first probe: a run without
    HTTP probes never loads them."""

    def __init__(self) -> None:
        self.session: requests.Session | None = None

    def __call__(self, probe: Probe) -> Check:
        if self.session is None:
            import requests

            self.session = requests.Session()
        started = time.monotonic()
        stats = http_checks.measure(probe.url, probe.expectation, probe.requests, 0.1, self.session)
        problems = http_checks.violations(stats, 0.0, probe.expectation.max_latency_ms)
        return Check(
            probe.name,
            not problems,
            f"{stats.total - stats.errors}/{stats.total} ok, p95 {stats.p95_ms:.0f} ms",
            probe.wants(),
            "; ".join(problems),
            time.monotonic() - started,
        )

    def __enter__(self) -> HttpProber:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            self.session.close()


class Reader:
    """Reads pods and workloads of one namespace; every failure becomes a one-line PluginError/AuthError."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace

    def _raw(self, path: str, deadline: float | None = None, missing_ok: bool = False, **query: Any) -> Obj:
        """One read; with a `deadline`, retried while the API server is away or restarting (`restart_grace`);
        with `missing_ok`, an object that is not there (404) reads as {}."""
        result: Obj = self.cluster.read(path, deadline=deadline, missing_ok=missing_ok, **query)
        return result

    def list_pods(
        self, label_selector: str | None = None, field_selector: str | None = None, deadline: float | None = None
    ) -> Obj:
        kwargs: dict[str, Any] = {
            k: v for k, v in (("label_selector", label_selector), ("field_selector", field_selector)) if v
        }
        return self._raw(api_path("v1", "pods", self.namespace), deadline=deadline, **kwargs)

    def read(self, key: Key, deadline: float | None = None, missing_ok: bool = False) -> Obj:
        kind, name = key
        if kind not in _READABLE:
            raise PluginError(f"cannot read a {kind}")
        return self._raw(api_path(*_READABLE[kind], self.namespace, name), deadline=deadline, missing_ok=missing_ok)

    def owners(self, pods: list[Obj]) -> dict[Key, Obj]:
        """Every controller the pods point at, and their own controllers (ReplicaSet -> Deployment)."""
        found: dict[Key, Obj] = {}
        todo = [k for k in (controller_of(p) for p in pods) if k is not None]
        while todo:
            key = todo.pop()
            if key in found or key[0] not in _READABLE:
                continue
            # A controller already deleted (a removed canary's ReplicaSet) while its pods still terminate: its pods
            # keep an unresolved owner (and terminating pods are never chosen).
            owner = self.read(key, missing_ok=True)
            if not owner:
                continue
            found[key] = owner
            parent = controller_of(owner)
            if parent is not None:
                todo.append(parent)
        return found

    def watch(self, fn: Callable[..., Any], version: str, deadline: float, **selector: Any) -> Iterator[Obj]:
        """Watch events from `version` until `deadline`, resuming when the server closes a window or the
        connection drops, and riding out an API server restart (`restart_grace`)."""
        import urllib3  # loaded with the typed client `fn` belongs to

        delay = BACKOFF_START
        while (remaining := deadline - time.monotonic()) > 0:
            window = max(1, min(WINDOW, int(remaining + 0.999)))
            try:
                opened = Watch(fn, self.namespace, version, window=window, read_timeout=window + 10, **selector)
            except request_errors() as e:
                if not self.cluster.should_retry(e, deadline, delay):
                    raise self.cluster.explain(e) from None
                time.sleep(delay)
                delay = next_delay(delay)
                continue
            delay = BACKOFF_START
            with opened as watch:
                try:
                    for kind, obj in watch:
                        yield {"type": kind, "object": obj}
                        if time.monotonic() >= deadline:
                            return
                except (urllib3.exceptions.HTTPError, OSError):
                    self.cluster.grace.connection_lost()  # dropped: watch again from the last version seen
            version = watch.version

    # -- recovery ------------------------------------------------------------------------------------------

    def wait_for_recovery(
        self, workloads: Mapping[Key, Obj], owners: Mapping[Key, Obj], killed: set[str], started: float, timeout: float
    ) -> Recovery:
        """Wait until every workload in `workloads` has all its pods Ready (the killed ones not counted) and
        reports itself fully available. `started` is the monotonic time of the first kill."""
        deadline = started + timeout
        targets = {k: v for k, v in workloads.items() if desired_pods(k, v) is not None}
        owner_of = _owner_map(owners)
        pods = _PodState(owner_of, killed)
        done_at = self._wait_pods_ready(pods, targets, deadline)
        if done_at is None:
            return Recovery(False, time.monotonic() - started, pods.missing(targets))
        # The pods are back; now each workload's status must say so too (the controllers may lag a moment).
        for key in sorted(targets):
            at = self._wait_available(key, deadline)
            if at is None:
                current = self.read(key, deadline=time.monotonic() + self.cluster.timeout)
                verdict = availability(key[0], current)
                return Recovery(False, time.monotonic() - started, (f"{show(key)}: {verdict.message}",))
            done_at = max(done_at, at)
        return Recovery(True, done_at - started, ())

    def _wait_pods_ready(self, pods: _PodState, targets: Mapping[Key, Obj], deadline: float) -> float | None:
        """When every target has its Ready pods (None: not by `deadline`). A watch the server ends with an error
        (410 Gone after an API server restart, say) is followed by a fresh list and a new watch."""
        while True:
            listed = self.list_pods(deadline=deadline)
            pods.sync(listed.get("items") or [])
            if pods.complete(targets):
                return time.monotonic()
            if time.monotonic() >= deadline:
                return None
            try:
                for event in self.watch(
                    self.cluster.core.list_namespaced_pod, listed["metadata"]["resourceVersion"], deadline
                ):
                    pods.apply(event)
                    if pods.complete(targets):
                        return time.monotonic()
            except WatchError:
                time.sleep(BACKOFF_START)

    def _wait_available(self, key: Key, deadline: float) -> float | None:
        """When workload `key` reports itself fully available (0.0: it already does; None: not by `deadline`),
        listing and watching afresh after a watch error as above."""
        kind, name = key
        fn = getattr(self.cluster.apps, f"list_namespaced_{_WATCHED[kind]}") if kind in _WATCHED else None
        at: float = 0.0
        while True:
            current = self.read(key, deadline=deadline)
            if availability(kind, current).ok:
                return at
            if fn is None or time.monotonic() >= deadline:
                return None
            try:
                version = current["metadata"]["resourceVersion"]
                for event in self.watch(fn, version, deadline, field_selector=f"metadata.name={name}"):
                    if event.get("type") != "DELETED" and availability(kind, event["object"]).ok:
                        return time.monotonic()
            except WatchError:
                time.sleep(BACKOFF_START)
            at = time.monotonic()  # available at the re-read, if it says so


def _owner_map(owners: Mapping[Key, Obj]) -> dict[Key, Key]:
    """Direct controller -> top-level workload (a ReplicaSet -> its Deployment; others -> themselves)."""
    result = {}
    for key, obj in owners.items():
        parent = controller_of(obj)
        result[key] = parent if parent is not None and parent in owners else key
    return result


class _PodState:
    """The latest copy of every pod in the namespace, counted per top-level workload."""

    def __init__(self, owner_of: Mapping[Key, Key], killed: set[str]) -> None:
        self.owner_of, self.killed = owner_of, killed
        self.pods: dict[str, Obj] = {}

    def sync(self, items: list[Obj]) -> None:
        self.pods = {p["metadata"]["uid"]: p for p in items}

    def apply(self, event: Mapping[str, Any]) -> None:
        obj = event["object"]
        uid = obj["metadata"]["uid"]
        if event["type"] == "DELETED":
            self.pods.pop(uid, None)
        else:
            self.pods[uid] = obj

    def of(self, workload: Key) -> list[Obj]:
        return [
            p
            for uid, p in self.pods.items()
            if uid not in self.killed
            and not p["metadata"].get("deletionTimestamp")
            and (owner := controller_of(p)) is not None
            and self.owner_of.get(owner) == workload
        ]

    def complete(self, targets: Mapping[Key, Obj]) -> bool:
        return all(not self._lacks(key, obj) for key, obj in targets.items())

    def _lacks(self, key: Key, obj: Obj) -> str:
        """What workload `key` lacks to be recovered ("" when nothing): Ready pods, and for a StatefulSet the pod
        of every ordinal back under its own name."""
        pods = self.of(key)
        ready = {p["metadata"]["name"] for p in pods if rollout.is_ready(p)}
        desired = desired_pods(key, obj) or 0
        if key[0] == "StatefulSet":
            absent = [f"{key[1]}-{i}" for i in range(desired) if f"{key[1]}-{i}" not in ready]
            return f"{show(key)}: {', '.join(absent)} not back and Ready" if absent else ""
        return f"{show(key)}: {len(ready)} of {desired} pods Ready" if len(ready) < desired else ""

    def missing(self, targets: Mapping[Key, Obj]) -> tuple[str, ...]:
        result = []
        for key, obj in sorted(targets.items()):
            pods = sorted(self.of(key), key=lambda p: p["metadata"]["name"])
            lacks = self._lacks(key, obj)
            if not lacks:
                continue
            unready = [
                f"{p['metadata']['name']} ({rollout.not_ready_reason(p)})" for p in pods if not rollout.is_ready(p)
            ]
            text = lacks
            if unready:
                text += "; not Ready: " + ", ".join(unready)
            result.append(text)
        return tuple(result)


# -- pure rules --------------------------------------------------------------------------------------------


def desired_pods(key: Key, obj: Mapping[str, Any]) -> int | None:
    """How many Ready pods a workload wants; None for kinds without that notion (Jobs)."""
    kind = key[0]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController"):
        return int(spec.get("replicas", 1))
    if kind == "DaemonSet":
        return int(status.get("desiredNumberScheduled") or 0)
    return None


def availability(kind: str, obj: Mapping[str, Any]) -> Availability:
    """Is the workload fully available? Deployments, StatefulSets and DaemonSets by kubectl's rollout rules for
    their kind (an OnDelete one, which kubectl does not judge, and the other kinds by their counts)."""
    name = (obj.get("metadata") or {}).get("name", "")
    if kind in rollout.KINDS and (verdict := rollout.status_of(kind, obj)).waited:
        return Availability(verdict.done, verdict.message)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "DaemonSet":
        want, have = int(status.get("desiredNumberScheduled") or 0), int(status.get("numberAvailable") or 0)
    elif kind == "Job":
        return Availability(True, f"job {name}: not checked (a Job has no availability)")
    else:
        want, have = int(spec.get("replicas", 1)), int(status.get("availableReplicas") or 0)
    label = f"{kind.lower()} {name}"
    if have >= want:
        return Availability(True, f"{label}: {have} of {want} available")
    return Availability(False, f"{label}: {have} of {want} available")
