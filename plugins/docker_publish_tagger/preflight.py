"""What is checked before the Docker SDK loads: the build's sources are there, and the engine answers.

The engine is asked for its API version with the stdlib's http.client: the tagger's first request leaves before
the SDK and requests are imported (most of its start-up), and the SDK, handed the version, does not ask again.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

from plugins.docker_publish_tagger.plan import BuildSpec
from shared.errors import PluginError, SettingsError


def check_sources(spec: BuildSpec) -> None:
    """The context and Dockerfile exist: a missing one is an input error (exit 2), found before building."""
    if not spec.context.is_dir():
        raise SettingsError("PLUGIN_CONTEXT", f'"{spec.context}" is not a directory')
    if not spec.dockerfile.is_file():
        raise SettingsError("PLUGIN_DOCKERFILE", f'"{spec.dockerfile}" does not exist')


def engine_api_version(docker_host: str, timeout: float = 60.0) -> str | None:
    """The API version of the engine at `docker_host` (GET /version, as the SDK asks it); None for the hosts the
    SDK reaches by its own transports (ssh://, npipe://, https://). PluginError naming the host when nothing
    answers there."""
    scheme, _, rest = docker_host.partition("://")
    conn: http.client.HTTPConnection
    if scheme == "unix":
        conn = _UnixConnection(rest, timeout)
    elif scheme in ("tcp", "http"):
        url = urlsplit(f"http://{rest}")
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 2375, timeout=timeout)
    else:
        return None
    try:
        conn.request("GET", "/version")
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as e:
        raise PluginError(f"no Docker engine answers at {docker_host}: {short_reason(e)}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise PluginError(f"{docker_host} is not a Docker engine (GET /version answered HTTP {response.status})")
    try:
        return str(json.loads(body)["ApiVersion"])
    except (ValueError, KeyError, TypeError):
        raise PluginError(f"{docker_host} is not a Docker engine (GET /version gave no ApiVersion)") from None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def short_reason(e: Exception) -> str:
    text = str(e)
    for marker in ("Connection refused", "No such file or directory", "Permission denied", "timed out"):
        if marker in text:
            return marker
    return text if len(text) < 300 else text[:300] + "..."
