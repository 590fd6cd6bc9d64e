"""Settings declared once: parsing, validation, secret masking and the docs table all come from here.

Drone and Woodpecker turn a step's `settings:` into `PLUGIN_<NAME>` variables, upper case: Drone keeps `-` and
`.` (`dry-run: true` arrives as `PLUGIN_DRY-RUN`), Woodpecker turns them into `_`; both spellings are read.
Lists arrive comma-joined (plain values) or as JSON; maps as JSON objects. Drone resolves `from_secret` only as
the whole value of a top-level setting: one inside a list or map arrives literally and is refused here.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import envparse

from shared.errors import SettingsError
from shared.runners import NAMES, detect_runner

TYPES = ("str", "int", "float", "bool", "duration", "list", "map", "path")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?")


@dataclass(frozen=True)
class Setting:
    """One setting of a plugin: everything about it lives in this declaration."""

    name: str
    type: str = "str"
    default: Any = None
    doc: str = ""
    required: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    # Bare env names read when PLUGIN_<NAME> is unset (e.g. KUBECONFIG); PLUGIN_<NAME> always wins.
    fallback: tuple[str, ...] = ()
    # The plugin writes this file: checked writable, as the step's user, before anything runs (shared.preflight).
    output: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"setting {self.name}: unknown type {self.type!r}")

    @property
    def env(self) -> str:
        return "PLUGIN_" + re.sub(r"[-.]", "_", self.name).upper()

    def parse(self, raw: str) -> Any:
        """The typed value of `raw`, or SettingsError naming PLUGIN_<NAME> and what was wrong."""
        value = _PARSERS[self.type](self, raw.strip() if not self.secret else raw)
        if self.choices:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item not in self.choices:
                    self.fail(raw, f"is not one of: {', '.join(self.choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                self.fail(raw, f"is below the minimum {_num(self.minimum)}")
            if self.maximum is not None and value > self.maximum:
                self.fail(raw, f"is above the maximum {_num(self.maximum)}")
        return value

    def fail(self, raw: str, problem: str) -> NoReturn:
        shown = "******" if self.secret else json.dumps(raw)
        raise SettingsError(self.env, f"{shown} {problem}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _parse_str(s: Setting, raw: str) -> str:
    return raw


def _parse_int(s: Setting, raw: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", raw):
        s.fail(raw, "is not a whole number")
    return int(raw)


def _parse_float(s: Setting, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        s.fail(raw, "is not a number")
    return value


def _parse_bool(s: Setting, raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    s.fail(raw, "is not a boolean (true/false, yes/no, on/off, 1/0)")


def parse_duration(raw: str) -> float | None:
    """Seconds in `raw` (`30s`, `5m`, `1h30m`, `250ms`, bare seconds), or None if it is not a duration."""
    raw = raw.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return float(raw)
    m = _DURATION.fullmatch(raw)
    if not raw or not m or not any(m.groups()):
        return None
    h, mi, sec, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + sec + ms / 1000


def _parse_duration(s: Setting, raw: str) -> float:
    value = parse_duration(raw)
    if value is None:
        s.fail(raw, "is not a duration (e.g. 30s, 5m)")
    return value


def _parse_list(s: Setting, raw: str) -> list[str]:
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            s.fail(raw, f"is not a valid JSON list ({e.msg})")
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            s.fail(raw, "is not a JSON list of plain values")
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    return [item.strip() for item in raw.split(",") if item.strip()]


def _parse_map(s: Setting, raw: str) -> dict[str, str]:
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            s.fail(raw, f"is not a valid JSON object ({e.msg})")
        if not isinstance(value, dict):
            s.fail(raw, "is not a JSON object")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    result: dict[str, str] = {}
    for item in _parse_list(s, raw):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            s.fail(raw, f"has {json.dumps(item)}, which is not key=value")
        result[key.strip()] = val.strip()
    return result


def _parse_path(s: Setting, raw: str) -> Path:
    if not raw:
        s.fail(raw, "is an empty path")
    return Path(raw)


_PARSERS: dict[str, Callable[[Setting, str], Any]] = {
    "str": _parse_str,
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "duration": _parse_duration,
    "list": _parse_list,
    "map": _parse_map,
    "path": _parse_path,
}


class Values:
    """Parsed settings, read as attributes. An unknown name is an AttributeError, never a silent None."""

    def __init__(
        self, values: dict[str, Any], secrets: list[str], given: set[str], warnings: tuple[str, ...] = ()
    ) -> None:
        self._values = values
        self._secrets = secrets
        self._given = given
        self.warnings = warnings  # e.g. an unknown PLUGIN_* variable; the runner logs them

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"no setting named {name!r}") from None

    def given(self, name: str) -> bool:
        """True when the operator set this setting (as opposed to its default applying)."""
        return name in self._given

    def secret_values(self) -> list[str]:
        return list(self._secrets)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


# Settings every plugin has: how strictly the step's settings themselves are read.
COMMON: tuple[Setting, ...] = (
    Setting(
        "strict_settings",
        "bool",
        False,
        "An unknown PLUGIN_* variable (a misspelt setting) is an error (exit 2) instead of a warning",
    ),
)


@dataclass(frozen=True)
class Declaration:
    """All settings of one plugin, in the order its docs list them (COMMON ones last)."""

    plugin: str
    settings: tuple[Setting, ...]
    # Checks across settings, run after each setting parsed on its own; they raise SettingsError.
    checks: tuple[Callable[[Values], None], ...] = field(default=())

    def __post_init__(self) -> None:
        own = {s.name for s in self.settings}
        object.__setattr__(self, "settings", self.settings + tuple(s for s in COMMON if s.name not in own))
        names = [s.name for s in self.settings]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"{self.plugin}: settings declared twice: {sorted(dupes)}")

    def names(self) -> set[str]:
        return {s.name for s in self.settings}

    def outputs(self, values: Values) -> list[tuple[str, Path]]:
        """(PLUGIN_<NAME>, path) of every output file this run will write (set, or defaulted)."""
        return [(s.env, getattr(values, s.name)) for s in self.settings if s.output and getattr(values, s.name)]

    def load(self, environ: Mapping[str, str] | None = None) -> Values:
        """Read and validate every setting from the environment (PLUGIN_* first, then fallbacks)."""
        reader = _EnvReader(environ)
        runner = detect_runner(reader.environ)
        values: dict[str, Any] = {}
        secrets: list[str] = []
        given: set[str] = set()
        for s in self.settings:
            raw = reader.get(s.env)
            for name in s.fallback:
                if raw is None:
                    raw = reader.get(name)
            if raw is None or raw.strip() == "":
                if s.required:
                    raise SettingsError(s.env, "is required: " + s.doc[:1].lower() + s.doc[1:])
                values[s.name] = _copy_default(s.default)
                continue
            if s.secret and raw:
                secrets.append(raw)
            _refuse_unresolved_secret(s, raw, runner)
            values[s.name] = s.parse(raw)
            given.add(s.name)
        warnings = self._unknown(reader, bool(values.get("strict_settings")))
        result = Values(values, secrets, given, warnings)
        for check in self.checks:
            check(result)
        return result

    def _unknown(self, reader: _EnvReader, strict: bool) -> tuple[str, ...]:
        """A warning per PLUGIN_* variable no setting reads (SettingsError for the first when strict)."""
        known = {s.env: s.name for s in self.settings}
        warnings = []
        for env, normal in reader.plugin_variables():
            if normal in known:
                continue
            written = normal.removeprefix("PLUGIN_").lower()
            close = difflib.get_close_matches(written, [s.name for s in self.settings], n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see --help for the settings"
            if strict:
                raise SettingsError(env, f"is not a setting of {self.plugin} ({hint}); strict_settings is on")
            warnings.append(f"{env} is not a setting of {self.plugin} and is ignored ({hint})")
        return tuple(warnings)

    def markdown_table(self) -> str:
        """The settings table of this plugin's docs, generated so it cannot drift from the code."""
        rows = ["| setting | type | default | description |", "| --- | --- | --- | --- |"]
        for s in self.settings:
            flags = []
            if s.required:
                flags.append("**required**")
            if s.secret:
                flags.append("secret")
            if s.choices:
                flags.append("one of " + ", ".join(f"`{c}`" for c in s.choices))
            if s.fallback:
                flags.append("also read from " + ", ".join(f"`{f}`" for f in s.fallback))
            doc = s.doc + (" (" + "; ".join(flags) + ")" if flags else "")
            doc = doc.replace("|", "\\|")
            rows.append(f"| `{s.name}` | {s.type} | {_show_default(s)} | {doc} |")
        return "\n".join(rows) + "\n"


def _copy_default(default: Any) -> Any:
    return (
        list(default) if isinstance(default, (list, tuple)) else dict(default) if isinstance(default, dict) else default
    )


def _show_default(s: Setting) -> str:
    d = s.default
    if d is None or d == "" or d == [] or d == {} or d == ():
        return ""
    if s.type == "bool":
        return "`true`" if d else "`false`"
    if s.type == "duration":
        return f"`{_num(d)}s`"
    if isinstance(d, (list, tuple)):
        return "`" + ",".join(str(x) for x in d) + "`"
    return f"`{d}`"


def _holds_from_secret(value: Any) -> str | None:
    """The secret name of a `{"from_secret": name}` object anywhere inside `value`, else None."""
    if isinstance(value, dict):
        if "from_secret" in value:
            return str(value["from_secret"])
        value = list(value.values())
    if isinstance(value, list):
        return next((name for name in map(_holds_from_secret, value) if name is not None), None)
    return None


def _refuse_unresolved_secret(s: Setting, raw: str, runner: str) -> None:
    """SettingsError when the runner left a `from_secret` object in the value (Drone, inside a list or map)."""
    if "from_secret" not in raw:
        return
    try:
        name = _holds_from_secret(json.loads(raw))
    except json.JSONDecodeError:
        return
    if name is not None:
        raise SettingsError(
            s.env,
            f"holds a from_secret object (secret {name!r}) that was not substituted: {NAMES[runner]} does not "
            "substitute secrets inside a list or map (Drone resolves from_secret only as the whole value of a "
            "setting); give the secret its own setting, or pass it with environment: and the setting that "
            "reads it",
        )


def _normal(env: str) -> str:
    """A PLUGIN_* name as Woodpecker writes it: Drone's `PLUGIN_DRY-RUN` is `PLUGIN_DRY_RUN`."""
    return re.sub(r"[-.]", "_", env).upper()


class _EnvReader:
    """Reads raw values through envparse, or from an explicit mapping (used by tests and the docs check).

    A PLUGIN_* name is found in either runner's spelling (Woodpecker's `_` wins when both are set)."""

    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self._explicit = environ
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._env = envparse.Env()
        self._plugin: dict[str, str] = {}
        for key in sorted(self.environ, key=lambda k: k == _normal(k)):  # exact spellings last: they win
            if key.startswith("PLUGIN_"):
                self._plugin[_normal(key)] = key

    def plugin_variables(self) -> list[tuple[str, str]]:
        """Every PLUGIN_* variable set: (as written, as Woodpecker writes it)."""
        return sorted((key, normal) for normal, key in self._plugin.items())

    def get(self, name: str) -> str | None:
        if name.startswith("PLUGIN_"):
            name = self._plugin.get(name, name)
        if self._explicit is not None:
            return self._explicit.get(name)
        raw = os.environ.get(name)
        # envparse resolves values starting with "{{" as references to other variables; a password may
        # legitimately start that way, so such values are taken verbatim.
        if raw is None or raw.startswith("{{"):
            return raw
        return str(self._env(name, default=None))


def update_docs_block(text: str, table: str) -> str:
    """`text` with the block between the settings markers replaced by `table`."""
    start, end = "<!-- settings:start -->", "<!-- settings:end -->"
    if start not in text or end not in text:
        raise ValueError("docs have no <!-- settings:start --> / <!-- settings:end --> markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}{end}{tail}"


def combine(*groups: Iterable[Setting]) -> tuple[Setting, ...]:
    """One settings tuple from several groups (a plugin's own plus shared groups such as KUBE_ACCESS)."""
    return tuple(s for group in groups for s in group)
