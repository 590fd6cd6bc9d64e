"""Plugin docs, generated where they could drift.

Each plugin's README.md carries its settings table between `<!-- settings:start -->` / `<!-- settings:end -->`,
generated from its declaration. The top-level README carries, between `<!-- plugins:start -->` /
`<!-- plugins:end -->`, each plugin's summary, table and first Drone / Woodpecker / docker run examples, taken
from the plugin's README. `python -m shared.docs` rewrites them all; a test fails when any has drifted.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from shared.settings import Declaration, update_docs_block

PLUGINS = ("docker_publish_tagger", "kubectl_helm_deploy", "deployment_verify", "chaos_kill")
ROOT = Path(__file__).resolve().parent.parent
TOP_README = ROOT / "README.md"
EXAMPLES = (("Drone", "Drone step"), ("Woodpecker", "Woodpecker step"), ("docker run", "`docker run`"))


def declaration_of(plugin: str) -> Declaration:
    return importlib.import_module(f"plugins.{plugin}.settings").DECLARATION  # type: ignore[no-any-return]


def docs_path(plugin: str) -> Path:
    return ROOT / "plugins" / plugin / "README.md"


def render(plugin: str) -> str:
    return update_docs_block(docs_path(plugin).read_text(), declaration_of(plugin).markdown_table())


def _section(text: str, heading: str) -> str:
    """The body of the first `## <heading>...` section."""
    match = re.search(rf"^## {re.escape(heading)}.*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def _first_block(text: str) -> str:
    match = re.search(r"^```.*?^```\n", text, re.M | re.S)
    return match.group(0) if match else ""


def plugin_summary(plugin: str) -> str:
    """The top-level README's part for one plugin, from that plugin's own README."""
    text = render(plugin)
    name = declaration_of(plugin).plugin
    intro = text.split("\n\n", 2)[1].strip()
    parts = [f"### {name}\n", f"{intro} Full docs: [plugins/{plugin}/README.md](plugins/{plugin}/README.md).\n"]
    for heading, label in EXAMPLES:
        block = _first_block(_section(text, heading))
        if not block:
            raise ValueError(f"{docs_path(plugin)} has no example under '## {heading}'")
        parts.append(f"{label}:\n\n{block}")
    parts.append(f"Settings:\n\n{declaration_of(plugin).markdown_table()}")
    return "\n".join(parts)


def render_top() -> str:
    start, end = "<!-- plugins:start -->", "<!-- plugins:end -->"
    text = TOP_README.read_text()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    body = "\n".join(plugin_summary(p) for p in PLUGINS)
    return f"{head}{start}\n{body}{end}{tail}"


def main(argv: list[str]) -> int:
    """Regenerate the named plugins' docs (all four when none is named), then the top-level README."""
    for plugin in argv or PLUGINS:
        path = docs_path(plugin)
        new = render(plugin)
        if new != path.read_text():
            path.write_text(new)
            print(f"updated {path.relative_to(ROOT)}")
    top = render_top()
    if top != TOP_README.read_text():
        TOP_README.write_text(top)
        print(f"updated {TOP_README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
