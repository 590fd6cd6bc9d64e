"""What went wrong outside shipline, in one line: the exceptions Docker, registries (HTTP), the Kubernetes client,
helm and the file system raise while a plugin runs. `shared.runner` turns them into exit 1 with this line; any
other exception is a shipline bug (exit 3 with a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

LINE_MAX = 400


def _raised_by(error: BaseException, module: str, name: str) -> bool:
    """`error` is an instance of `module.name`, looked up only when the library is loaded: a plugin that never
    imported it cannot have raised it, its image may not carry it, and importing it here would cost every
    plugin's start-up."""
    cls = getattr(sys.modules.get(module), name, None)
    return isinstance(cls, type) and isinstance(error, cls)


def describe_failure(error: BaseException) -> str | None:
    """The cause of an operation failure as one line, or None when `error` is not one (a bug)."""
    if _raised_by(error, "kubernetes.client.exceptions", "OpenApiException"):
        return one_line(_kubernetes(error))
    if _raised_by(error, "kubernetes.config.config_exception", "ConfigException"):
        return one_line(f"Kubernetes client configuration: {error}")
    if _raised_by(error, "docker.errors", "APIError"):
        api_error: Any = error
        return one_line(f"the Docker engine answered {api_error.status_code}: {api_error.explanation or error}")
    if _raised_by(error, "docker.errors", "DockerException"):
        return one_line(f"Docker: {error}")
    if _raised_by(error, "pyhelm3.errors", "Error"):
        return one_line(f"helm: {type(error).__name__}: {error}")
    if _raised_by(error, "requests", "RequestException"):
        return one_line(f"HTTP request failed: {error}")
    if _raised_by(error, "urllib3.exceptions", "HTTPError"):
        return one_line(f"connection failed: {error}")
    if isinstance(error, subprocess.TimeoutExpired):
        return one_line(f"{error.cmd[0] if isinstance(error.cmd, list) else 'a command'} timed out")
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return one_line(f"{error.strerror or type(error).__name__}{where}" if error.strerror else f"{error}{where}")
    return None


def _kubernetes(error: BaseException) -> str:
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None) or ""
    message = ""
    body = getattr(error, "body", None)
    if body:
        try:
            message = json.loads(body).get("message", "")
        except (ValueError, AttributeError):
            message = str(body)
    if status is None:
        return f"Kubernetes client: {message or reason or error}"
    return f"the Kubernetes API answered {status} {reason}".rstrip() + (f": {message}" if message else "")


def one_line(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= LINE_MAX else flat[:LINE_MAX] + "..."
