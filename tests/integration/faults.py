"""Helpers of the fault tests: stop and start the stack's components (stack/cluster.sh), hold rollouts with
cordoned nodes, and run a plugin in its own process, as a pipeline step runs it, while that happens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .stacklib import REPO_ROOT, wait_for

CLUSTER_SH = REPO_ROOT / "stack" / "cluster.sh"


def cluster_sh(*args: str, timeout: float = 300) -> str:
    """stack/cluster.sh ARGS; its output, or AssertionError with it."""
    done = subprocess.run(
        [str(CLUSTER_SH), *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO_ROOT
    )
    assert done.returncode == 0, f"stack/cluster.sh {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done.stdout


def component_pids() -> dict[str, str]:
    """Each component's pid ('-' when stopped), from `stack/cluster.sh status`."""
    done = subprocess.run([str(CLUSTER_SH), "status"], capture_output=True, text=True, timeout=120, check=False)
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    return {row[0]: row[1] for row in rows if len(row) >= 3}


@dataclass
class Outage:
    """What one stop/start of a component took (for the report of the run)."""

    component: str
    down_seconds: float = 0.0  # killed -> start requested
    start_seconds: float = 0.0  # start requested -> healthy again


@contextmanager
def component_down(component: str) -> Iterator[Outage]:
    """SIGKILL `component` on entry; start it again on exit, whatever happened inside (the rest of the suite runs
    on this stack), and wait until it is healthy."""
    outage = Outage(component)
    cluster_sh("kill", component)
    killed = time.monotonic()
    try:
        yield outage
    finally:
        outage.down_seconds = time.monotonic() - killed
        started = time.monotonic()
        cluster_sh("start", component)
        outage.start_seconds = time.monotonic() - started
        print(f"[faults] {component}: down {outage.down_seconds:.1f}s, healthy {outage.start_seconds:.1f}s after start")


def _set_unschedulable(admin: client.ApiClient, value: bool) -> None:
    core = client.CoreV1Api(admin)
    for node in core.list_node().items:
        core.patch_node(node.metadata.name, {"spec": {"unschedulable": value}})


@contextmanager
def nodes_cordoned(admin: client.ApiClient) -> Iterator[None]:
    """No new pod is scheduled while inside: rollouts and recoveries are held until the test lets them go (on
    exit; also when the test fails, retried while the API server may still be coming back)."""
    _set_unschedulable(admin, True)
    try:
        yield
    finally:
        uncordon(admin)


def uncordon(admin: client.ApiClient) -> None:
    """Let the held pods be scheduled, retried while the API server may still be coming back."""

    def attempt() -> bool:
        try:
            _set_unschedulable(admin, False)
            return True
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return False

    wait_for(attempt, 120, 1, "nodes uncordoned")


@dataclass
class Plugin:
    """A plugin in its own process (`python -m plugins.<name>`): only the given variables, a workspace as the
    working directory; its output is collected line by line as it comes."""

    module: str
    env: Mapping[str, str]
    cwd: Path
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**base, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **self.env},
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_output(self, pattern: str, timeout: float) -> str:
        """The first output line matching `pattern`; AssertionError (with the output) if the process ends or
        `timeout` passes first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                ended = not self._reader.is_alive()
                if ended or remaining <= 0:
                    why = "ended" if ended else f"printed nothing like it within {timeout:.0f}s"
                    raise AssertionError(f"{self.module} {why} /{pattern}/:\n" + "\n".join(self.lines))
                self._changed.wait(min(remaining, 1.0))

    def finish(self, timeout: float) -> tuple[int, str]:
        """Its exit code and whole output (it is killed after `timeout`: AssertionError)."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.module} still running after {timeout:.0f}s:\n{self.output}") from None
        self._reader.join(10)
        return code, self.output

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
