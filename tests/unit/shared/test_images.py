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
        pytest.param("a__b/c-d--e.f", ImageRef("docker.io", "a__b/c-d--e.f"), id="separators"),
        pytest.param("Registry.Example/app", ImageRef("Registry.Example", "app"), id="upper-host"),
        pytest.param("[::1]:5000/app", ImageRef("[::1]:5000", "app"), id="ipv6"),
        pytest.param("r.example/" + "a" * 245, ImageRef("r.example", "a" * 245), id="name-255"),
        pytest.param(
            "app@sha512:" + "b" * 128, ImageRef("docker.io", "library/app", "", "sha512:" + "b" * 128), id="sha512"
        ),
    ],
)
def test_parse(ref: str, expected: ImageRef) -> None:
    assert parse_image(ref) == expected


# What parse_image says, and the references it says it of.
REFUSED = {
    "is not an image reference": ["", "app\x00", "äpp"],
    "is not a valid repository name": [
        "Team/App",
        "Registry.Example/App",
        "team/a..b",
        "team/a-.b",
        "team/a___b",
        "team//app",
    ],
    "at most 255": ["127.0.0.1:5000/" + "a" * 100_000, "r.example/" + "a" * 250],
    "not a registry host": ["-bad.example/app", "reg.example:99999/app", "reg.example:/app"],
    "is not a valid tag": ["app:-bad", "app:" + "t" * 129],
    "is not a sha256 digest": [
        "app@sha256:xyz",
        "app@sha256:" + "a" * 63,
        "app@sha256:" + "A" * 64,
        "app@md5:" + "a" * 32,
    ],
}


@pytest.mark.parametrize(
    ("ref", "message"),
    [(ref, message) for message, refs in REFUSED.items() for ref in refs],
    ids=lambda value: value if len(value) <= 40 else f"{value[:20]}...({len(value)} characters)",
)
def test_parse_errors(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_image(ref)


def test_same_repository() -> None:
    assert same_repository("nginx:1", "docker.io/library/nginx@" + DIGEST)
    assert same_repository("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:2")
    assert not same_repository("127.0.0.1:5000/a/b", "127.0.0.1:5001/a/b")
    assert str(parse_image(f"r:1/a:t@{DIGEST}")) == f"r:1/a:t@{DIGEST}"
