"""The Bearer-token handshake of the registry client. The stack's registry uses Basic auth (htpasswd), so the
token flow (Docker Hub, GitLab, Harbor ...) is exercised here against a tiny local HTTP server that speaks
the distribution spec's challenge: 401 + `WWW-Authenticate: Bearer realm=...`, a token endpoint, a manifest."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from plugins.docker_publish_tagger.plan import Destination
from plugins.docker_publish_tagger.registry import Registry
from shared.errors import AuthError
from shared.log import Log

DIGEST = "sha256:" + "ab" * 32
TOKEN = "tok-0123456789"
GOOD = "Basic " + base64.b64encode(b"ci:right").decode()


class TokenRegistry(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, body: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        host = self.headers["Host"]
        if self.path.startswith("/token"):
            if self.headers.get("Authorization") != GOOD or "scope=repository%3Ateam%2Fapp" not in self.path:
                self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]})
            else:
                self._reply(200, {"token": TOKEN})
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = f'Bearer realm="http://{host}/token",service="test-registry"'
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                        {"WWW-Authenticate": challenge})  # fmt: skip
            return
        if self.path == "/v2/team/app/manifests/1.0" and "manifest.v2+json" in self.headers.get("Accept", ""):
            self._reply(200, {}, {"Docker-Content-Digest": DIGEST})
        elif self.path == "/v2/":
            self._reply(200)
        else:
            self._reply(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})

    do_GET = do_HEAD = _handle


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TokenRegistry)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client(host: str, password: str, out: io.StringIO) -> Registry:
    dest = Destination(f"{host}/team/app", host, host, "team/app", insecure=True)
    return Registry(dest, {"username": "ci", "password": password, "serveraddress": host}, Log(out), timeout=5)


def test_bearer_token_flow(server: str) -> None:
    out = io.StringIO()
    registry = client(server, "right", out)
    registry.check_access()
    assert registry.manifest_digest("1.0") == DIGEST
    log = Log(out, registry.log.masker)
    log.info(f"token {TOKEN}")
    assert TOKEN not in out.getvalue()  # a token we obtained is masked like the password


def test_bearer_wrong_password_gives_the_registrys_message(server: str) -> None:
    with pytest.raises(AuthError, match=f"{server} refused the credentials of user ci: unauthorized: incorrect"):
        client(server, "wrong", io.StringIO()).check_access()
