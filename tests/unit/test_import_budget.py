"""Each plugin imports only what it uses: its image carries only its own dependencies, and heavy clients
load once the settings are valid. Structural checks, not timings."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("docker_publish_tagger", "kubectl_helm_deploy", "deployment_verify", "chaos_kill")
HEAVY = {"kubernetes", "docker", "pyhelm3", "pydantic"}
# What each plugin's code must never import, wherever the import is (its image does not carry it).
NEVER = {
    "docker_publish_tagger": {"kubernetes", "pyhelm3", "pydantic"},
    "kubectl_helm_deploy": {"docker"},
    "deployment_verify": {"docker", "pyhelm3", "pydantic"},
    "chaos_kill": {"docker", "pyhelm3", "pydantic"},
}


def imported_at_start(plugin: str) -> set[str]:
    """Top-level packages the entry point imports on its way to a settings error (no PLUGIN_* set)."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    code = f"import sys; from plugins.{plugin}.__main__ import main; sys.exit(main([]))"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, cwd="/", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    lines = [line.split("|")[-1] for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.strip().split(".")[0] for line in lines[1:]}


@pytest.mark.parametrize("plugin", PLUGINS)
def test_no_heavy_client_before_the_settings_are_read(plugin: str) -> None:
    imported = imported_at_start(plugin)
    assert "shared" in imported and "plugins" in imported  # the parse above saw the imports
    assert not imported & HEAVY, f"{plugin} imports {sorted(imported & HEAVY)} before reading its settings"


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(plugin: str) -> dict[str, str]:
    """Every package imported anywhere (also inside functions) by the plugin's modules and the shared modules they
    reach: package -> the module that imports it."""
    todo = sorted((ROOT / "plugins" / plugin).glob("*.py"))
    seen: set[Path] = set()
    found: dict[str, str] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                local = module_file(name)
                if name.split(".")[0] in ("shared", "plugins"):
                    if local:
                        todo.append(local)
                elif name.split(".")[0] not in sys.stdlib_module_names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_never_imports_what_its_image_does_not_carry(plugin: str) -> None:
    imports = third_party_imports(plugin)
    assert "requests" in imports or "yaml" in imports  # the walk reached third-party imports at all
    forbidden = {name: where for name, where in imports.items() if name in NEVER[plugin]}
    assert not forbidden, f"{plugin} imports {forbidden}"
