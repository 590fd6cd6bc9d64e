"""Pod problems and the ReplicaSet helpers of `rollout undo`, as tables (rollout_status: test_rollout_kinds)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import rollout
from shared.rollout import PodProblem, RolloutStatus

from .test_rollout_kinds import deployment, template


def replicaset(
    name: str, revision: str, image: str, owner: str = "dep-uid", created: str = "2024-01-01T00:00:00Z"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"{name}-uid",
            "creationTimestamp": created,
            "annotations": {
                rollout.REVISION: revision,
                "team": "shop",
                "deployment.kubernetes.io/desired-replicas": "3",
            },
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}],
        },
        "spec": {"template": template(image, hash_=name.rsplit("-", 1)[-1])},
    }


def pod(
    name: str = "web-abc-1",
    owner: str = "web-abc-uid",
    ready: bool = True,
    waiting: str = "",
    restarts: int = 0,
    last: dict[str, Any] | None = None,
    init_waiting: str = "",
    phase: str = "Running",
) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "app", "restartCount": restarts, "state": {"running": {}}}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting, "message": f"{waiting} happened"}}
    if last:
        cs["lastState"] = {"terminated": last}
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "message": "containers not ready"}],
        "containerStatuses": [cs],
    }
    if init_waiting:
        status["initContainerStatuses"] = [
            {"name": "init", "restartCount": 0, "state": {"waiting": {"reason": init_waiting}}}
        ]
    return {
        "metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "uid": owner, "controller": True}]},
        "status": status,
    }


# -- rollout_status: its table is in test_rollout_kinds.py, beside the other kinds' viewers ----------------


def test_rollout_status_of_an_empty_status_waits() -> None:
    assert rollout.rollout_status(
        {"metadata": {"name": "x", "generation": 1}, "spec": {"replicas": 1}}
    ) == RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")


# -- pod_problems -------------------------------------------------------------------------------------------

CRASH_LAST = {"reason": "Error", "exitCode": 1, "message": "panic: no DB\n"}

PROBLEM_CASES = [
    pytest.param(pod(), 2, [], id="healthy"),
    pytest.param(pod(ready=False), 2, [], id="not-ready-is-not-a-problem"),
    pytest.param(pod(restarts=2), 2, [], id="restarts-at-limit"),
    pytest.param(
        pod(waiting="CrashLoopBackOff", restarts=1, last=CRASH_LAST),
        2,
        [
            PodProblem(
                "web-abc-1",
                "app",
                "CrashLoopBackOff",
                "CrashLoopBackOff happened; last termination: Error, exit code 1: panic: no DB",
                1,
            )
        ],
        id="crashloop-with-last-termination",
    ),
    pytest.param(
        pod(waiting="ImagePullBackOff"),
        2,
        [PodProblem("web-abc-1", "app", "ImagePullBackOff", "ImagePullBackOff happened", 0)],
        id="image-pull-backoff",
    ),
    pytest.param(
        pod(waiting="ErrImagePull"),
        2,
        [PodProblem("web-abc-1", "app", "ErrImagePull", "ErrImagePull happened", 0)],
        id="err-image-pull",
    ),
    pytest.param(
        pod(waiting="CreateContainerConfigError"),
        2,
        [PodProblem("web-abc-1", "app", "CreateContainerConfigError", "CreateContainerConfigError happened", 0)],
        id="config-error",
    ),
    pytest.param(pod(waiting="ContainerCreating"), 2, [], id="creating-is-fine"),
    pytest.param(
        pod(restarts=3, last={"reason": "OOMKilled", "exitCode": 137}),
        2,
        [
            PodProblem(
                "web-abc-1", "app", "restarted more than 2 times", "last termination: OOMKilled, exit code 137", 3
            )
        ],
        id="too-many-restarts",
    ),
    pytest.param(
        pod(init_waiting="ImagePullBackOff", ready=False, phase="Pending"),
        2,
        [PodProblem("web-abc-1", "init", "ImagePullBackOff", "", 0)],
        id="init-container",
    ),
    pytest.param(
        pod(restarts=1),
        0,
        [PodProblem("web-abc-1", "app", "restarted more than 0 times", "", 1)],
        id="zero-restarts-allowed",
    ),
]


@pytest.mark.parametrize(("obj", "max_restarts", "expected"), PROBLEM_CASES)
def test_pod_problems(obj: dict[str, Any], max_restarts: int, expected: list[PodProblem]) -> None:
    assert rollout.pod_problems(obj, max_restarts) == expected


def test_pod_problem_text_names_pod_container_reason_and_termination() -> None:
    (problem,) = rollout.pod_problems(pod(waiting="CrashLoopBackOff", restarts=4, last=CRASH_LAST), 2)
    assert str(problem) == (
        "pod web-abc-1 container app: CrashLoopBackOff (4 restarts): CrashLoopBackOff happened; "
        "last termination: Error, exit code 1: panic: no DB"
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(pod(ready=False), "Running, containers not ready", id="ready-condition-message"),
        pytest.param(pod(ready=False, waiting="CrashLoopBackOff"), "Running, app: CrashLoopBackOff", id="waiting"),
        pytest.param({"metadata": {"name": "x"}, "status": {}}, "Pending", id="no-status"),
        pytest.param(
            {
                "metadata": {"name": "x"},
                "status": {
                    "phase": "Pending",
                    "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/2 nodes are available"}],
                },
            },
            "Pending, unschedulable: 0/2 nodes are available",
            id="unschedulable",
        ),
    ],
)
def test_not_ready_reason(obj: dict[str, Any], expected: str) -> None:
    assert rollout.not_ready_reason(obj) == expected


# -- ReplicaSets ----------------------------------------------------------------------------------------------

RS1 = replicaset("web-aaa", "1", "app:1", created="2024-01-01T00:00:00Z")
RS2 = replicaset("web-bbb", "2", "app:2", created="2024-01-02T00:00:00Z")
RS3 = replicaset("web-ccc", "3", "app:3", created="2024-01-03T00:00:00Z")
FOREIGN = replicaset("other-ddd", "9", "app:2", owner="someone-else")


@pytest.mark.parametrize(
    ("dep", "sets", "expected"),
    [
        pytest.param(deployment(image="app:2", revision="2"), [RS1, RS2, FOREIGN], "web-bbb", id="by-template"),
        pytest.param(
            deployment(image="app:1", revision="2", generation=3, observed=2),
            [RS1, RS2],
            "web-aaa",
            id="template-before-revision-bump",
        ),
        pytest.param(
            deployment(image="app:9", revision="2", generation=3, observed=2), [RS1, RS2], None, id="not-created-yet"
        ),
        pytest.param(
            deployment(image="app:9", revision="2"), [RS1, RS2], "web-bbb", id="observed-falls-back-to-revision"
        ),
        pytest.param(deployment(image="app:2"), [FOREIGN], None, id="not-owned-ignored"),
    ],
)
def test_new_replicaset(dep: dict[str, Any], sets: list[dict[str, Any]], expected: str | None) -> None:
    found = rollout.new_replicaset(dep, sets)
    assert (found["metadata"]["name"] if found else None) == expected


@pytest.mark.parametrize(
    ("sets", "to_revision", "expected"),
    [
        pytest.param([RS1, RS2, RS3], None, "web-bbb", id="second-highest"),
        pytest.param([RS3, RS1], None, "web-aaa", id="gap-in-revisions"),
        pytest.param([RS1, RS2, RS3], 1, "web-aaa", id="to-revision"),
        pytest.param([RS1, RS2, RS3], 7, None, id="to-missing-revision"),
        pytest.param([RS3], None, None, id="only-one-revision"),
        pytest.param([RS3, FOREIGN], None, None, id="foreign-not-counted"),
    ],
)
def test_previous_replicaset(sets: list[dict[str, Any]], to_revision: int | None, expected: str | None) -> None:
    found = rollout.previous_replicaset(deployment(revision="3", image="app:3"), sets, to_revision)
    assert (found["metadata"]["name"] if found else None) == expected


def test_undo_patch_copies_template_without_hash_and_kubectl_annotations() -> None:
    dep = deployment(revision="3", image="app:3")
    dep["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    patch = rollout.undo_patch(dep, RS2)
    assert patch[0] == {"op": "replace", "path": "/spec/template", "value": template("app:2")}
    assert patch[1] == {
        "op": "replace",
        "path": "/metadata/annotations",
        # skipped annotations stay as the Deployment has them; the rest come from the ReplicaSet
        "value": {rollout.REVISION: "3", "kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "shop"},
    }
    assert rollout.HASH_LABEL in RS2["spec"]["template"]["metadata"]["labels"]  # the input is not modified


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="labels-sorted"),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                    {"key": "track", "operator": "NotIn", "values": ["canary"]},
                    {"key": "team", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            },
            "app=web,tier in (be,fe),track notin (canary),team,!legacy",
            id="expressions",
        ),
        pytest.param(None, "", id="none"),
    ],
)
def test_selector_string(selector: dict[str, Any] | None, expected: str) -> None:
    assert rollout.selector_string(selector) == expected


def test_selector_string_rejects_unknown_operator() -> None:
    with pytest.raises(ValueError, match="Gt"):
        rollout.selector_string({"matchExpressions": [{"key": "a", "operator": "Gt"}]})


# -- assess_rollout: kubectl's verdict plus early failure on the NEW pods' problems ---------------------------

NEW_RS = replicaset("web-abc", "2", "app:2")
OLD_RS = replicaset("web-old", "1", "app:1")


def crash(name: str, owner: str) -> dict[str, Any]:
    return pod(name, owner, ready=False, waiting="CrashLoopBackOff", restarts=1, last=CRASH_LAST)


ASSESS_CASES = [
    pytest.param(deployment(), [pod("web-abc-1")], True, False, "", id="done"),
    pytest.param(deployment(available=1), [pod("web-abc-1", ready=False)], False, False, "", id="waiting"),
    pytest.param(
        deployment(available=1),
        [crash("web-abc-1", "web-abc-uid")],
        False,
        True,
        "pod web-abc-1 container app: CrashLoopBackOff",
        id="new-pod-crashes",
    ),
    pytest.param(
        deployment(), [pod("web-abc-1"), crash("web-old-1", "web-old-uid")], True, False, "", id="old-pod-crash-ignored"
    ),
    pytest.param(
        deployment(reason="ProgressDeadlineExceeded", available=0),
        [pod("web-abc-1", ready=False)],
        False,
        True,
        "exceeded its progress deadline",
        id="deadline",
    ),
]


@pytest.mark.parametrize(("dep", "pods", "done", "failed", "message"), ASSESS_CASES)
def test_assess_rollout(
    dep: dict[str, Any], pods: list[dict[str, Any]], done: bool, failed: bool, message: str
) -> None:
    verdict = rollout.assess_rollout(dep, [OLD_RS, NEW_RS], pods, max_restarts=2)
    assert (verdict.done, verdict.failed) == (done, failed)
    assert message in verdict.message
    assert verdict.replicaset == "web-abc"
    assert verdict.revision == "2"


def test_assess_names_unready_new_pods() -> None:
    pods = [pod("web-abc-1"), pod("web-abc-2", ready=False), pod("web-old-1", "web-old-uid", ready=False)]
    verdict = rollout.assess_rollout(deployment(available=1), [OLD_RS, NEW_RS], pods, max_restarts=2)
    assert verdict.unready == ("web-abc-2 (Running, containers not ready)",)


def test_assess_waits_for_the_new_replicaset() -> None:
    verdict = rollout.assess_rollout(deployment(image="app:9"), [OLD_RS], [], max_restarts=2)
    assert not verdict.done and not verdict.failed


# -- rollout_wait's pure helpers ------------------------------------------------------------------------------

from shared import rollout_wait  # noqa: E402


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param({"lastTimestamp": "2026-01-01T10:00:03Z"}, "2026-01-01T10:00:03Z", id="core-v1"),
        pytest.param({"eventTime": "2026-01-01T10:00:03.290154Z"}, "2026-01-01T10:00:03Z", id="micro-time"),
        pytest.param(
            {"series": {"lastObservedTime": "2026-01-01T10:05:00.1Z"}, "eventTime": "2026-01-01T10:00:00.0Z"},
            "2026-01-01T10:05:00Z",
            id="series",
        ),
        pytest.param({"metadata": {"creationTimestamp": "2026-01-01T09:00:00Z"}}, "2026-01-01T09:00:00Z", id="created"),
        pytest.param({}, "", id="none"),
    ],
)
def test_event_time(event: dict[str, Any], expected: str) -> None:
    assert rollout_wait.event_time(event) == expected


def test_timeout_message_names_unready_pods() -> None:
    verdict = rollout.Assessment(False, False, "Waiting...", unready=("web-1 (Running)", "web-2 (Pending)"))
    assert rollout_wait.timeout_message("web", 3.99999, verdict) == (
        'deployment "web" did not finish rolling out within 4s: Waiting...; pods never Ready: web-1 (Running), '
        "web-2 (Pending)"
    )
