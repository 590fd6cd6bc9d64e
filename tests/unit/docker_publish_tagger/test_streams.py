"""Pure readers of the engine's build/push messages, the push error classifier, the retry rule, and the
registry helpers (challenge parsing, error messages)."""

from __future__ import annotations

import io
import json

import pytest
import requests

from plugins.docker_publish_tagger.build import BuildStream
from plugins.docker_publish_tagger.push import Pushed, PushFailed, PushStream, classify, with_retries
from plugins.docker_publish_tagger.registry import is_loopback, parse_challenge, registry_message
from shared.errors import AuthError, PluginError
from shared.log import Log

BUILD_OK = [
    {"stream": "Step 1/3 : FROM scratch AS assets"},
    {"stream": "\n"},
    {"stream": " ---> \n"},
    {"stream": "Step 2/3 : COPY a.txt /a\n ---> 8bb4238935bb\n"},
    {"stream": "Step 3/3 : COPY b.txt /b\n"},
    {"stream": " ---> 2cb0f75be657\n"},
    {"aux": {"ID": "sha256:2cb0f75be657aa"}},
    {"stream": "Successfully built 2cb0f75be657\n"},
]

BUILD_FAILED = [
    {"stream": "Step 1/2 : FROM scratch\n ---> \n"},
    {"stream": "Step 2/2 : COPY missing.txt /m\n"},
    {"errorDetail": {"message": "COPY failed: file not found"}, "error": "COPY failed: file not found"},
]


def test_build_stream_lines_and_image_id() -> None:
    stream = BuildStream()
    lines = [line for chunk in BUILD_OK for line in stream.feed(chunk)] + stream.finish()
    assert lines[0] == "Step 1/3 : FROM scratch AS assets"
    assert "Step 2/3 : COPY a.txt /a" in lines and " ---> 8bb4238935bb" in lines
    assert stream.image_id == "sha256:2cb0f75be657aa"
    assert not stream.error


def test_build_stream_keeps_the_failed_step() -> None:
    stream = BuildStream()
    for chunk in BUILD_FAILED:
        stream.feed(chunk)
    assert stream.error == "COPY failed: file not found"
    assert stream.step == ["Step 2/2 : COPY missing.txt /m"]


def test_push_stream_digest_and_layers() -> None:
    stream = PushStream()
    chunks = [
        {"status": "The push refers to repository [127.0.0.1:5000/a]"},
        {"status": "Preparing", "progressDetail": {}, "id": "aaa"},
        {"status": "Pushing", "progressDetail": {"current": 1}, "id": "aaa"},
        {"status": "Pushed", "progressDetail": {}, "id": "aaa"},
        {"status": "Layer already exists", "progressDetail": {}, "id": "bbb"},
        {"status": "1: digest: sha256:" + "1" * 64 + " size: 528"},
        {"progressDetail": {}, "aux": {"Tag": "1", "Digest": "sha256:" + "2" * 64, "Size": 528}},
    ]
    lines = [stream.feed(c) for c in chunks]
    assert [line for line in lines if line.startswith("layer")] == [
        "layer aaa: pushed",
        "layer bbb: layer already exists",
    ]
    assert stream.digest == "sha256:" + "2" * 64  # aux wins: it is the engine's structured answer
    assert (stream.pushed, stream.existing) == (["aaa"], ["bbb"])


CLASSIFY = [
    pytest.param("unauthorized: authentication required", AuthError, id="unauthorized"),
    pytest.param("denied: requested access to the resource is denied", AuthError, id="denied"),
    pytest.param('Get "https://r:5000/v2/": dial tcp r:5000: connect: connection refused', PluginError, id="refused"),
    pytest.param("received unexpected HTTP status: 503 Service Unavailable", PushFailed, id="503"),
    pytest.param("net/http: TLS handshake timeout", PushFailed, id="timeout"),
    pytest.param("read tcp 1.2.3.4:5->6.7.8.9:443: read: connection reset by peer", PushFailed, id="reset"),
    pytest.param("manifest invalid: manifest invalid", PluginError, id="other"),
]


@pytest.mark.parametrize(("message", "kind"), CLASSIFY)
def test_classify(message: str, kind: type[PluginError]) -> None:
    error = classify(message, "r:5000")
    assert type(error) is kind
    assert message in str(error) and "r:5000" in str(error)


def test_retries_only_transient_with_backoff() -> None:
    log, sleeps, calls = Log(io.StringIO()), [], []
    ok = Pushed("1", "sha256:x", 1, 0)

    def flaky() -> Pushed:
        calls.append(1)
        if len(calls) < 3:
            raise PushFailed("push failed: 503")
        return ok

    assert with_retries(flaky, 3, log, sleep=sleeps.append) == ok
    assert sleeps == [1.0, 2.0]

    def refused() -> Pushed:
        calls.append(1)
        raise AuthError("unauthorized")

    calls.clear()
    with pytest.raises(AuthError):
        with_retries(refused, 3, log, sleep=sleeps.append)
    assert len(calls) == 1

    def always() -> Pushed:
        raise PushFailed("push failed: timeout")

    sleeps.clear()
    with pytest.raises(PluginError, match="after 3 attempts"):
        with_retries(always, 2, log, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]


CHALLENGES = [
    pytest.param('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"}), id="basic"),
    pytest.param(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"',
        (
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:a/b:pull,push",
            },
        ),
        id="bearer-comma-in-scope",
    ),
]


@pytest.mark.parametrize(("header", "expected"), CHALLENGES)
def test_parse_challenge(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_challenge(header) == expected


def response(status: int, body: object) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = "Unauthorized" if status == 401 else "Error"
    resp._content = json.dumps(body).encode() if body is not None else b"<html>"
    return resp


def test_registry_message_is_the_registrys_own() -> None:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}]}
    assert registry_message(response(401, body)) == "unauthorized: authentication required"
    assert registry_message(response(502, None)) == "HTTP 502 Error"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
