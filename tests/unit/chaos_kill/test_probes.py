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


@pytest.mark.parametrize(
    ("kind", "obj", "ok"),
    [
        pytest.param("Deployment", deployment(4, 4), True, id="deployment-available"),
        pytest.param("Deployment", deployment(4, 2), False, id="deployment-short"),
        pytest.param("Deployment", deployment(4, 4, updated=2), False, id="deployment-rolling"),
        pytest.param("ReplicaSet", {"spec": {"replicas": 2}, "status": {"availableReplicas": 2}}, True, id="rs"),
        pytest.param("ReplicaSet", {"spec": {"replicas": 2}, "status": {}}, False, id="rs-none-available"),
        pytest.param("StatefulSet", {"spec": {"replicas": 3}, "status": {"availableReplicas": 2}}, False, id="sts"),
        pytest.param(
            "DaemonSet", {"status": {"desiredNumberScheduled": 2, "numberAvailable": 2}}, True, id="daemonset"
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
