"""pyhelm3 without a shell: the plugin images have none, so helm is executed directly, with the same argv."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.kubectl_helm_deploy.helm_release import exec_without_shell

# A `helm` that answers `version` like helm does and otherwise prints its parent's name and its arguments.
FAKE_HELM = """#!{python}
import json, os, sys
parent = open(f"/proc/{{os.getppid()}}/comm").read().strip()
if sys.argv[1] == "version":
    print("v3.9.1" if parent != "sh" else "v0.0.0-run-by-a-shell", end="")
else:
    print(json.dumps({{"parent": parent, "args": sys.argv[1:]}}))
"""


@pytest.fixture
def command_module() -> Iterator[types.ModuleType]:
    """pyhelm3.command, patched by the test and reloaded afterwards."""
    import pyhelm3.command

    yield pyhelm3.command
    importlib.reload(pyhelm3.command)


def test_helm_is_executed_without_a_shell(command_module: types.ModuleType, tmp_path: Path) -> None:
    helm = tmp_path / "helm"
    helm.write_text(FAKE_HELM.format(python=sys.executable))
    helm.chmod(0o755)
    exec_without_shell(command_module)
    command = command_module.Command(executable=str(helm))
    assert str(command.client_version()) == "3.9.1"
    args = ["get", "values", 'it\'s a "release"', "--namespace", "", "a b;c"]
    ran = json.loads(asyncio.run(command.run(args)))
    assert ran == {"parent": Path(sys.executable).name[:15], "args": args}
