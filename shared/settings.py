"""Settings declared once: parsing, validation, secret masking and the docs table all come from here.

Drone and Woodpecker turn a step's `settings:` into `PLUGIN_<NAME>` variables, upper case: Drone keeps `-` and
`.` (`dry-run: true` arrives as `PLUGIN_DRY-RUN`), Woodpecker turns them into `_`; both spellings are read.
Lists arrive comma-joined (plain values) or as JSON; maps as JSON objects. Drone resolves `from_secret` only as
the whole value of a top-level setting: one inside a list or map arrives literally and is refused here.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from shared.errors import SettingsError
from shared.grammar import FORMATS
from shared.runners import NAMES, detect_runner
from shared.value_types import DURATION_MAX, INT64_MAX, INT64_MIN, PARSERS, parse_duration

__all__ = ["Declaration", "Setting", "Values", "combine", "parse_duration", "update_docs_block"]

TYPES = tuple(PARSERS)


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
    # A grammar from shared.grammar.FORMATS for the value (str, path), each item (list) or each value (map).
    format: str = ""
    key_format: str = ""  # the same for a map's keys
    nested: bool = False  # a map whose values may be JSON objects and lists (chart values)
    # The plugin writes this file: checked writable, as the step's user, before anything runs (shared.preflight).
    output: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"setting {self.name}: unknown type {self.type!r}")
        for fmt in (self.format, self.key_format):
            if fmt and fmt not in FORMATS:
                raise ValueError(f"setting {self.name}: unknown format {fmt!r}")

    @property
    def env(self) -> str:
        return "PLUGIN_" + re.sub(r"[-.]", "_", self.name).upper()

    def parse(self, raw: str) -> Any:
        """The typed value of `raw`, or SettingsError naming PLUGIN_<NAME> and what was wrong."""
        value = PARSERS[self.type](self, raw.strip() if not self.secret else raw)
        if self.choices:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item not in self.choices:
                    self.fail(raw, f"is not one of: {', '.join(self.choices)}")
        return value

    def fail(self, raw: str, problem: str) -> NoReturn:
        # One line, whatever the value: json.dumps escapes newlines, and a huge value is cut.
        shown = "******" if self.secret else quote(raw if len(raw) <= 80 else f"{raw[:80]}...")
        if len(raw) > 80 and not self.secret:
            shown += f" ({len(raw)} characters)"
        raise SettingsError(self.env, f"{shown} {problem}")

    def describe_type(self) -> str:
        """The type column of the docs table, e.g. `list of image`, `str (namespace)`."""
        if self.type in ("list", "map") and self.format:
            return f"{self.type} of {self.format}"
        return f"{self.type} ({self.format})" if self.format else self.type

    def bounds(self) -> str:
        """The range of a number or duration for the docs, "" when it is the type's own."""
        if self.type not in ("int", "float", "duration"):
            return ""
        unit = "s" if self.type == "duration" else ""
        low = self.minimum if self.minimum is not None else (0 if self.type == "duration" else None)
        high = self.maximum if self.maximum is not None else (DURATION_MAX if self.type == "duration" else None)
        if low in (None, INT64_MIN) and high in (None, INT64_MAX):
            return ""
        if high in (None, INT64_MAX):
            return f"at least {_num(low)}{unit}"  # type: ignore[arg-type]
        if low in (None, INT64_MIN):
            return f"at most {_num(high)}{unit}"
        return f"{_num(low)}-{_num(high)}{unit}"  # type: ignore[arg-type]


def quote(text: str) -> str:
    """`text` in double quotes as the operator wrote it ("٣" stays ٣), with invisible characters escaped."""
    return "".join(
        c if c.isprintable() or c == " " else json.dumps(c)[1:-1] for c in json.dumps(text, ensure_ascii=False)
    )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


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
            if s.bounds():
                flags.append(s.bounds())
            if s.fallback:
                flags.append("also read from " + ", ".join(f"`{f}`" for f in s.fallback))
            doc = s.doc + (" (" + "; ".join(flags) + ")" if flags else "")
            doc = doc.replace("|", "\\|")
            rows.append(f"| `{s.name}` | {s.describe_type()} | {_show_default(s)} | {doc} |")
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
    except (ValueError, RecursionError):  # not JSON, or JSON no setting could hold: the value's type says why
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
    """Reads raw values from the process environment, or from an explicit mapping (tests and the docs check).

    A PLUGIN_* name is found in either runner's spelling (Woodpecker's `_` wins when both are set)."""

    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
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
        return self.environ.get(name)


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
