"""The pure rules of probes.py: workload availability, desired pods, and the recovery picture."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.chaos_kill.probes import _owner_map, _PodState, availability, desired_pods

RS = ("ReplicaSet", "web-1")
DEP = ("Deployment", "web")


def deployment(replicas: int, available: int, updated: int | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": 1},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas if updated is None else updated,
            "availableReplicas": available,
        },
    }


def statefulset(replicas: int, ready: int, strategy: str = "RollingUpdate", available: int = 3) -> dict[str, Any]:
    return {
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": replicas, "updateStrategy": {"type": strategy, "rollingUpdate": {"partition": 0}}},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": ready,
            "updatedReplicas": replicas,
            "availableReplicas": available,
        },
    }


@pytest.mark.parametrize(
    ("kind", "obj", "ok"),
    [
        pytest.param("Deployment", deployment(4, 4), True, id="deployment-available"),
        pytest.param("Deployment", deployment(4, 2), False, id="deployment-short"),
        pytest.param("Deployment", deployment(4, 4, updated=2), False, id="deployment-rolling"),
        pytest.param("ReplicaSet", {"spec": {"replicas": 2}, "status": {"availableReplicas": 2}}, True, id="rs"),
        pytest.param("ReplicaSet", {"spec": {"replicas": 2}, "status": {}}, False, id="rs-none-available"),
        pytest.param("StatefulSet", {"spec": {"replicas": 3}, "status": {"availableReplicas": 2}}, False, id="sts"),
        pytest.param("StatefulSet", statefulset(3, ready=3), True, id="sts-by-kubectls-rules"),
        pytest.param("StatefulSet", statefulset(3, ready=2), False, id="sts-pod-not-ready"),
        pytest.param(
            "StatefulSet", statefulset(3, ready=3, strategy="OnDelete", available=2), False, id="sts-ondelete-counts"
        ),
        pytest.param(
            "DaemonSet",
            {"status": {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}},
            True,
            id="daemonset",
        ),
        pytest.param(
            "DaemonSet",
            {"status": {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}},
            False,
            id="daemonset-short",
        ),
        pytest.param("Job", {}, True, id="job-not-checked"),
    ],
)
def test_availability(kind: str, obj: dict[str, Any], ok: bool) -> None:
    assert availability(kind, obj).ok is ok


def test_desired_pods() -> None:
    assert desired_pods(DEP, deployment(4, 4)) == 4
    assert desired_pods(("DaemonSet", "d"), {"status": {"desiredNumberScheduled": 3}}) == 3
    assert desired_pods(("Job", "j"), {}) is None


def pod(name: str, ready: bool, owner: tuple[str, str] = RS, terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": name,
        "ownerReferences": [{"kind": owner[0], "name": owner[1], "controller": True}],
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_recovery_picture_ignores_killed_and_terminating_pods() -> None:
    owners = {RS: {"metadata": {"ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}]}}}
    owners[DEP] = {"metadata": {}}
    state = _PodState(_owner_map(owners), killed={"a"})
    targets = {DEP: deployment(3, 3)}
    # The killed pod still looks Ready (the controller has not caught up): it must not count.
    state.sync([pod("a", True), pod("b", True), pod("c", True)])
    assert not state.complete(targets)
    state.apply({"type": "ADDED", "object": pod("d", False)})
    assert not state.complete(targets)
    assert state.missing(targets) == ("deployment/web: 2 of 3 pods Ready; not Ready: d (Running)",)
    state.apply({"type": "MODIFIED", "object": pod("c", True, terminating=True)})
    state.apply({"type": "MODIFIED", "object": pod("d", True)})
    assert not state.complete(targets)  # c is terminating
    state.apply({"type": "ADDED", "object": pod("e", True)})
    state.apply({"type": "ADDED", "object": pod("x", True, owner=("ReplicaSet", "other"))})
    assert state.complete(targets)
    assert state.missing(targets) == ()


def renamed(name: str, ready: bool, owner: tuple[str, str], uid: str) -> dict[str, Any]:
    obj = pod(name, ready, owner)
    obj["metadata"]["uid"] = uid
    return obj


def test_a_statefulset_recovers_when_every_ordinal_is_back_by_name() -> None:
    sts = ("StatefulSet", "db")
    state = _PodState(_owner_map({sts: {"metadata": {}}}), killed={"db-1"})
    targets = {sts: statefulset(3, ready=3)}
    state.sync([pod("db-0", True, sts), pod("db-1", True, sts), pod("db-2", True, sts)])
    assert state.missing(targets) == ("statefulset/db: db-1 not back and Ready",)
    # Back under its own name (a new uid), not Ready yet, then Ready.
    state.apply({"type": "ADDED", "object": renamed("db-1", False, sts, "new")})
    assert not state.complete(targets)
    state.apply({"type": "MODIFIED", "object": renamed("db-1", True, sts, "new")})
    assert state.complete(targets)
