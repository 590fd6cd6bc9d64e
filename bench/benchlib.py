"""Helpers shared by the benchmarks (bench/bench_*.py): the stack's `.stack/env`, a throw-away namespace with the
deployer RBAC, timing a command, medians and the result table.

Benchmarks are not tests: they print numbers and never fail on timing. `ToolFailed` (a tool exited non-zero) is
the only reason for a benchmark to exit non-zero.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config, utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The integration tests' helpers: one way to read `.stack/env` and to make a deployer namespace.
from tests.integration.stacklib import (  # noqa: E402
    STACK_ENV,
    Namespace,
    issue_token,
    read_env_file,
    render_rbac,
    wait_for,
)

REPETITIONS = int(os.environ.get("BENCH_REPETITIONS", "3"))


class ToolFailed(Exception):
    """A measured tool exited non-zero: the benchmark's result would be meaningless."""


def load_stack() -> dict[str, str]:
    """`.stack/env` (written by `make up`); exits 1 with a one-line reason when it is missing."""
    if not STACK_ENV.is_file():
        print(f"bench: {STACK_ENV} is missing; run `make up` first", file=sys.stderr)
        sys.exit(1)
    return read_env_file(STACK_ENV)


def run(main: Callable[[dict[str, str]], int]) -> None:
    """The entry point of a benchmark: `main(stack)`'s exit code, or 1 with the reason when a tool failed."""
    stack = load_stack()
    try:
        code = main(stack)
    except ToolFailed as exc:
        print(f"{Path(sys.argv[0]).stem}: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code)


def admin_client(stack: Mapping[str, str]) -> client.ApiClient:
    return config.new_client_from_config(config_file=stack["KUBECONFIG"])


@contextmanager
def bench_namespace(stack: Mapping[str, str], prefix: str, where: str = "kwok") -> Iterator[Namespace]:
    """A fresh namespace with stack/rbac-deployer.yaml and a deployer token (as the tests' `namespace` fixture),
    its pods on the kwok nodes or the real node (`where`); deleted afterwards."""
    api = admin_client(stack)
    core = client.CoreV1Api(api)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    for doc in render_rbac(name, where):
        utils.create_from_dict(api, doc)
    try:

        def default_service_account() -> bool:
            try:
                core.read_namespaced_service_account("default", name)
                return True
            except client.ApiException:
                return False

        # Pods can only be created once the namespace's default ServiceAccount exists.
        wait_for(default_service_account, 30, what=f"ServiceAccount {name}/default")
        yield Namespace(
            name=name, token=issue_token(api, name), server=stack["KUBE_SERVER"], ca_file=stack["KUBE_CA_FILE"]
        )
    finally:
        core.delete_namespace(name, propagation_policy="Background")
        api.close()


def console_script(name: str) -> str:
    """A console script of this venv (e.g. `kubectl-helm-deploy`)."""
    return str(Path(sys.executable).with_name(name))


def plugin_env(settings: Mapping[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without CI/plugin variables, plus `settings` as PLUGIN_<NAME> and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "DRONE", "CI_", "KUBERNETES_"))}
    env.pop("CI", None)
    env.update({f"PLUGIN_{key.upper()}": value for key, value in settings.items()})
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


def run_timed(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = "/tmp",
    stdin: str | None = None,
    timeout: float = 300,
) -> float:
    """Runs `argv` to completion and returns its wall-clock seconds; ToolFailed (with the output's tail) on a
    non-zero exit."""
    started = time.monotonic()
    proc = subprocess.run(
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    took = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-8:])
        raise ToolFailed(f"{Path(argv[0]).name} exited {proc.returncode}:\n{tail}")
    return took


def run_plugin(plugin: str, ns: Namespace, settings: Mapping[str, str], cwd: Path | str) -> float:
    """Runs a plugin's console script as a pipeline step would, as `ns`'s deployer with `settings`; its wall-clock
    seconds."""
    return run_timed([console_script(plugin)], env=plugin_env(settings, **ns.access_env()), cwd=cwd)


@dataclass
class Case:
    """One benchmark case: the seconds of each repetition, per tool."""

    name: str
    shipline: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)


def print_table(title: str, shipline: str, reference: str, cases: list[Case]) -> None:
    """Medians per case, both tools, and the ratio shipline/reference."""
    print(f"== {title}")
    print(f"   shipline = {shipline}; reference = {reference}; median of each case's repetitions")
    header = f"   {'case':32} {'reps':>4} {'shipline':>10} {'reference':>10} {'ratio':>6}"
    print(header)
    print("   " + "-" * (len(header) - 3))
    for case in cases:
        ours, theirs = statistics.median(case.shipline), statistics.median(case.reference)
        ratio = f"{ours / theirs:6.2f}" if theirs > 0 else "     -"
        reps = min(len(case.shipline), len(case.reference))
        print(f"   {case.name:32} {reps:>4} {ours:9.2f}s {theirs:9.2f}s {ratio}")
    print(flush=True)
