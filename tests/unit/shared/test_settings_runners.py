"""How settings arrive from each runner: Drone's `PLUGIN_DRY-RUN` spelling, unknown PLUGIN_* variables, and
`from_secret` objects a runner left unresolved (values encoded as each runner writes them)."""

from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.settings import Declaration, Setting

DECL = Declaration(
    "demo-plugin",
    (
        Setting("dry_run", "bool", False, "Print the plan only"),
        Setting("tags", "list", [], "Extra tags"),
        Setting("build_args", "map", {}, "Build arguments"),
        Setting("password", secret=True, doc="Registry password"),
        Setting("max_surge.value", default="", doc="A dotted name"),
    ),
)
DRONE = {"DRONE": "true", "DRONE_BUILD_NUMBER": "3"}
WOODPECKER = {"CI": "woodpecker", "CI_SYSTEM_NAME": "woodpecker", "DRONE_BUILD_NUMBER": "3"}


@pytest.mark.parametrize(
    ("environ", "name", "value"),
    [
        # `dry-run: true` in a step: Drone keeps the dash, Woodpecker writes `_`.
        pytest.param({**DRONE, "PLUGIN_DRY-RUN": "true"}, "dry_run", True, id="drone-dash"),
        pytest.param({**WOODPECKER, "PLUGIN_DRY_RUN": "true"}, "dry_run", True, id="woodpecker-underscore"),
        pytest.param({**DRONE, "PLUGIN_MAX_SURGE.VALUE": "2"}, "max_surge.value", "2", id="drone-dot"),
        pytest.param({**WOODPECKER, "PLUGIN_MAX_SURGE_VALUE": "2"}, "max_surge.value", "2", id="woodpecker-dot"),
        # Both spellings set: Woodpecker's (the canonical one) wins.
        pytest.param({"PLUGIN_DRY-RUN": "false", "PLUGIN_DRY_RUN": "true"}, "dry_run", True, id="both"),
    ],
)
def test_setting_names_in_each_runners_spelling(environ: dict[str, str], name: str, value: object) -> None:
    values = DECL.load(environ)
    assert getattr(values, name) == value
    assert values.given(name)
    assert values.warnings == ()


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        pytest.param("PLUGIN_TAG", "did you mean tags?", id="tag-for-tags"),
        pytest.param("PLUGIN_DRYRUN", "did you mean dry_run?", id="dryrun"),
        pytest.param("PLUGIN_BUILD-ARG", "did you mean build_args?", id="drone-spelling"),
        pytest.param("PLUGIN_ZZZ", "see --help for the settings", id="nothing-close"),
    ],
)
def test_unknown_setting_warns_with_the_closest_name(variable: str, hint: str) -> None:
    values = DECL.load({**DRONE, variable: "x"})
    assert values.warnings == (f"{variable} is not a setting of demo-plugin and is ignored ({hint})",)


def test_strict_settings_makes_an_unknown_setting_exit_2() -> None:
    with pytest.raises(SettingsError) as e:
        DECL.load({**DRONE, "PLUGIN_TAG": "v1", "PLUGIN_STRICT_SETTINGS": "true"})
    assert e.value.exit_code == 2
    assert str(e.value) == "PLUGIN_TAG: is not a setting of demo-plugin (did you mean tags?); strict_settings is on"


def test_every_declaration_has_strict_settings_once() -> None:
    assert [s.name for s in DECL.settings].count("strict_settings") == 1
    assert "`strict_settings`" in DECL.markdown_table()


# Drone resolves from_secret only as a top-level setting's whole value: inside a list or map it arrives as JSON.
@pytest.mark.parametrize(
    ("environ", "env", "runner"),
    [
        pytest.param(
            {**DRONE, "PLUGIN_TAGS": '["v1",{"from_secret":"tag_secret"}]'}, "PLUGIN_TAGS", "Drone", id="list"
        ),
        pytest.param(
            {**DRONE, "PLUGIN_BUILD-ARGS": '{"NPM_TOKEN":{"from_secret":"npm_token"}}'},
            "PLUGIN_BUILD_ARGS",  # errors name the setting in one spelling, whichever the runner used
            "Drone",
            id="map-drone-spelling",
        ),
        pytest.param(
            {**WOODPECKER, "PLUGIN_PASSWORD": '{"from_secret":"pw"}'}, "PLUGIN_PASSWORD", "Woodpecker", id="top"
        ),
    ],
)
def test_unresolved_from_secret_is_exit_2_naming_the_setting(environ: dict[str, str], env: str, runner: str) -> None:
    with pytest.raises(SettingsError) as e:
        DECL.load(environ)
    assert e.value.setting == env
    assert f"{runner} does not substitute secrets inside a list or map" in str(e.value)


def test_a_value_that_only_mentions_from_secret_is_fine() -> None:
    values = DECL.load({**DRONE, "PLUGIN_TAGS": "from_secret,x", "PLUGIN_PASSWORD": '{"from_secret": 1'})
    assert values.tags == ["from_secret", "x"]
