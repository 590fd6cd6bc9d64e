"""Raw setting text -> typed value, per declared type, with every check the declaration asks for.

Values come from CI YAML through environment variables, so they are checked strictly: only ASCII digits are
numbers (Python's int() would take "٣"), every number is bounded (never outside int64, so nothing downstream
overflows), durations have a maximum, a JSON list must be a list and a JSON map a map, and strings carry no control
characters. envparse's casts are the lenient ones this module exists to avoid (int() and float() take Unicode
digits and "1_000", a bool cast turns "maybe" into False, lists and maps have no shape checks); wrapping each cast
in these checks would leave it nothing to do.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.grammar import check_format, check_path

if TYPE_CHECKING:
    from shared.settings import Setting

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DURATION_MAX = 86400.0  # a day: no CI step runs longer, and sleeps/timeouts stay far from overflow
STR_MAX = 4096  # one-line settings; whole files (kubeconfig, config.json, certificates) are type "text"
TEXT_MAX = 1024 * 1024
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_DURATION = re.compile(rf"(?:({_NUMBER})h)?(?:({_NUMBER})m(?!s))?(?:({_NUMBER})s)?(?:([0-9]+)ms)?")
SCALARS = (str, int, float, bool)


def parse_duration(raw: str) -> float | None:
    """Seconds in `raw` (`30s`, `5m`, `1h30m`, `250ms`, bare seconds), or None if it is not a duration."""
    raw = raw.strip().lower()
    if len(raw) > 64:
        return None
    if re.fullmatch(_NUMBER, raw):
        return float(raw)
    m = _DURATION.fullmatch(raw)
    if not raw or not m or not any(m.groups()):
        return None
    h, mi, sec, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + sec + ms / 1000


def _text(s: Setting, raw: str) -> str:
    if len(raw) > TEXT_MAX:
        s.fail(raw, f"is {len(raw)} characters long; at most {TEXT_MAX}")
    if "\x00" in raw:
        s.fail(raw, "contains a NUL character")
    return raw


def check_string(s: Setting, value: str, raw: str, what: str = "") -> str:
    """One string (the value, a list item or a map value): length, no control characters, the declared format."""
    # The raw value is quoted already; an item or map value is quoted too, unless it is the whole raw value.
    shown = "" if s.secret else f" {json.dumps(value[:80])}"
    label = f"has {what}{shown} that " if what and value != raw else ""
    if len(value) > STR_MAX:
        s.fail(raw, f"{label}is longer than {STR_MAX} characters")
    if not s.secret and not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        s.fail(raw, f"{label}contains the control character U+{ord(bad):04X}")
    if s.format and value:
        problem = check_format(s.format, value)
        if problem:
            s.fail(raw, label + problem)
    return value


def _str(s: Setting, raw: str) -> str:
    return check_string(s, raw, raw)


def _int(s: Setting, raw: str) -> int:
    if not _INT.fullmatch(raw):
        s.fail(raw, "is not a whole number" + _ascii_hint(raw))
    # Past 19 digits it is outside int64 whatever the bounds; int() would also refuse 4,300+ digits on its own.
    if len(raw.lstrip("+-").lstrip("0")) > 19:
        value = INT64_MAX + 1 if not raw.startswith("-") else INT64_MIN - 1
    else:
        value = int(raw)
    return _bounded(s, raw, value, INT64_MIN, INT64_MAX)


def _ascii_hint(raw: str) -> str:
    return " (ASCII digits only)" if any(c.isdigit() and not c.isascii() for c in raw) else ""


def _float(s: Setting, raw: str) -> float:
    if len(raw) > 64 or not _FLOAT.fullmatch(raw):
        s.fail(raw, "is not a number" + _ascii_hint(raw))
    return _bounded(s, raw, float(raw), float(INT64_MIN), float(INT64_MAX))


def _bounded(s: Setting, raw: str, value: Any, low: float, high: float) -> Any:
    minimum = low if s.minimum is None else s.minimum
    maximum = high if s.maximum is None else s.maximum
    unit = "s" if s.type == "duration" else ""
    if not math.isfinite(value) or value < minimum:
        s.fail(raw, f"is below the minimum {_num(minimum)}{unit}" if math.isfinite(value) else "is not a number")
    if value > maximum:
        s.fail(raw, f"is above the maximum {_num(maximum)}{unit}")
    return value


def _bool(s: Setting, raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    s.fail(raw, "is not a boolean (true/false, yes/no, on/off, 1/0)")


def _duration(s: Setting, raw: str) -> float:
    value = parse_duration(raw)
    if value is None:
        s.fail(raw, "is not a duration (e.g. 30s, 5m)")
    return _bounded(s, raw, value, 0.0, DURATION_MAX)


def _json(s: Setting, raw: str, kind: type, name: str) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        s.fail(raw, f"is not a valid JSON {name} ({e.msg})")
    except (ValueError, RecursionError):  # a number past 4,300 digits, nesting past the parser's depth
        s.fail(raw, f"is not a JSON {name} this plugin can read (too deep or a number too large)")
    if not isinstance(value, kind):
        s.fail(raw, f"is a JSON {_json_kind(value)}, not a JSON {name}")
    return value


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _scalar(s: Setting, raw: str, item: Any, where: str) -> str:
    if not isinstance(item, SCALARS):
        s.fail(raw, f"has a JSON {_json_kind(item)} {where}; only plain values (strings, numbers, booleans) fit")
    if isinstance(item, float) and not math.isfinite(item):
        s.fail(raw, f"has a number {where} that is not finite")
    return item if isinstance(item, str) else json.dumps(item)


def _list(s: Setting, raw: str) -> list[str]:
    if raw.startswith("{"):
        s.fail(raw, "is a JSON object, not a list (give a JSON list or comma-separated values)")
    if raw.startswith("["):
        items = [_scalar(s, raw, v, "as an item") for v in _json(s, raw, list, "list")]
    else:
        items = [item.strip() for item in raw.split(",") if item.strip()]
    for item in items:
        check_string(s, item, raw, "an item")
    return items


def _json_list(s: Setting, raw: str) -> list[Any]:
    """A JSON list whose items may be objects (analysis checks, canary steps: the plugin checks their shape), or
    comma-separated plain values as for `list`."""
    if raw.startswith("{"):
        s.fail(raw, "is a JSON object, not a list (give a JSON list or comma-separated values)")
    if raw.startswith("["):
        return list(_json(s, raw, list, "list"))
    return _list(s, raw)


def _map(s: Setting, raw: str) -> dict[str, str]:
    result: dict[str, str] = {}
    structured: set[str] = set()  # keys whose value is a JSON object or list (helm values)
    if raw.startswith("{"):
        for key, value in _json(s, raw, dict, "object").items():
            if s.nested and isinstance(value, (dict, list)):
                result[key] = json.dumps(value)
                structured.add(key)
            else:
                result[key] = _scalar(s, raw, value, f"at key {json.dumps(key[:80])}")
    else:
        if raw.startswith("[") and not all(isinstance(v, str) for v in _json(s, raw, list, "list")):
            s.fail(raw, "is a JSON list of non-strings; give a JSON object or key=value items")
        # Each item is checked once split: the format applies to the value, not to "key=value".
        for item in _list(replace(s, format="", type="list"), raw):
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                s.fail(raw, f"has {json.dumps(item[:80])}, which is not key=value")
            result[key.strip()] = val.strip()
    for key, value in result.items():
        _check_key(s, key, raw)
        if key not in structured:
            check_string(s, value, raw, "a value")
    return result


def _check_key(s: Setting, key: str, raw: str) -> None:
    if not key.strip():
        s.fail(raw, "has an empty key")
    if len(key) > 253 or not key.isprintable():
        s.fail(raw, "has a key that is longer than 253 characters or holds a control character")
    if s.key_format:
        problem = check_format(s.key_format, key)
        if problem:
            s.fail(raw, f"has the key {json.dumps(key[:80])}, which {problem}")


def _path(s: Setting, raw: str) -> Path:
    if not raw:
        s.fail(raw, "is an empty path")
    check_string(s, raw, raw)
    problem = check_path(raw)
    if problem:
        s.fail(raw, problem)
    return Path(raw)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


PARSERS: dict[str, Callable[[Setting, str], Any]] = {
    "str": _str,
    "text": _text,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "duration": _duration,
    "list": _list,
    "json_list": _json_list,
    "map": _map,
    "path": _path,
}
