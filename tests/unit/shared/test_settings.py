from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.log import Log
from shared.runner import run_plugin
from shared.settings import Declaration, Setting, parse_duration

DECL = Declaration(
    "demo",
    (
        Setting("name", doc="A name"),
        Setting("count", "int", 3, "How many", minimum=0, maximum=10),
        Setting("ratio", "float", 0.5, "A ratio", minimum=0, maximum=1),
        Setting("enabled", "bool", False, "On or off"),
        Setting("timeout", "duration", 300, "How long"),
        Setting("tags", "list", ("a",), "Tags"),
        Setting("labels", "map", {}, "Labels"),
        Setting("file", "path", None, "A file"),
        Setting("mode", default="one", choices=("one", "all"), doc="Mode"),
        Setting("password", secret=True, doc="A password"),
        Setting("config", doc="Config", fallback=("KUBECONFIG_TEXT",)),
    ),
)


def load(**env: str):
    return DECL.load({f"PLUGIN_{k.upper()}": v for k, v in env.items()})


@pytest.mark.parametrize(
    ("setting", "raw", "expected"),
    [
        pytest.param("name", " web ", "web", id="str-stripped"),
        pytest.param("count", "7", 7, id="int"),
        pytest.param("count", "+0", 0, id="int-signed"),
        pytest.param("ratio", "0.25", 0.25, id="float"),
        *(pytest.param("enabled", raw, True, id=f"bool-{raw}") for raw in ("true", "TRUE", "1", "yes", "On")),
        *(pytest.param("enabled", raw, False, id=f"bool-{raw}") for raw in ("false", "False", "0", "no", "OFF")),
        pytest.param("timeout", "30s", 30.0, id="duration-s"),
        pytest.param("timeout", "5m", 300.0, id="duration-m"),
        pytest.param("timeout", "1h30m", 5400.0, id="duration-hm"),
        pytest.param("timeout", "250ms", 0.25, id="duration-ms"),
        pytest.param("timeout", "45", 45.0, id="duration-bare"),
        pytest.param("timeout", "1m30s", 90.0, id="duration-ms-combined"),
        pytest.param("tags", "a, b,,c", ["a", "b", "c"], id="list-comma"),
        pytest.param("tags", '["a,b", "c"]', ["a,b", "c"], id="list-json-keeps-commas"),
        pytest.param("tags", "[1, true]", ["1", "true"], id="list-json-scalars"),
        pytest.param("labels", '{"a": "1", "b": 2}', {"a": "1", "b": "2"}, id="map-json"),
        pytest.param("labels", "a=1, b=x=y", {"a": "1", "b": "x=y"}, id="map-kv-comma"),
        pytest.param("labels", '["a=1,2", "b=3"]', {"a": "1,2", "b": "3"}, id="map-kv-json-list"),
        pytest.param("file", "charts/app", __import__("pathlib").Path("charts/app"), id="path"),
        pytest.param("mode", "all", "all", id="choice"),
    ],
)
def test_parses_each_type(setting: str, raw: str, expected: object) -> None:
    assert getattr(load(**{setting: raw}), setting) == expected


@pytest.mark.parametrize(
    ("setting", "raw", "message"),
    [
        pytest.param("count", "three", 'PLUGIN_COUNT: "three" is not a whole number', id="int"),
        pytest.param("count", "11", 'PLUGIN_COUNT: "11" is above the maximum 10', id="int-max"),
        pytest.param("count", "-1", 'PLUGIN_COUNT: "-1" is below the minimum 0', id="int-min"),
        pytest.param("ratio", "half", 'PLUGIN_RATIO: "half" is not a number', id="float"),
        pytest.param("ratio", "nan", 'PLUGIN_RATIO: "nan" is not a number', id="float-nan"),
        pytest.param("ratio", "1.5", 'PLUGIN_RATIO: "1.5" is above the maximum 1', id="float-max"),
        pytest.param("enabled", "maybe", 'PLUGIN_ENABLED: "maybe" is not a boolean', id="bool"),
        pytest.param("timeout", "soon", 'PLUGIN_TIMEOUT: "soon" is not a duration (e.g. 30s, 5m)', id="duration"),
        pytest.param("timeout", "5x", 'PLUGIN_TIMEOUT: "5x" is not a duration', id="duration-unit"),
        pytest.param("tags", '["a", ', "PLUGIN_TAGS: ", id="list-bad-json"),
        pytest.param("tags", '[{"a": 1}]', "has a JSON object as an item", id="list-of-maps"),
        pytest.param("labels", "a=1,b", 'has "b", which is not key=value', id="map-no-equals"),
        pytest.param("labels", "{nope", "is not a valid JSON object", id="map-bad-json"),
        pytest.param("mode", "some", 'PLUGIN_MODE: "some" is not one of: one, all', id="choice"),
    ],
)
def test_bad_values_name_the_setting(setting: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(**{setting: raw})
    assert str(err.value).startswith(f"PLUGIN_{setting.upper()}: ")
    assert message in str(err.value)
    assert err.value.exit_code == 2


def test_defaults_apply_and_are_not_shared_between_loads() -> None:
    first = load()
    first.tags.append("mutated")
    second = load()
    assert second.tags == ["a"] and second.count == 3 and second.enabled is False and second.timeout == 300
    assert not second.given("tags")
    assert load(tags="x").given("tags")


def test_empty_value_counts_as_unset() -> None:
    assert load(count="").count == 3


def test_required_setting_missing() -> None:
    decl = Declaration("demo", (Setting("repo", required=True, doc="Where to push"),))
    with pytest.raises(SettingsError, match="PLUGIN_REPO: is required: where to push"):
        decl.load({})


def test_fallback_only_when_plugin_variable_unset() -> None:
    assert DECL.load({"KUBECONFIG_TEXT": "from-fallback"}).config == "from-fallback"
    assert DECL.load({"KUBECONFIG_TEXT": "x", "PLUGIN_CONFIG": "wins"}).config == "wins"


def test_secret_value_never_quoted_in_errors() -> None:
    decl = Declaration("demo", (Setting("token", "int", secret=True, doc="t"),))
    with pytest.raises(SettingsError) as err:
        decl.load({"PLUGIN_TOKEN": "hunter2-secret"})
    assert "hunter2" not in str(err.value) and "******" in str(err.value)


def test_secret_values_are_collected_for_masking() -> None:
    assert load(password="s3cr3t!").secret_values() == ["s3cr3t!"]


def test_unknown_attribute_is_an_error() -> None:
    with pytest.raises(AttributeError):
        _ = load().nmae


def test_woodpecker_dash_and_dot_names() -> None:
    assert Setting("max-surge.value").env == "PLUGIN_MAX_SURGE_VALUE"


def test_reads_os_environ_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGIN_COUNT", "4")
    monkeypatch.setenv("PLUGIN_PASSWORD", "{{NOT_A_REFERENCE}}")
    values = DECL.load()
    assert values.count == 4 and values.password == "{{NOT_A_REFERENCE}}"


@pytest.mark.parametrize("raw", ["", "m", "1d", "-5s", "s30"])
def test_not_durations(raw: str) -> None:
    assert parse_duration(raw) is None


def test_cross_setting_check_runs_after_parsing() -> None:
    def both(values) -> None:
        if values.a and values.b:
            raise SettingsError("PLUGIN_B", "cannot be set together with a")

    decl = Declaration("demo", (Setting("a"), Setting("b")), checks=(both,))
    with pytest.raises(SettingsError, match="PLUGIN_B: cannot be set together with a"):
        decl.load({"PLUGIN_A": "1", "PLUGIN_B": "2"})


def test_markdown_table_lists_every_setting() -> None:
    table = DECL.markdown_table()
    for s in DECL.settings:
        assert f"| `{s.name}` | {s.type} |" in table
    assert "| `timeout` | duration | `300s` |" in table
    assert "secret" in table.split("`password`")[1].splitlines()[0]


def test_duplicate_declaration_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Declaration("demo", (Setting("a"), Setting("a")))


def test_runner_maps_bad_input_to_exit_2_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PLUGIN_TIMEOUT", "soon")
    code = run_plugin(DECL, lambda values, log: 0, argv=[])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 2
    assert out == ['xx demo: PLUGIN_TIMEOUT: "soon" is not a duration (e.g. 30s, 5m)']


def test_runner_masks_secrets_in_unexpected_errors(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PLUGIN_PASSWORD", "sup3r-s3cret")

    def boom(values, log: Log) -> int:
        raise RuntimeError(f"could not use {values.password}")

    assert run_plugin(DECL, boom, argv=[]) == 3
    out = capsys.readouterr().out
    assert "sup3r-s3cret" not in out and "could not use ******" in out and "Traceback" in out


def test_runner_interrupt_is_130(capsys) -> None:
    def interrupted(values, log: Log) -> int:
        raise KeyboardInterrupt

    assert run_plugin(DECL, interrupted, argv=[]) == 130
