from __future__ import annotations

import pytest

from shared.images import ImageRef, parse_image, same_repository

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("nginx", ImageRef("docker.io", "library/nginx"), id="official"),
        pytest.param("nginx:1.27", ImageRef("docker.io", "library/nginx", "1.27"), id="official-tag"),
        pytest.param("team/app:v1", ImageRef("docker.io", "team/app", "v1"), id="hub-user"),
        pytest.param("127.0.0.1:5000/team/app:abc-42", ImageRef("127.0.0.1:5000", "team/app", "abc-42"), id="port"),
        pytest.param(f"reg.example.com/app@{DIGEST}", ImageRef("reg.example.com", "app", "", DIGEST), id="digest"),
        pytest.param(f"localhost/app:1@{DIGEST}", ImageRef("localhost", "app", "1", DIGEST), id="tag-and-digest"),
    ],
)
def test_parse(ref: str, expected: ImageRef) -> None:
    assert parse_image(ref) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        pytest.param("", "is not an image reference", id="empty"),
        pytest.param("Team/App", "is not a valid repository name", id="upper"),
        pytest.param("app@sha256:xyz", "is not a sha256 digest", id="bad-digest"),
        pytest.param("app:-bad", "is not a valid tag", id="bad-tag"),
    ],
)
def test_parse_errors(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_image(ref)


def test_same_repository() -> None:
    assert same_repository("nginx:1", "docker.io/library/nginx@" + DIGEST)
    assert same_repository("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:2")
    assert not same_repository("127.0.0.1:5000/a/b", "127.0.0.1:5001/a/b")
    assert str(parse_image(f"r:1/a:t@{DIGEST}")) == f"r:1/a:t@{DIGEST}"
