"""The registry's HTTP API (the distribution spec), read only: can we reach it, do the credentials work,
and which digest does a tag resolve to. Handles the registry's 401 challenge: Bearer token or Basic auth.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import requests

from plugins.docker_publish_tagger.plan import Destination
from shared.errors import AuthError, PluginError
from shared.log import Log

# Ask for every manifest kind a push can produce, or the registry may answer for a different (converted) one.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_message(resp: requests.Response) -> str:
    """The registry's own words (`unauthorized: authentication required`), else the HTTP status."""
    try:
        errors = resp.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    parts = [f"{e.get('code', '').lower()}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)]
    return "; ".join(p for p in parts if p) or f"HTTP {resp.status_code} {resp.reason}".strip()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://auth",service="reg"` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return scheme.lower(), params


def _split_params(text: str) -> list[str]:
    # Commas may sit inside quoted values (scope="repository:a:pull,push").
    parts, current, quoted = [], "", False
    for c in text:
        if c == '"':
            quoted = not quoted
        if c == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += c
    return [p for p in [*parts, current] if p.strip()]


class Registry:
    """One registry, one repository, our credentials (or none)."""

    def __init__(
        self,
        dest: Destination,
        auth: dict[str, str] | None,
        log: Log,
        session: requests.Session | None = None,
        timeout: float = 15,
        ca_file: str = "",
    ) -> None:
        self.dest = dest
        self.host = dest.api_host
        self.log = log
        self.timeout = timeout
        self._session = session or requests.Session()
        # The registry's private CA instead of the system's bundle; given per request, because a session's own
        # `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        self._ca_file = ca_file
        self._verify: str | bool = ca_file or True
        self._creds = (auth["username"], auth["password"]) if auth and auth.get("username") else None
        # Docker itself talks plain HTTP to loopback registries when HTTPS fails; so do we.
        loopback = is_loopback(self.host) and not ca_file
        self._schemes = ["http"] if dest.insecure else (["https", "http"] if loopback else ["https"])
        self._authorization = ""

    def check_access(self) -> None:
        """Reachable, and our credentials may push to the repository: fail before building otherwise."""
        resp = self._request("GET", "/v2/", scope=f"repository:{self.dest.path}:pull,push")
        if resp.status_code >= 400:
            raise PluginError(f"registry {self.host} answered /v2/ with {registry_message(resp)}")

    def manifest_digest(self, tag: str) -> str:
        """The digest `tag` resolves to in the registry (its Docker-Content-Digest)."""
        path = f"/v2/{self.dest.path}/manifests/{tag}"
        resp = self._request("HEAD", path, scope=f"repository:{self.dest.path}:pull", accept=MANIFEST_TYPES)
        if resp.status_code == 404:
            raise PluginError(f"{self.dest.repo}:{tag} is not in the registry {self.host} after the push")
        if resp.status_code >= 400:
            raise PluginError(f"registry {self.host}: HEAD {path}: {registry_message(resp)}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not digest:
            raise PluginError(f"registry {self.host} gave no Docker-Content-Digest for {self.dest.repo}:{tag}")
        return digest

    def _request(self, method: str, path: str, scope: str, accept: str = "") -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        resp = self._send(method, path, headers)
        if resp.status_code == 401:
            self._authorize(resp.headers.get("WWW-Authenticate", ""), scope)
            resp = self._send(method, path, headers)
            if resp.status_code == 401:
                raise self._refused(resp)
        if resp.status_code == 403:
            raise AuthError(f"{self.host} denied {method} {path}: {registry_message(resp)}")
        return resp

    def _refused(self, resp: requests.Response) -> AuthError:
        who = f"the credentials of user {self._creds[0]}" if self._creds else "anonymous access (set username/password)"
        return AuthError(f"{self.host} refused {who}: {registry_message(resp)}")

    def _send(self, method: str, path: str, headers: dict[str, str]) -> requests.Response:
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        while True:
            scheme = self._schemes[0]
            try:
                return self._session.request(
                    method, f"{scheme}://{self.host}{path}", headers=headers, timeout=self.timeout, verify=self._verify
                )
            except requests.exceptions.SSLError as e:
                if "certificate verify failed" in str(e).lower():  # it speaks TLS, with a certificate we distrust
                    raise self._untrusted(e) from None
                if len(self._schemes) > 1:
                    self._schemes.pop(0)  # a plain-HTTP loopback registry: what Docker does too
                    continue
                raise PluginError(
                    f"registry {self.host}: TLS failed ({_reason(e)}); plain HTTP? set insecure"
                ) from None
            except requests.exceptions.Timeout:
                raise PluginError(f"registry {self.host} did not answer within {self.timeout:.0f}s") from None
            except requests.exceptions.ConnectionError as e:
                if len(self._schemes) > 1 and "wrong version number" in str(e).lower():
                    self._schemes.pop(0)
                    continue
                raise PluginError(f"registry {self.host} is unreachable: {_reason(e)}") from None

    def _untrusted(self, e: Exception) -> PluginError:
        detail = str(e).split("certificate verify failed: ", 1)[-1].split(" (_ssl", 1)[0].strip(" ')\"")
        if self._ca_file:
            return PluginError(f"registry {self.host}: its TLS certificate is not signed by registry_ca ({detail})")
        return PluginError(
            f"registry {self.host}: its TLS certificate is not trusted ({detail}); set registry_ca to the CA that "
            "signed it (PEM or base64)"
        )

    def manifest(self, reference: str) -> tuple[str, dict[str, Any]]:
        """The digest and body of the manifest or index `reference` (a tag or digest) names."""
        path = f"/v2/{self.dest.path}/manifests/{reference}"
        resp = self._request("GET", path, scope=f"repository:{self.dest.path}:pull", accept=MANIFEST_TYPES)
        if resp.status_code >= 400:
            raise PluginError(f"registry {self.host}: GET {path}: {registry_message(resp)}")
        return resp.headers.get("Docker-Content-Digest", ""), resp.json()

    def _authorize(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic" or not challenge:
            if not self._creds:
                return
            user, password = self._creds
            self._authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        elif scheme == "bearer":
            self._authorization = f"Bearer {self._token(params, scope)}"
        else:
            raise PluginError(f"registry {self.host} asks for unsupported auth scheme {scheme!r}")
        self.log.mask(self._authorization.split(" ", 1)[1])

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm", "")
        if not realm:
            raise PluginError(f"registry {self.host} sent a Bearer challenge without a realm")
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        try:
            resp = self._session.get(realm, params=query, auth=self._creds, timeout=self.timeout, verify=self._verify)
        except requests.exceptions.RequestException as e:
            raise PluginError(f"token service {realm} of {self.host} is unreachable: {_reason(e)}") from None
        if resp.status_code in (401, 403):
            raise self._refused(resp)
        if resp.status_code >= 400:
            raise PluginError(f"token service {realm} of {self.host}: {registry_message(resp)}")
        body: dict[str, Any] = resp.json()
        token = str(body.get("token") or body.get("access_token") or "")
        if not token:
            raise PluginError(f"token service {realm} of {self.host} returned no token")
        return token


def _reason(e: Exception) -> str:
    """The last, most specific part of a requests/urllib3 error chain (e.g. `Connection refused`)."""
    text = str(e)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker
    return text.rsplit(": ", 1)[-1].strip(" ')\"") or type(e).__name__
