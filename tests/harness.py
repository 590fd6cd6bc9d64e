"""One harness for every plugin's tests: settings -> environment -> the plugin's main() in-process -> exit code
and output, as a pipeline step runs it. Unit tests use it bare (`harness` fixture); integration tests add the
stack's credentials (tests/integration/conftest.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

# What a CI step's environment may carry that a test must not inherit from the shell running it.
INHERITED = ("PLUGIN_", "KUBERNETES_", "DRONE", "CI_")

Main = Callable[[list[str]], int]


class Capture(Protocol):
    def readouterr(self) -> Any: ...


@dataclass(frozen=True)
class Run:
    code: int
    out: str  # the plugin's log (stdout)
    err: str = ""  # anything else written to stderr (library warnings)
    report: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        """`code, out = run`."""
        return iter((self.code, self.out))

    @property
    def last(self) -> str:
        """The last line: where a failure names its cause."""
        lines = self.out.strip().splitlines()
        return lines[-1] if lines else ""


def plugin_env(settings: Mapping[str, object]) -> dict[str, str]:
    """PLUGIN_<NAME> for each setting (booleans as true/false); upper-case keys are variables as written."""
    env = {}
    for name, value in settings.items():
        key = name if name.isupper() else f"PLUGIN_{name.upper()}"
        env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


class Harness:
    """Runs `main` with a clean CI environment plus the given settings; secrets must never reach the output."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capture: Capture) -> None:
        self.monkeypatch, self.capture = monkeypatch, capture
        self.base: dict[str, str] = {}
        self.secrets: list[str] = []
        for name in list(os.environ):
            if name.startswith(INHERITED) or name == "KUBECONFIG":
                monkeypatch.delenv(name)

    def configure(self, secrets: Iterable[str] = (), **settings: object) -> Harness:
        """Settings every later run gets (credentials, a namespace); `secrets` are checked absent from output."""
        self.base.update(plugin_env(settings))
        self.secrets.extend(secrets)
        return self

    def setenv(self, **settings: object) -> None:
        """The environment of a run: the base settings and `settings`."""
        for key, value in {**self.base, **plugin_env(settings)}.items():
            self.monkeypatch.setenv(key, value)

    def run(self, main: Main, report: Path | None = None, **settings: object) -> Run:
        """`main([])` with the base settings and `settings`; `report` is read (and removed) when it was written."""
        self.setenv(**settings)
        self.capture.readouterr()
        code = main([])
        captured = self.capture.readouterr()
        for secret in self.secrets:
            assert secret not in captured.out + captured.err, "a secret leaked into the output"
        found: dict[str, Any] = {}
        if report is not None and report.exists():
            found = json.loads(report.read_text())
            report.unlink()
        return Run(code, captured.out, captured.err, found)
