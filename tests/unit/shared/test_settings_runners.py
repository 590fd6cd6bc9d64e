"""How settings arrive from each runner: Drone's `PLUGIN_DRY-RUN` spelling, unknown PLUGIN_* variables, and
`from_secret` objects a runner left unresolved (values encoded as each runner writes them)."""

from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.settings import Declaration, Setting

from .runner_fixtures import captured

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


# ---------------------------------------------------------------------------------------------------------------
# The same rules on what the real runners wrote (fixtures/runners/*.env, from tests/integration/runner_env.py: one
# step with `dry-run`, `max_surge.value`, a misspelt `tag`, and from_secret at the top level, in a list and a map).


def test_drone_exec_encoding() -> None:
    env = captured("drone-exec")
    assert env["PLUGIN_DRY-RUN"] == "true" and env["PLUGIN_MAX_SURGE.VALUE"] == "2"
    # Drone leaves from_secret inside a list or map as it was written: refused, naming the setting.
    with pytest.raises(SettingsError) as e:
        DECL.load(env)
    assert e.value.setting in ("PLUGIN_TAGS", "PLUGIN_BUILD_ARGS")
    assert "Drone does not substitute secrets inside a list or map" in str(e.value)
    for nested, other in (("PLUGIN_TAGS", "PLUGIN_BUILD_ARGS"), ("PLUGIN_BUILD_ARGS", "PLUGIN_TAGS")):
        with pytest.raises(SettingsError, match=f"^{nested}: holds a from_secret object"):
            DECL.load({k: v for k, v in env.items() if k != other})
    values = DECL.load({k: v for k, v in env.items() if k not in ("PLUGIN_TAGS", "PLUGIN_BUILD_ARGS")})
    assert values.dry_run is True and getattr(values, "max_surge.value") == "2"
    assert values.password == "fake-password"  # a top-level from_secret is resolved
    assert values.warnings == ("PLUGIN_TAG is not a setting of demo-plugin and is ignored (did you mean tags?)",)


def test_woodpecker_exec_encoding() -> None:
    env = captured("woodpecker-exec")
    assert env["PLUGIN_DRY_RUN"] == "true" and env["PLUGIN_MAX_SURGE_VALUE"] == "2"
    values = DECL.load(env)  # Woodpecker resolves from_secret at any depth
    assert values.dry_run is True and getattr(values, "max_surge.value") == "2"
    assert values.password == "fake-password"
    assert values.tags == ["a", "fake-tag"]
    assert values.build_args == {"NPM_TOKEN": "fake-npm-token"}
    assert values.warnings == ("PLUGIN_TAG is not a setting of demo-plugin and is ignored (did you mean tags?)",)
    with pytest.raises(SettingsError, match="^PLUGIN_TAG: is not a setting of demo-plugin"):
        DECL.load({**env, "PLUGIN_STRICT_SETTINGS": "true"})


def test_drone_spelling_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path the plugins take (no mapping given): os.environ."""
    monkeypatch.setenv("PLUGIN_DRY-RUN", "true")
    monkeypatch.setenv("PLUGIN_MAX_SURGE.VALUE", "3")
    monkeypatch.setenv("PLUGIN_TAGZ", "x")
    values = DECL.load()
    assert values.dry_run is True and getattr(values, "max_surge.value") == "3"
    assert any(w.startswith("PLUGIN_TAGZ is not a setting") and "did you mean tags?" in w for w in values.warnings)
