"""Each plugin's README carries the settings table its declaration generates; drift fails here."""

from __future__ import annotations

import pytest

from shared.docs import PLUGINS, declaration_of, docs_path, render


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
