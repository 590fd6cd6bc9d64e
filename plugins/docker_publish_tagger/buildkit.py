"""Building and pushing with BuildKit through its own client, buildctl (shipped in the image).

No secret ever reaches buildctl's argv: TLS material and registry credentials are 0600 files in a private
temp dir (shared.auth.SecretDir), build secrets go in by environment variable name or file path.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from plugins.docker_publish_tagger.plan import BuildSpec, PublishPlan
from shared.auth import SecretDir, decode_ca
from shared.errors import PluginError, SettingsError
from shared.log import Log

BUILDCTL = "buildctl"
_VERTEX = re.compile(r"^#(\d+) (.*)$")
_STEP = re.compile(r"^\[[^\]]*\d+/\d+\] ")  # a Dockerfile instruction: `[stage 2/3] COPY ...`
_TLS = ("tls:", "x509:", "certificate", "handshake")
TLS_FAILED = "the TLS handshake failed"
CHECK_TLS = "check buildkit_ca, buildkit_cert and buildkit_key"


@dataclass(frozen=True)
class ClientFiles:
    """Where buildctl finds what it must not be given on its command line."""

    docker_config: Path  # a directory with config.json: registry credentials for pulls, pushes and cache
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    metadata: Path = Path("metadata.json")


def write_client_files(
    secrets: SecretDir, auth: Mapping[str, str] | None, docker_config: str, tls: Mapping[str, str]
) -> ClientFiles:
    """config.json (credentials) and the TLS files, 0600 in `secrets`; SettingsError for a malformed PEM."""
    config = secrets.path / "docker"
    config.mkdir(mode=0o700)
    if docker_config:
        content = docker_config
    else:
        auths = {}
        if auth:
            token = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
            auths[auth["serveraddress"]] = {"auth": token}
        content = json.dumps({"auths": auths})
    secrets.write("docker/config.json", content)
    files: dict[str, Path] = {}
    for name, value in tls.items():
        if not value:
            continue
        setting = f"PLUGIN_BUILDKIT_{name.upper()}"
        pem = decode_ca(value, setting) if name != "key" else _pem_key(value, setting)
        files[name] = secrets.write(f"buildkit-{name}.pem", pem)
    return ClientFiles(config, files.get("ca"), files.get("cert"), files.get("key"), secrets.path / "metadata.json")


def _pem_key(value: str, setting: str) -> str:
    text = value.strip()
    if "-----BEGIN" not in text:
        try:
            text = base64.b64decode("".join(text.split()), validate=True).decode("ascii").strip()
        except (ValueError, UnicodeDecodeError):
            raise SettingsError(setting, "is neither a PEM key nor base64-encoded PEM") from None
    if "PRIVATE KEY-----" not in text:
        raise SettingsError(setting, "is not a PEM private key")
    return text + "\n"


def connection_args(addr: str, files: ClientFiles) -> list[str]:
    args = ["--addr", addr]
    for flag, path in (("--tlscacert", files.ca), ("--tlscert", files.cert), ("--tlskey", files.key)):
        if path:
            args += [flag, str(path)]
    return args


def _csv(fields: Iterable[str]) -> str:
    """One buildctl attribute list: CSV, so a value holding commas (several image names) is quoted."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(list(fields))
    return out.getvalue()


def build_argv(plan: PublishPlan, files: ClientFiles) -> list[str]:
    """buildctl's whole command line for the plan (pure): paths and names only, never a secret value."""
    b: BuildSpec = plan.build
    argv = [BUILDCTL, *connection_args(b.buildkit_addr, files), "build", "--progress", "plain"]
    argv += ["--frontend", "dockerfile.v0"]
    argv += ["--local", f"context={b.context.resolve()}", "--local", f"dockerfile={b.dockerfile.resolve().parent}"]
    argv += ["--opt", f"filename={b.dockerfile.name}"]
    argv += ["--opt", f"target={b.target}"] if b.target else []
    argv += [a for k, v in b.build_args.items() for a in ("--opt", f"build-arg:{k}={v}")]
    argv += [a for k, v in b.labels.items() for a in ("--opt", f"label:{k}={v}")]
    argv += ["--opt", f"platform={','.join(b.platforms)}"] if b.platforms else []
    argv += ["--opt", "image-resolve-mode=pull"] if b.pull else []
    argv += ["--opt", f"force-network-mode={b.network}"] if b.network else []
    argv += ["--opt", "attest:provenance=mode=min"] if b.provenance else []
    argv += ["--opt", "attest:sbom="] if b.sbom else []
    argv += ["--no-cache"] if b.no_cache else []
    for secret in b.secrets:
        source = f"env={secret.env}" if secret.env else f"src={secret.file}"
        argv += ["--secret", f"id={secret.id},{source}"]
    argv += [a for c in b.cache_from for a in ("--import-cache", c.spec())]
    argv += [a for c in b.cache_to for a in ("--export-cache", c.spec())]
    output = ["type=image", "name=" + ",".join(plan.references()), f"push={'true' if plan.push else 'false'}"]
    output += ["registry.insecure=true"] if plan.destination.insecure else []
    argv += ["--output", _csv(output), "--metadata-file", str(files.metadata)]
    return argv


@dataclass
class Progress:
    """Reads `buildctl --progress plain`: the Dockerfile steps and which of them BuildKit took from cache.
    Pure: feed it lines."""

    names: dict[str, str] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        m = _VERTEX.match(line)
        if not m:
            if line.startswith("error:") or line.startswith("ERROR:"):
                self.errors.append(line)
            return
        vertex, text = m.groups()
        if vertex not in self.names and not re.match(r"^\d+\.\d+ ", text):
            self.names[vertex] = text
        if text == "CACHED":
            self.cached.add(vertex)
        if text.startswith("ERROR"):
            self.errors.append(f"{self.names.get(vertex, '#' + vertex)}: {text}")

    def steps(self) -> list[str]:
        return [v for v, name in self.names.items() if _STEP.match(name)]

    def cached_steps(self) -> list[str]:
        return [v for v in self.steps() if v in self.cached]


def check_builder(addr: str, files: ClientFiles, log: Log, timeout: float = 30) -> None:
    """The daemon answers and accepts our client certificate: fail before building otherwise."""
    try:
        _run([BUILDCTL, *connection_args(addr, files), "debug", "workers"], addr, files, {}, log, timeout, quiet=True)
    except PluginError:
        # gRPC reports a refused client certificate as whatever the closed connection looked like (a broken pipe,
        # an EOF, the alert): one TLS handshake of our own says which it was.
        reason = tls_refusal(addr, files) if addr.startswith("tcp://") else ""
        if reason:
            raise PluginError(f"BuildKit at {addr}: {TLS_FAILED} ({reason}); {CHECK_TLS}") from None
        raise


def tls_refusal(addr: str, files: ClientFiles, timeout: float = 10) -> str:
    """Why the daemon at tcp://host:port refuses a TLS session with our files ("" when it accepts one)."""
    import socket
    import ssl

    host, _, port = addr.removeprefix("tcp://").rpartition(":")
    try:
        context = ssl.create_default_context(cafile=str(files.ca) if files.ca else None)
        if files.cert and files.key:
            context.load_cert_chain(str(files.cert), str(files.key))
        context.set_alpn_protocols(["h2"])
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host.strip("[]")) as tls:
                # TLS 1.3: the server judges our certificate after the handshake; its verdict comes with the first
                # read (an HTTP/2 preface gets a SETTINGS frame back when we are accepted).
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                tls.recv(1)
    except ssl.SSLError as e:
        return str(e.reason or e).lower().replace("_", " ")
    except (OSError, ValueError):
        return ""
    return ""


def run_build(plan: PublishPlan, files: ClientFiles, env: Mapping[str, str], log: Log, timeout: float) -> Progress:
    """Run the build (and push); the progress read from its log, or PluginError with the cause."""
    return _run(build_argv(plan, files), plan.build.buildkit_addr, files, env, log, timeout)


def _run(
    argv: list[str],
    addr: str,
    files: ClientFiles,
    env: Mapping[str, str],
    log: Log,
    timeout: float,
    quiet: bool = False,
) -> Progress:
    executable = shutil.which(BUILDCTL)
    if not executable:
        raise PluginError("buildctl is not on PATH (the docker-publish-tagger image carries it)")
    # Only what buildctl needs: the secrets' own variables, PATH, and DOCKER_CONFIG (credentials file).
    child = {"PATH": os.environ.get("PATH", ""), "DOCKER_CONFIG": str(files.docker_config), **env}
    if not quiet:
        log.info(f"$ {log.masker(' '.join(argv))}")
    progress = Progress()
    tail: list[str] = []
    killed = threading.Event()
    with subprocess.Popen(
        [executable, *argv[1:]], env=child, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:

        def kill() -> None:
            killed.set()
            proc.kill()

        # The log is read line by line until buildctl closes it: only a timer can stop a build that hangs.
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip()
                progress.feed(line)
                tail = (tail + [line])[-20:]
                if not quiet:
                    log.info(line)
            code = proc.wait()
        finally:
            timer.cancel()
    if killed.is_set():
        raise PluginError(f"buildctl did not finish within {timeout:.0f}s (stopped)")
    if code != 0:
        raise explain_failure(tail, addr)
    return progress


def explain_failure(tail: list[str], addr: str) -> PluginError:
    """The one line that says why buildctl failed: TLS, an unreachable daemon, or the failed step."""
    text = "\n".join(tail)
    reason = next((line for line in reversed(tail) if line.startswith(("error:", "ERROR:"))), tail[-1] if tail else "")
    low = text.lower()
    if addr.startswith("tcp://") and any(m in low for m in _TLS) and "failed to solve" not in low:
        return PluginError(f"BuildKit at {addr}: {TLS_FAILED} ({reason.removeprefix('error: ')}); {CHECK_TLS}")
    if "connection refused" in low or ("no such file or directory" in low and addr.startswith("unix://")):
        return PluginError(f"no BuildKit daemon answers at {addr}: {reason}")
    return PluginError(f"build failed: {reason.removeprefix('error: ')}")
