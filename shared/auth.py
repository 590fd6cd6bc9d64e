"""Cluster and registry credentials: the seed's three secrets (server, CA, token), a kubeconfig, or in-cluster.

Secrets are written only to 0600 files in a private 0700 temp directory that is removed when the plugin ends;
they never reach argv or a log line. Helm gets a kubeconfig *file* whose user reads the token from a file.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import SettingsError
from shared.log import Log
from shared.settings import Setting, Values

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
IN_CLUSTER_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")

KUBE_ACCESS: tuple[Setting, ...] = (
    Setting(
        "kubernetes_server",
        doc="API server URL, e.g. https://10.0.0.1:6443",
        fallback=("KUBERNETES_SERVER",),
        format="http_url",
    ),
    Setting(
        "kubernetes_cert",
        "text",
        secret=True,
        doc="The cluster's CA certificate, as PEM or base64-encoded PEM",
        fallback=("KUBERNETES_CERT",),
    ),
    Setting(
        "kubernetes_token",
        secret=True,
        doc="A service-account token for the API server",
        fallback=("KUBERNETES_TOKEN",),
    ),
    Setting(
        "kubeconfig",
        "text",
        secret=True,
        doc="A whole kubeconfig (its content, not a path), instead of the three above",
    ),
    Setting("kube_context", doc="The kubeconfig context to use (default: its current context)"),
    Setting("skip_tls_verify", "bool", False, "Do not verify the API server's certificate (insecure; warns)"),
)

REGISTRY_ACCESS: tuple[Setting, ...] = (
    Setting("username", doc="Registry user name", fallback=("DOCKER_USERNAME",)),
    Setting("password", secret=True, doc="Registry password or token", fallback=("DOCKER_PASSWORD",)),
    Setting("docker_config", "text", secret=True, doc="A whole Docker config.json (content), for several registries"),
)

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


def decode_ca(value: str, setting: str = "PLUGIN_KUBERNETES_CERT") -> str:
    """The CA as PEM text, whether `value` is PEM or base64-encoded PEM; SettingsError for anything else."""
    text = value.strip()
    if PEM_BEGIN in text:
        return text + "\n"
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):  # binascii.Error, and ValueError for non-ASCII text
        raise SettingsError(setting, "is neither a PEM certificate nor base64-encoded PEM") from None
    if PEM_BEGIN not in decoded:
        raise SettingsError(setting, "is base64, but what it encodes is not a PEM certificate")
    return decoded.strip() + "\n"


class SecretDir:
    """A private temp directory (0700) for secret files (0600), removed by `close()` or at interpreter exit."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="shipline-"))
        os.chmod(self.path, 0o700)
        atexit.register(self.close)  # a safety net: callers close it themselves (it is a context manager)

    def write(self, name: str, content: str) -> Path:
        path = self.path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return path

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> SecretDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the cluster: a kubeconfig file (for helm and the client) and the server it points at."""

    kubeconfig: Path
    server: str
    namespace: str  # the kubeconfig context's namespace, "" when it names none
    insecure: bool


def kube_access(values: Values, secrets: SecretDir, log: Log, env: Mapping[str, str] | None = None) -> KubeAccess:
    """Resolve KUBE_ACCESS settings into a kubeconfig file in `secrets`. Validates before any network call."""
    env = os.environ if env is None else env
    insecure = bool(values.skip_tls_verify)
    if insecure:
        log.warn(
            "skip_tls_verify is on: the API server's certificate is NOT verified (anyone on the path can "
            "read the token)"
        )
    if values.kubeconfig:
        if values.kubernetes_server or values.kubernetes_token:
            raise SettingsError("PLUGIN_KUBECONFIG", "set either kubeconfig or kubernetes_server/_token, not both")
        return _from_kubeconfig(values.kubeconfig, values.kube_context, insecure, secrets)
    if values.kubernetes_server or values.kubernetes_token:
        if not values.kubernetes_server:
            raise SettingsError("PLUGIN_KUBERNETES_SERVER", "is required with kubernetes_token")
        if not values.kubernetes_token:
            raise SettingsError("PLUGIN_KUBERNETES_TOKEN", "is required with kubernetes_server")
        server = values.kubernetes_server.rstrip("/")
        if not server.startswith(("https://", "http://")):
            raise SettingsError("PLUGIN_KUBERNETES_SERVER", f'"{server}" is not an http(s) URL')
        ca = decode_ca(values.kubernetes_cert) if values.kubernetes_cert else None
        if ca is None and not insecure and server.startswith("https://"):
            raise SettingsError("PLUGIN_KUBERNETES_CERT", "is required to verify the server (or set skip_tls_verify)")
        return _write_kubeconfig(server, values.kubernetes_token.strip(), ca, insecure, "", secrets)
    if IN_CLUSTER_TOKEN.exists() and env.get("KUBERNETES_SERVICE_HOST"):
        host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        ca = IN_CLUSTER_CA.read_text() if IN_CLUSTER_CA.exists() else None
        return _write_kubeconfig(
            f"https://{host}:{port}", IN_CLUSTER_TOKEN.read_text().strip(), ca, insecure, "", secrets
        )
    raise SettingsError(
        "PLUGIN_KUBERNETES_SERVER",
        "no cluster access configured: set kubernetes_server, kubernetes_cert and kubernetes_token "
        "(or kubeconfig, or run in a cluster)",
    )


def _write_kubeconfig(
    server: str, token: str, ca: str | None, insecure: bool, namespace: str, secrets: SecretDir
) -> KubeAccess:
    token_file = secrets.write("token", token)
    cluster: dict[str, Any] = {"server": server}
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif ca:
        cluster["certificate-authority"] = str(secrets.write("ca.crt", ca))
    context: dict[str, Any] = {"cluster": "shipline", "user": "shipline"}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "shipline", "cluster": cluster}],
        # tokenFile: helm and the client read the token from disk, so it is never in argv or the config text.
        "users": [{"name": "shipline", "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "shipline", "context": context}],
        "current-context": "shipline",
    }
    # JSON, which is YAML to helm and the client: a plugin that reads no YAML never imports PyYAML (start-up).
    path = secrets.write("kubeconfig", json.dumps(config, indent=2))
    return KubeAccess(path, server, namespace, insecure)


def _from_kubeconfig(content: str, context_name: str, insecure: bool, secrets: SecretDir) -> KubeAccess:
    import yaml

    try:
        config = yaml.safe_load(content)
    except yaml.YAMLError:
        raise SettingsError("PLUGIN_KUBECONFIG", "is not valid YAML") from None
    if not isinstance(config, dict) or not config.get("clusters") or not config.get("contexts"):
        raise SettingsError("PLUGIN_KUBECONFIG", "is not a kubeconfig (no clusters or contexts)")
    name = context_name or config.get("current-context") or config["contexts"][0].get("name")
    ctx = next((c for c in config["contexts"] if c.get("name") == name), None)
    if ctx is None:
        raise SettingsError("PLUGIN_KUBE_CONTEXT", f'"{name}" is not a context of the kubeconfig')
    config["current-context"] = name
    cluster = next((c for c in config["clusters"] if c.get("name") == ctx["context"].get("cluster")), None)
    if cluster is None:
        raise SettingsError("PLUGIN_KUBECONFIG", f'context "{name}" names a cluster that is not defined')
    if insecure:
        cluster["cluster"]["insecure-skip-tls-verify"] = True
        cluster["cluster"].pop("certificate-authority-data", None)
        cluster["cluster"].pop("certificate-authority", None)
    path = secrets.write("kubeconfig", yaml.safe_dump(config))
    return KubeAccess(path, cluster["cluster"].get("server", ""), ctx["context"].get("namespace", ""), insecure)


def registry_auth(values: Values, registry: str) -> dict[str, str] | None:
    """Docker SDK auth_config for `registry` from username/password or a config.json; None for anonymous."""
    if values.username or values.password:
        if not (values.username and values.password):
            missing = "PLUGIN_PASSWORD" if values.username else "PLUGIN_USERNAME"
            raise SettingsError(missing, "is required when the other registry credential is set")
        return {"username": values.username, "password": values.password, "serveraddress": registry}
    if values.docker_config:
        return _auth_from_config(values.docker_config, registry)
    return None


def _auth_from_config(content: str, registry: str) -> dict[str, str] | None:
    refused = SettingsError("PLUGIN_DOCKER_CONFIG", "is not a Docker config.json (JSON with an auths object)")
    try:
        auths = json.loads(content).get("auths", {})
    except (ValueError, RecursionError, AttributeError):  # ValueError: malformed JSON, a 4,300+ digit number
        raise refused from None
    if not isinstance(auths, dict) or not all(isinstance(entry, dict) for entry in auths.values()):
        raise refused
    for key, entry in auths.items():
        host = key.removeprefix("https://").removeprefix("http://").split("/")[0]
        if host != registry:
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
            except (ValueError, UnicodeDecodeError):  # binascii.Error, or non-ASCII text
                raise SettingsError(
                    "PLUGIN_DOCKER_CONFIG", f'the auth of "{key}" is not base64 user:password'
                ) from None
            return {"username": user, "password": password, "serveraddress": registry}
        if entry.get("username"):
            return {
                "username": str(entry["username"]),
                "password": str(entry.get("password", "")),
                "serveraddress": registry,
            }
    return None
