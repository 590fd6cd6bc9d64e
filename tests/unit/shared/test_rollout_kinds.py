"""kubectl's rollout status viewers for Deployments, StatefulSets and DaemonSets, each a table in kubectl's order;
the ControllerRevision history and `assess` for StatefulSets and DaemonSets."""

from __future__ import annotations

from typing import Any

import pytest

from shared import revisions, rollout
from shared.rollout import RolloutStatus


def deployment(
    *,
    generation: int = 2,
    observed: int = 2,
    replicas: int | None = 3,
    updated: int = 3,
    total: int = 3,
    available: int = 3,
    reason: str = "NewReplicaSetAvailable",
    revision: str = "2",
    image: str = "app:2",
    name: str = "web",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": template(image)}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "metadata": {
            "name": name,
            "uid": "dep-uid",
            "generation": generation,
            "annotations": {rollout.REVISION: revision, "team": "shop"},
        },
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": reason},
            ],
        },
    }


def template(image: str, hash_: str | None = None) -> dict[str, Any]:
    labels = {"app": "web"}
    if hash_:
        labels[rollout.HASH_LABEL] = hash_
    return {
        "metadata": {"labels": labels, "creationTimestamp": None},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def statefulset(
    *,
    generation: int = 2,
    observed: int = 2,
    replicas: int | None = 3,
    ready: int = 3,
    updated: int = 3,
    current: int = 3,
    partition: int | None = 0,
    rolling: bool = True,
    strategy: str = "RollingUpdate",
    update_revision: str = "db-new",
    current_revision: str = "db-new",
) -> dict[str, Any]:
    update: dict[str, Any] = {"type": strategy}
    if rolling and strategy == "RollingUpdate":
        update["rollingUpdate"] = {} if partition is None else {"partition": partition}
    spec: dict[str, Any] = {"updateStrategy": update, "template": {"metadata": {"labels": {"app": "db"}}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "metadata": {"name": "db", "uid": "db-uid", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "currentReplicas": current,
            "updateRevision": update_revision,
            "currentRevision": current_revision,
        },
    }


def daemonset(
    *,
    generation: int = 2,
    observed: int = 2,
    desired: int = 3,
    updated: int = 3,
    available: int = 3,
    strategy: str = "RollingUpdate",
) -> dict[str, Any]:
    return {
        "metadata": {"name": "agent", "uid": "agent-uid", "generation": generation},
        "spec": {"updateStrategy": {"type": strategy}},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
        },
    }


# -- rollout_status: kubectl's rules in kubectl's order ---------------------------------------------------

DEPLOYMENT_CASES = [
    pytest.param(
        deployment(),
        RolloutStatus(True, False, 'deployment "web" successfully rolled out'),
        id="complete",
    ),
    pytest.param(
        deployment(generation=3, observed=2, updated=0),
        RolloutStatus(False, False, "Waiting for deployment spec update to be observed..."),
        id="1-generation-not-observed-wins-over-everything",
    ),
    pytest.param(
        deployment(reason="ProgressDeadlineExceeded", updated=1),
        RolloutStatus(False, True, 'deployment "web" exceeded its progress deadline'),
        id="2-progress-deadline",
    ),
    pytest.param(
        deployment(updated=1, total=4, available=3),
        RolloutStatus(
            False, False, 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...'
        ),
        id="3-not-all-updated",
    ),
    pytest.param(
        deployment(updated=3, total=4, available=3),
        RolloutStatus(
            False, False, 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...'
        ),
        id="4-old-pods-remain",
    ),
    pytest.param(
        deployment(updated=3, total=3, available=1),
        RolloutStatus(
            False, False, 'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...'
        ),
        id="5-not-available",
    ),
    pytest.param(
        deployment(replicas=None, updated=0, total=0, available=0),
        RolloutStatus(True, False, 'deployment "web" successfully rolled out'),
        id="no-spec-replicas-skips-rule-3",
    ),
    pytest.param(
        deployment(replicas=0, updated=0, total=0, available=0),
        RolloutStatus(True, False, 'deployment "web" successfully rolled out'),
        id="scaled-to-zero",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), DEPLOYMENT_CASES)
def test_rollout_status(obj: dict[str, Any], expected: RolloutStatus) -> None:
    assert rollout.rollout_status(obj) == expected


STATEFULSET_CASES = [
    pytest.param(
        statefulset(),
        RolloutStatus(True, False, "partitioned roll out complete: 3 new pods have been updated..."),
        id="complete-partition-0-as-kubectl-words-it",
    ),
    pytest.param(
        statefulset(observed=0),
        RolloutStatus(False, False, "Waiting for statefulset spec update to be observed..."),
        id="never-observed",
    ),
    pytest.param(
        statefulset(generation=3, ready=0),
        RolloutStatus(False, False, "Waiting for statefulset spec update to be observed..."),
        id="generation-not-observed-wins",
    ),
    pytest.param(
        statefulset(ready=1, updated=1),
        RolloutStatus(False, False, "Waiting for 2 pods to be ready..."),
        id="pods-not-ready-before-revisions",
    ),
    pytest.param(
        statefulset(partition=2, updated=0),
        RolloutStatus(
            False, False, "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated..."
        ),
        id="partition-waits-for-the-ordinals-above-it",
    ),
    pytest.param(
        statefulset(partition=2, updated=1, current=2, current_revision="db-old"),
        RolloutStatus(True, False, "partitioned roll out complete: 1 new pods have been updated..."),
        id="partition-done-while-lower-ordinals-stay-old",
    ),
    pytest.param(
        statefulset(updated=2),
        RolloutStatus(
            False, False, "Waiting for partitioned roll out to finish: 2 out of 3 new pods have been updated..."
        ),
        id="partition-0-waits-for-all",
    ),
    pytest.param(
        statefulset(rolling=False, updated=1, current=2, current_revision="db-old"),
        RolloutStatus(False, False, "waiting for statefulset rolling update to complete 1 pods at revision db-new..."),
        id="no-rolling-update-block-compares-revisions",
    ),
    pytest.param(
        statefulset(rolling=False),
        RolloutStatus(True, False, "statefulset rolling update complete 3 pods at revision db-new..."),
        id="no-rolling-update-block-complete",
    ),
    pytest.param(
        statefulset(strategy="OnDelete", ready=0),
        RolloutStatus(True, False, rollout.NOT_ROLLING, waited=False),
        id="on-delete-not-waited-for",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), STATEFULSET_CASES)
def test_statefulset_status(obj: dict[str, Any], expected: RolloutStatus) -> None:
    assert rollout.status_of("StatefulSet", obj) == expected


DAEMONSET_CASES = [
    pytest.param(daemonset(), RolloutStatus(True, False, 'daemon set "agent" successfully rolled out'), id="complete"),
    pytest.param(
        daemonset(generation=3, updated=0),
        RolloutStatus(False, False, "Waiting for daemon set spec update to be observed..."),
        id="generation-not-observed",
    ),
    pytest.param(
        daemonset(updated=1, available=3),
        RolloutStatus(
            False, False, 'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...'
        ),
        id="not-every-node-updated",
    ),
    pytest.param(
        daemonset(available=2),
        RolloutStatus(
            False, False, 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...'
        ),
        id="updated-not-available",
    ),
    pytest.param(
        daemonset(strategy="OnDelete", updated=0),
        RolloutStatus(True, False, rollout.NOT_ROLLING, waited=False),
        id="on-delete-not-waited-for",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), DAEMONSET_CASES)
def test_daemonset_status(obj: dict[str, Any], expected: RolloutStatus) -> None:
    assert rollout.status_of("DaemonSet", obj) == expected


def test_partition_of() -> None:
    assert rollout.partition_of(statefulset(partition=2)) == 2
    assert rollout.partition_of(statefulset(rolling=False)) == 0
    assert rollout.partition_of(daemonset()) == 0


# -- ControllerRevisions --------------------------------------------------------------------------------------


def revision(name: str, number: int, image: str, owner: str = "db-uid", hash_: str = "") -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "app", "image": image}]}}
    return {
        "metadata": {
            "name": name,
            "labels": {revisions.HASH_LABEL: hash_ or name.rsplit("-", 1)[-1]},
            "ownerReferences": [{"uid": owner, "controller": True}],
        },
        "revision": number,
        "data": {"spec": {"template": {**template, "$patch": "replace"}}},
    }


def pod(name: str, label: str, owner: str = "db-uid", **status: Any) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "app", "restartCount": status.get("restarts", 0), "state": {"running": {}}}
    if status.get("waiting"):
        cs["state"] = {"waiting": {"reason": status["waiting"]}}
    return {
        "metadata": {
            "name": name,
            "labels": {revisions.POD_LABEL: label},
            "ownerReferences": [{"uid": owner, "controller": True}],
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "False" if status.get("waiting") else "True"}],
            "containerStatuses": [cs],
        },
    }


HISTORY = [revision("db-old", 1, "app:1"), revision("db-new", 2, "app:2"), revision("other-x", 5, "x", owner="x")]


def test_owned_revisions_newest_first_and_only_the_workloads() -> None:
    assert [r["metadata"]["name"] for r in revisions.owned(statefulset(), HISTORY)] == ["db-new", "db-old"]


@pytest.mark.parametrize(
    ("to_revision", "expected"),
    [pytest.param(None, "db-old", id="second-highest"), pytest.param(2, "db-new", id="named"), (7, None)],
)
def test_previous_revision(to_revision: int | None, expected: str | None) -> None:
    found = revisions.previous(statefulset(), HISTORY, to_revision)
    assert (found["metadata"]["name"] if found else None) == expected


def test_no_previous_revision_with_one_revision() -> None:
    assert revisions.previous(statefulset(), HISTORY[:1]) is None


def test_undo_patch_restores_the_template_without_the_patch_directive() -> None:
    patch = revisions.undo_patch(HISTORY[0])
    assert patch == [
        {
            "op": "replace",
            "path": "/spec/template",
            "value": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        }
    ]
    assert "$patch" in HISTORY[0]["data"]["spec"]["template"]  # the revision itself is untouched


def test_current_revision_per_kind() -> None:
    assert revisions.current("StatefulSet", statefulset(), HISTORY)["metadata"]["name"] == "db-new"  # type: ignore[index]
    assert revisions.current("StatefulSet", statefulset(generation=3), HISTORY) is None  # not observed yet
    ds = {**daemonset(), "metadata": {"name": "agent", "uid": "db-uid", "generation": 2}}
    assert revisions.current("DaemonSet", ds, HISTORY)["metadata"]["name"] == "db-new"  # type: ignore[index]


def test_pods_of_a_revision_by_name_or_hash() -> None:
    pods = [pod("db-1", "db-new"), pod("db-0", "db-old"), pod("agent-a", "new"), pod("db-2", "db-new", owner="x")]
    assert [p["metadata"]["name"] for p in revisions.pods_of(statefulset(), HISTORY[1], pods)] == ["agent-a", "db-1"]


def test_pods_of_a_daemonset_revision_by_its_controller_revision_hash_label() -> None:
    # As the DaemonSet controller labels its revisions: the hash under the pods' own key, no other hash label.
    ds_revision = {**HISTORY[1], "metadata": {**HISTORY[1]["metadata"], "labels": {revisions.POD_LABEL: "5975"}}}
    pods = [pod("agent-a", "5975"), pod("agent-b", "1111")]
    assert [p["metadata"]["name"] for p in revisions.pods_of(statefulset(), ds_revision, pods)] == ["agent-a"]


# -- assess for the other kinds ----------------------------------------------------------------------------


def test_assess_statefulset_fails_on_a_crashing_new_pod_only() -> None:
    sts = statefulset(ready=2, updated=1, current=2, current_revision="db-old")
    pods = [pod("db-0", "db-old", waiting="CrashLoopBackOff"), pod("db-2", "db-new", waiting="CrashLoopBackOff")]
    verdict = rollout.assess("StatefulSet", sts, HISTORY, pods, max_restarts=2)
    assert verdict.failed and "pod db-2 container app: CrashLoopBackOff" in verdict.message
    assert "db-0" not in verdict.message  # an old pod crashing is not the rollout's fault
    assert (verdict.replicaset, verdict.revision) == ("db-new", "2")


def test_assess_statefulset_waits_then_completes() -> None:
    waiting = rollout.assess("StatefulSet", statefulset(ready=2), HISTORY, [pod("db-0", "db-new")], 2)
    assert (waiting.done, waiting.failed, waiting.message) == (False, False, "Waiting for 1 pods to be ready...")
    done = rollout.assess("StatefulSet", statefulset(), HISTORY, [pod("db-0", "db-new")], 2)
    assert done.done and done.message == "partitioned roll out complete: 3 new pods have been updated..."


def test_assess_waits_for_the_new_controller_revision() -> None:
    verdict = rollout.assess("StatefulSet", statefulset(update_revision="db-newer"), HISTORY, [], 2)
    assert (verdict.done, verdict.message) == (False, "Waiting for the new ControllerRevision to be seen...")


def test_assess_on_delete_is_reported_not_waited_for() -> None:
    verdict = rollout.assess("DaemonSet", daemonset(strategy="OnDelete", updated=0), [], [], 2)
    assert (verdict.done, verdict.waited, verdict.message) == (True, False, rollout.NOT_ROLLING)


def test_assess_daemonset_restarts_above_the_limit_fail() -> None:
    ds = {**daemonset(available=2), "metadata": {"name": "agent", "uid": "db-uid", "generation": 2}}
    verdict = rollout.assess("DaemonSet", ds, HISTORY, [pod("agent-x", "new", restarts=4)], max_restarts=2)
    assert verdict.failed and "restarted more than 2 times" in verdict.message


# -- kind/name settings and min_stable's judgement -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web", ("Deployment", "web")),
        ("deploy/web", ("Deployment", "web")),
        ("StatefulSet/db", ("StatefulSet", "db")),
        ("sts/db", ("StatefulSet", "db")),
        ("daemonsets/agent", ("DaemonSet", "agent")),
    ],
)
def test_parse_workload(value: str, expected: tuple[str, str]) -> None:
    assert rollout.parse_workload(value) == expected


def test_parse_workload_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match='"pod" is not deployment, statefulset or daemonset'):
        rollout.parse_workload("pod/web")


def crashed(restarts: int, *, ready: bool, running: bool) -> dict[str, Any]:
    ended = {"reason": "Error", "exitCode": 3, "message": "boom after ready\n"}
    cs: dict[str, Any] = {"name": "app", "restartCount": restarts}
    cs["state"] = {"running": {}} if running else {"terminated": ended}
    if restarts:
        cs["lastState"] = {"terminated": ended}
    return {
        "metadata": {"name": "db-0"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [cs],
        },
    }


STABILITY_CASES = [
    pytest.param(crashed(1, ready=True, running=True), 1, "", id="ready-no-new-restart"),
    pytest.param(
        crashed(0, ready=False, running=False),
        0,
        "pod db-0 was Ready, then is not Ready: Running; container app last termination: Error, exit code 3: "
        "boom after ready",
        id="container-just-died",
    ),
    pytest.param(
        crashed(2, ready=True, running=True),
        1,
        "pod db-0 was Ready, then restarted (1 new restarts): Running; container app last termination: Error, "
        "exit code 3: boom after ready",
        id="restarted-and-ready-again",
    ),
]


@pytest.mark.parametrize(("pod_obj", "before", "expected"), STABILITY_CASES)
def test_stability_problem(pod_obj: dict[str, Any], before: int, expected: str) -> None:
    assert rollout.stability_problem(pod_obj, before) == expected
