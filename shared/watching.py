"""One watch request on a Kubernetes list endpoint, read as raw JSON lines (the API's own camelCase shape)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

# Seconds the server keeps one watch open at most (callers then resume from the last resourceVersion); short
# enough that a stopped wait's threads end soon, long enough not to matter for load.
WINDOW = 30


class WatchError(ApiException):
    """The server ended the watch with an ERROR event."""


class WatchExpired(WatchError):
    """The watch's resourceVersion expired (410 Gone): list again."""


class Watch(contextlib.AbstractContextManager["Watch"]):
    """Connects at once (so connection errors are the caller's), then yields (type, object) of each event but
    bookmarks until the server closes the window; `version` follows every event, to resume from."""

    def __init__(
        self,
        fn: Callable[..., Any],
        namespace: str,
        version: str,
        *,
        read_timeout: int,
        window: int = WINDOW,
        **selector: Any,
    ) -> None:
        self.version = version
        self.response = fn(
            namespace,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=window,
            _preload_content=False,
            _request_timeout=(10, read_timeout),
            **selector,
        )

    def __exit__(self, *exc: object) -> None:
        self.response.close()
        self.response.release_conn()

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        from kubernetes.watch.watch import iter_resp_lines  # kubernetes.watch imports pydoc: not at start-up

        for line in iter_resp_lines(self.response):
            event = json.loads(line)
            kind, obj = str(event.get("type")), event.get("object") or {}
            if kind == "ERROR":
                error = WatchExpired if obj.get("code") == 410 else WatchError
                raise error(status=obj.get("code") or 500, reason=obj.get("message") or "watch error")
            self.version = (obj.get("metadata") or {}).get("resourceVersion") or self.version
            if kind != "BOOKMARK":
                yield kind, obj
