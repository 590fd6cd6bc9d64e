"""Plugin docs: each plugin's README.md carries its settings table between markers, generated from the
declaration. `python -m shared.docs [plugin ...]` rewrites them; a test fails when they drift."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from shared.settings import Declaration, update_docs_block

PLUGINS = ("docker_publish_tagger", "kubectl_helm_deploy", "deployment_verify", "chaos_kill")
ROOT = Path(__file__).resolve().parent.parent


def declaration_of(plugin: str) -> Declaration:
    return importlib.import_module(f"plugins.{plugin}.settings").DECLARATION  # type: ignore[no-any-return]


def docs_path(plugin: str) -> Path:
    return ROOT / "plugins" / plugin / "README.md"


def render(plugin: str) -> str:
    return update_docs_block(docs_path(plugin).read_text(), declaration_of(plugin).markdown_table())


def main(argv: list[str]) -> int:
    """Regenerate the named plugins' docs (all four when none is named)."""
    for plugin in argv or PLUGINS:
        path = docs_path(plugin)
        new = render(plugin)
        if new != path.read_text():
            path.write_text(new)
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
