"""The expected-image check, pure: by digest (imageID first, then the spec) and by tag."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.deployment_verify.images import running_digest, verify_pods

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
REPO = "127.0.0.1:5000/shop/web"


def pod(name: str, *containers: tuple[str, str], image_ids: dict[str, str] | None = None) -> dict[str, Any]:
    statuses = [{"name": c, "image": img, "imageID": (image_ids or {}).get(c, "")} for c, img in containers]
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": c, "image": img} for c, img in containers]},
        "status": {"containerStatuses": statuses},
    }


GOOD = [
    pytest.param(f"{REPO}@{D1}", [pod("p1", ("app", f"{REPO}@{D1}"))], id="digest-in-spec"),
    pytest.param(
        f"{REPO}@{D1}",
        [pod("p1", ("app", f"{REPO}:v1"), image_ids={"app": f"docker-pullable://{REPO}@{D1}"})],
        id="digest-from-imageID",
    ),
    pytest.param(f"{REPO}:v1@{D1}", [pod("p1", ("app", f"{REPO}:v2@{D1}"))], id="digest-wins-over-tag"),
    pytest.param(f"{REPO}:v1", [pod("p1", ("app", f"{REPO}:v1")), pod("p2", ("app", f"{REPO}:v1"))], id="tag"),
    pytest.param(f"{REPO}", [pod("p1", ("app", f"{REPO}:latest"))], id="implicit-latest"),
    pytest.param(f"{REPO}:v1", [pod("p1", ("proxy", "envoy:1"), ("app", f"{REPO}:v1"))], id="sidecar-ignored"),
    pytest.param("nginx:1.27", [pod("p1", ("app", "docker.io/library/nginx:1.27"))], id="docker-hub-normalised"),
]

BAD = [
    pytest.param(f"{REPO}@{D1}", [pod("p1", ("app", f"{REPO}@{D2}"))], "pod p1 container app: runs", id="other-digest"),
    pytest.param(f"{REPO}@{D1}", [pod("p1", ("app", f"{REPO}:v1"))], "no digest known", id="tag-only-running"),
    pytest.param(
        f"{REPO}@{D1}",
        [pod("p1", ("app", f"{REPO}@{D1}"), image_ids={"app": f"{REPO}@{D2}"})],
        "runs",
        id="node-pulled-another-digest",
    ),
    pytest.param(f"{REPO}:v2", [pod("p1", ("app", f"{REPO}:v1"))], "not tag v2", id="other-tag"),
    pytest.param(
        f"{REPO}:v1", [pod("p1", ("app", "127.0.0.1:5000/shop/api:v1"))], f"no container runs {REPO}", id="other-repo"
    ),
    pytest.param(
        f"{REPO}:v1", [pod("p1", ("app", f"{REPO}:v1")), pod("p2", ("app", f"{REPO}:v0"))], "pod p2", id="one-of-two"
    ),
]


@pytest.mark.parametrize(("expected", "pods"), GOOD)
def test_matching_images_pass(expected: str, pods: list[dict[str, Any]]) -> None:
    verdict = verify_pods(expected, pods)
    assert verdict.passed, verdict.problems
    assert verdict.matching == verdict.pods == len(pods)


@pytest.mark.parametrize(("expected", "pods", "problem"), BAD)
def test_other_images_fail(expected: str, pods: list[dict[str, Any]], problem: str) -> None:
    verdict = verify_pods(expected, pods)
    assert not verdict.passed
    assert any(problem in p for p in verdict.problems), verdict.problems


def test_no_pods_is_not_a_pass() -> None:
    assert not verify_pods(f"{REPO}:v1", []).passed


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        pytest.param(f"{REPO}:v1", {"imageID": f"containerd://{REPO}@{D1}"}, D1, id="imageID"),
        pytest.param(f"{REPO}@{D2}", {"imageID": ""}, D2, id="spec"),
        pytest.param(f"{REPO}:v1", None, "", id="none"),
    ],
)
def test_running_digest(spec: str, status: dict[str, str] | None, expected: str) -> None:
    assert running_digest(spec, status) == expected
