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


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        # Issue 14: a 100,000-character repo was built and only the push failed.
        pytest.param("127.0.0.1:5000/" + "a" * 100_000, "at most 255", id="issue14-huge-repo"),
        pytest.param("r.example/" + "a" * 250, "at most 255", id="name-256"),
        pytest.param("team/a..b", "not a valid repository name", id="double-dot"),
        pytest.param("team/a-.b", "not a valid repository name", id="dash-dot"),
        pytest.param("team/a___b", "not a valid repository name", id="three-underscores"),
        pytest.param("team//app", "not a valid repository name", id="empty-component"),
        pytest.param("-bad.example/app", "not a registry host", id="host-starts-with-dash"),
        pytest.param("reg.example:99999/app", "not a registry host", id="port-out-of-range"),
        pytest.param("reg.example:/app", "not a registry host", id="empty-port"),
        pytest.param("app:" + "t" * 129, "not a valid tag", id="tag-129"),
        pytest.param("app@sha256:" + "a" * 63, "not a sha256 digest", id="digest-short"),
        pytest.param("app@sha256:" + "A" * 64, "not a sha256 digest", id="digest-upper"),
        pytest.param("app@md5:" + "a" * 32, "not a sha256 digest", id="digest-md5"),
        pytest.param("app\x00", "is not an image reference", id="nul"),
        pytest.param("äpp", "is not an image reference", id="non-ascii"),
        pytest.param("Registry.Example/App", "not a valid repository name", id="upper-path"),
    ],
)
def test_reference_grammar_errors(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_image(ref)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("a__b/c-d--e.f", ImageRef("docker.io", "a__b/c-d--e.f"), id="separators"),
        pytest.param("Registry.Example/app", ImageRef("Registry.Example", "app"), id="upper-host"),
        pytest.param("[::1]:5000/app", ImageRef("[::1]:5000", "app"), id="ipv6"),
        pytest.param("r.example/" + "a" * 245, ImageRef("r.example", "a" * 245), id="name-255"),
        pytest.param(
            "app@sha512:" + "b" * 128, ImageRef("docker.io", "library/app", "", "sha512:" + "b" * 128), id="sha512"
        ),
    ],
)
def test_reference_grammar_accepts(ref: str, expected: ImageRef) -> None:
    assert parse_image(ref) == expected
