"""The local stack as `make up` describes it in `.stack/env` (the only thing the demo reads about it)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK_ENV = ROOT / ".stack" / "env"


@dataclass(frozen=True)
class Stack:
    docker_host: str
    registry: str  # 127.0.0.1:port
    registry_username: str
    registry_password: str
    kubeconfig: str  # admin: used only to prepare the demo's namespace, RBAC and tokens
    kube_server: str
    kube_ca_file: str
    helm_bin: str
    ready_delay_ms: int
    real_node: str  # where the demo's pods run; empty when another checkout runs this machine's real node

    @property
    def ca_pem(self) -> str:
        return Path(self.kube_ca_file).read_text()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a shell-sourceable file (values may be shell-quoted)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, raw = line.partition("=")
            parts = shlex.split(raw) if raw else []
            values[key.strip()] = parts[0] if parts else ""
    return values


def read_stack(path: Path = STACK_ENV) -> Stack:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: bring the stack up with `make up`")
    env = read_env_file(path)
    missing = [k for k in ("DOCKER_HOST", "REGISTRY", "KUBECONFIG", "KUBE_SERVER", "KUBE_CA_FILE") if not env.get(k)]
    if missing:
        raise KeyError(f"{path} lacks {', '.join(missing)}: rerun `make up`")
    return Stack(
        docker_host=env["DOCKER_HOST"],
        registry=env["REGISTRY"],
        registry_username=env.get("REGISTRY_USERNAME", ""),
        registry_password=env.get("REGISTRY_PASSWORD", ""),
        kubeconfig=env["KUBECONFIG"],
        kube_server=env["KUBE_SERVER"],
        kube_ca_file=env["KUBE_CA_FILE"],
        helm_bin=env.get("HELM_BIN", "helm"),
        ready_delay_ms=int(env.get("SHIPLINE_READY_DELAY_MS") or 1000),
        real_node=env.get("REAL_NODE", ""),
    )
