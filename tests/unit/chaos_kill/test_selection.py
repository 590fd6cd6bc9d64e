"""Victim selection: eligibility, counts, caps and the seeded choice, as tables."""

from __future__ import annotations

import random

import pytest

from plugins.chaos_kill.selection import Count, Criteria, Pod, count_victims, describe_pods, exclusion, select_victims

RS = ("ReplicaSet", "web-5d4f")
DEP = ("Deployment", "web")


def pod(name: str, **kw: object) -> Pod:
    base: dict[str, object] = {"owner": RS, "workload": DEP}
    base.update(kw)
    return Pod(name, **base)  # type: ignore[arg-type]


def web(n: int, **kw: object) -> list[Pod]:
    return [pod(f"web-{i}", **kw) for i in range(n)]


@pytest.mark.parametrize(
    ("mode", "value", "eligible", "expected"),
    [
        pytest.param("one", None, 4, 1, id="one"),
        pytest.param("one", None, 0, 0, id="one-of-none"),
        pytest.param("all", None, 4, 4, id="all"),
        pytest.param("fixed", 2, 4, 2, id="fixed"),
        pytest.param("fixed", 9, 4, 4, id="fixed-more-than-there-are"),
        pytest.param("percent", 50, 4, 2, id="percent-50-of-4"),
        pytest.param("percent", 50, 5, 3, id="percent-rounds-up"),
        pytest.param("percent", 1, 4, 1, id="percent-at-least-one"),
        pytest.param("percent", 100, 7, 7, id="percent-100"),
        pytest.param("percent", 33.3, 3, 1, id="percent-no-float-noise"),
        pytest.param("percent", 10, 10, 1, id="percent-exact"),
        pytest.param("percent", 50, 0, 0, id="percent-of-none"),
    ],
)
def test_count_victims(mode: str, value: float | None, eligible: int, expected: int) -> None:
    assert count_victims(mode, value, eligible) == expected


@pytest.mark.parametrize(
    ("p", "criteria", "reason"),
    [
        pytest.param(pod("a"), Criteria(), None, id="running-owned"),
        pytest.param(pod("a", phase="Pending"), Criteria(), "phase Pending, not Running", id="pending"),
        pytest.param(pod("a", terminating=True), Criteria(), "already terminating", id="terminating"),
        pytest.param(
            pod("a", owner=None, workload=None),
            Criteria(),
            "not owned by a controller (set include_unowned to allow)",
            id="unowned",
        ),
        pytest.param(pod("a", owner=None, workload=None), Criteria(include_unowned=True), None, id="unowned-allowed"),
        pytest.param(
            pod("a", owner=("Node", "n1"), workload=("Node", "n1")),
            Criteria(include_unowned=True),
            "owned by a Node, not a workload controller",
            id="mirror-pod",
        ),
        pytest.param(pod("web-1"), Criteria(name_pattern="^web-"), None, id="name-matches"),
        pytest.param(
            pod("api-1"), Criteria(name_pattern="^web-"), "name does not match name_pattern '^web-'", id="name-differs"
        ),
        pytest.param(
            pod("a", labels={"chaos": "on"}), Criteria(require_label=("chaos", "on")), None, id="label-on-pod"
        ),
        pytest.param(
            pod("a", owner_labels={"chaos": "on"}), Criteria(require_label=("chaos", "on")), None, id="label-on-owner"
        ),
        pytest.param(pod("a", labels={"chaos": "x"}), Criteria(require_label=("chaos", None)), None, id="label-key"),
        pytest.param(
            pod("a", labels={"chaos": "off"}),
            Criteria(require_label=("chaos", "on")),
            "neither the pod nor its workload carries the label chaos=on",
            id="label-wrong-value",
        ),
        pytest.param(
            pod("a"),
            Criteria(require_label=("chaos", None)),
            "neither the pod nor its workload carries the label chaos",
            id="label-missing",
        ),
    ],
)
def test_exclusion(p: Pod, criteria: Criteria, reason: str | None) -> None:
    assert exclusion(p, criteria) == reason


@pytest.mark.parametrize(
    ("pods", "count", "killed", "notes"),
    [
        pytest.param(web(4), Count("percent", 50), 2, (), id="percent-50-of-4"),
        pytest.param(web(4), Count("all"), 4, (), id="all"),
        pytest.param(web(4), Count("one"), 1, (), id="one"),
        pytest.param(web(4), Count("fixed", 3), 3, (), id="fixed"),
        pytest.param(
            web(4), Count("all", max_kill=2), 2, ("max_kill 2 caps this round at 2 of 4 wanted",), id="max-kill"
        ),
        pytest.param(
            web(4),
            Count("all", min_available=3),
            1,
            ("min_available 3 shrinks this round from 4 to 1 pod(s)",),
            id="min-available",
        ),
        pytest.param(
            web(2),
            Count("one", min_available=2),
            0,
            ("min_available 2 shrinks this round from 1 to 0 pod(s)",),
            id="min-available-blocks-all",
        ),
        pytest.param(
            # Unready pods do not count as available, so killing them costs nothing.
            [*web(2), pod("web-x", ready=False)],
            Count("all", min_available=2),
            1,
            ("min_available 2 shrinks this round from 3 to 1 pod(s)",),
            id="min-available-unready-free",
        ),
        pytest.param(
            [
                *web(3),
                *[pod(f"api-{i}", workload=("Deployment", "api"), owner=("ReplicaSet", "api-1")) for i in range(3)],
            ],
            Count("all", min_available=2),
            2,
            ("min_available 2 shrinks this round from 6 to 2 pod(s)",),
            id="min-available-per-workload",
        ),
        pytest.param(
            # Ready pods the name pattern excludes still count for the workload's guard.
            [*web(2), pod("other-0"), pod("other-1")],
            Count("all", min_available=2),
            2,
            (),
            id="min-available-counts-ineligible-ready-pods",
        ),
        pytest.param([pod("a", phase="Pending")], Count("one"), 0, (), id="nothing-eligible"),
    ],
)
def test_select_victims_counts(pods: list[Pod], count: Count, killed: int, notes: tuple[str, ...]) -> None:
    criteria = Criteria(name_pattern="^(web|api)-")
    selection = select_victims(pods, criteria, count, random.Random(7))
    assert len(selection.victims) == killed
    assert selection.notes == notes
    victims = {p.name for p in selection.victims}
    # Every listed pod is either a victim or excluded with a reason.
    assert victims | {name for name, _ in selection.excluded} == {p.name for p in pods}
    assert not victims & {name for name, _ in selection.excluded}


def test_min_available_reason_names_workload() -> None:
    selection = select_victims(web(2), Criteria(), Count("all", min_available=2), random.Random(1))
    assert dict(selection.excluded) == {
        "web-0": "min_available 2: deployment/web has only 2 Ready pod(s)",
        "web-1": "min_available 2: deployment/web has only 2 Ready pod(s)",
    }


def test_same_seed_same_victims_whatever_the_listing_order() -> None:
    pods = web(10)
    first = select_victims(pods, Criteria(), Count("fixed", 3), random.Random("build-42"))
    again = select_victims(list(reversed(pods)), Criteria(), Count("fixed", 3), random.Random("build-42"))
    assert [p.name for p in first.victims] == [p.name for p in again.victims]


def test_different_seeds_can_choose_differently() -> None:
    pods = web(10)
    chosen = {
        tuple(p.name for p in select_victims(pods, Criteria(), Count("fixed", 3), random.Random(s)).victims)
        for s in range(20)
    }
    assert len(chosen) > 1


def test_percent_counts_eligible_pods_only() -> None:
    pods = [*web(4), *[pod(f"web-p{i}", phase="Pending") for i in range(4)]]
    selection = select_victims(pods, Criteria(), Count("percent", 50), random.Random(0))
    assert (selection.eligible, selection.wanted, len(selection.victims)) == (4, 2, 2)


def test_describe_pods_resolves_owner_chain() -> None:
    items = [
        {
            "metadata": {
                "name": "web-5d4f-abc",
                "uid": "u1",
                "labels": {"app": "web"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d4f", "controller": True}],
            },
            "spec": {"nodeName": "node-1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
        {"metadata": {"name": "lonely", "uid": "u2", "deletionTimestamp": "x"}, "status": {"phase": "Running"}},
    ]
    owners = {
        RS: {
            "metadata": {
                "name": "web-5d4f",
                "labels": {"rs": "1"},
                "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
            }
        },
        DEP: {"metadata": {"name": "web", "labels": {"shipline.io/chaos": "enabled"}}},
    }
    first, second = describe_pods(items, owners)
    assert first == Pod(
        "web-5d4f-abc",
        uid="u1",
        node="node-1",
        phase="Running",
        ready=True,
        terminating=False,
        labels={"app": "web"},
        owner=RS,
        workload=DEP,
        owner_labels={"rs": "1", "shipline.io/chaos": "enabled"},
    )
    assert (second.owner, second.workload, second.ready, second.terminating) == (None, None, False, True)


@pytest.mark.parametrize(
    ("count", "killed"),
    [
        # percent 99 of 7 pods asks for 7; the default guard (min_available 1) keeps the last one.
        pytest.param(Count("percent", 99, min_available=1), 6, id="percent-99-of-7-keeps-one"),
        pytest.param(Count("all", min_available=1), 6, id="all-keeps-one"),
        pytest.param(Count("all", min_available=0), 7, id="allow-total-outage"),
    ],
)
def test_last_ready_pod_survives_unless_outage_allowed(count: Count, killed: int) -> None:
    selection = select_victims(web(7), Criteria(), count, random.Random(1))
    assert len(selection.victims) == killed
