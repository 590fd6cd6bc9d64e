"""The pure part of shared.watching: reading one watch window's JSON lines (a fake response, no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.watching import Watch, WatchError, WatchExpired


class FakeResponse:
    def __init__(self, *events: dict[str, Any]) -> None:
        self.lines = [json.dumps(e).encode() + b"\n" for e in events]
        self.closed = self.released = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Any:
        return iter(self.lines)

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


def opened(*events: dict[str, Any]) -> tuple[Watch, list[Any]]:
    calls: list[Any] = []

    def fn(*args: Any, **kwargs: Any) -> FakeResponse:
        calls.append((args, kwargs))
        return FakeResponse(*events)

    return Watch(fn, "ns", "10", read_timeout=45, label_selector="app=web"), calls


def obj(version: str) -> dict[str, Any]:
    return {"metadata": {"name": "web", "resourceVersion": version}}


def test_yields_events_but_bookmarks_and_follows_the_version() -> None:
    watch, calls = opened(
        {"type": "ADDED", "object": obj("11")},
        {"type": "BOOKMARK", "object": obj("12")},
        {"type": "DELETED", "object": obj("13")},
        {"type": "BOOKMARK", "object": obj("14")},
    )
    with watch:
        assert list(watch) == [("ADDED", obj("11")), ("DELETED", obj("13"))]
    assert watch.version == "14"
    assert watch.response.closed and watch.response.released
    ((args, kwargs),) = calls
    assert args == ("ns",)
    assert kwargs["resource_version"] == "10" and kwargs["watch"] is True and kwargs["allow_watch_bookmarks"]
    assert kwargs["timeout_seconds"] == 30 and kwargs["_request_timeout"] == (10, 45)
    assert kwargs["label_selector"] == "app=web" and kwargs["_preload_content"] is False


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        pytest.param({"code": 410, "message": "too old resource version"}, WatchExpired, 410, id="gone"),
        pytest.param({"code": 500, "message": "internal error"}, WatchError, 500, id="other-error"),
        pytest.param({}, WatchError, 500, id="no-code"),
    ],
)
def test_an_error_event_ends_the_watch(error: dict[str, Any], expected: type[Exception], status: int) -> None:
    watch, _ = opened({"type": "ADDED", "object": obj("11")}, {"type": "ERROR", "object": error})
    seen = []
    with pytest.raises(WatchError) as raised, watch:
        for event in watch:
            seen.append(event)
    assert type(raised.value) is expected and raised.value.status == status
    assert seen == [("ADDED", obj("11"))] and watch.version == "11"
    assert watch.response.closed
