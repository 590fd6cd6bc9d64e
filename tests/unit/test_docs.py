"""Each plugin's README carries the settings table its declaration generates; drift fails here."""

from __future__ import annotations

import pytest

from shared.docs import PLUGINS, ROOT, declaration_of, docs_path, render


@pytest.mark.parametrize("plugin", PLUGINS)
def test_settings_table_matches_declaration(plugin: str) -> None:
    assert docs_path(plugin).read_text() == render(plugin), f"run `make docs` to regenerate {docs_path(plugin)}"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_setting_is_documented(plugin: str) -> None:
    for setting in declaration_of(plugin).settings:
        assert setting.doc, f"{plugin}: setting {setting.name} has no doc line"


def test_top_level_readme_matches_the_plugins_docs() -> None:
    from shared.docs import TOP_README, render_top

    assert TOP_README.read_text() == render_top(), "run `make docs` to regenerate README.md"


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_architecture_names_every_module() -> None:
    """docs/architecture.md has a sentence for every module of shared/ and of each plugin (wiring and
    declarations aside), so a new module is placed in the layers when it is added."""
    text = ARCHITECTURE.read_text()
    modules = sorted((ROOT / "shared").glob("*.py")) + sorted((ROOT / "plugins").glob("*/*.py"))
    missing = [
        str(path.relative_to(ROOT))
        for path in modules
        if path.name not in ("__init__.py", "__main__.py")
        and not (path.parent.name in PLUGINS and path.name == "settings.py")
        and f"`{path.name}`" not in text
    ]
    assert missing == [], f"add a sentence for each to {ARCHITECTURE.relative_to(ROOT)}"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_readme_links_the_architecture(plugin: str) -> None:
    assert "(../../docs/architecture.md)" in docs_path(plugin).read_text()
