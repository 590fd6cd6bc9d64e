"""Label and field selectors, parsed locally with Kubernetes' grammar (k8s.io/apimachinery labels.Parse and
fields.ParseSelector), so a malformed one is an input error before the first API call instead of a 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# A request line past ~8 KiB is refused by common proxies; no real selector comes near this.
SELECTOR_MAX = 4096
_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
# labels.Parse's lexer: these characters end an identifier.
_SPECIAL = tuple("!=(),<>")
_OPERATORS = ("!=", "==", "=", "in", "notin", "<", ">")
# The field labels the API server supports in a pod field selector (others answer 400 "field label not supported").
POD_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "exists", "!", "=", "==", "!=", "in", "notin", "<", ">"
    values: tuple[str, ...] = ()


def check_label_key(key: str) -> str:
    """Why `key` is not a label key (optional DNS-subdomain prefix, `/`, a name of at most 63), or ""."""
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f'"{key}" has a prefix that is not a DNS subdomain'
    if not _LABEL_NAME.fullmatch(name):
        return f'"{key}" is not a label key (at most 63 letters, digits, - _ . starting and ending alphanumeric)'
    return ""


def check_label_value(value: str) -> str:
    if not _LABEL_VALUE.fullmatch(value):
        return f'"{value}" is not a label value (at most 63 letters, digits, - _ . starting and ending alphanumeric)'
    return ""


def _tokens(selector: str) -> list[str]:
    tokens, i = [], 0
    while i < len(selector):
        ch = selector[i]
        if ch.isspace():
            i += 1
        elif selector.startswith(("!=", "=="), i):
            tokens.append(selector[i : i + 2])
            i += 2
        elif ch in _SPECIAL:
            tokens.append(ch)
            i += 1
        else:
            start = i
            while i < len(selector) and not selector[i].isspace() and selector[i] not in _SPECIAL:
                i += 1
            tokens.append(selector[start:i])
    return tokens


def parse_label_selector(selector: str) -> list[Requirement]:
    """The requirements of a label selector; ValueError naming what is wrong. "" selects everything ([])."""
    if len(selector) > SELECTOR_MAX:
        raise ValueError(f"is {len(selector)} characters long; at most {SELECTOR_MAX}")
    if not selector.isprintable():
        raise ValueError("contains a control character")
    tokens = _tokens(selector)
    requirements: list[Requirement] = []
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("ends in the middle of a requirement")
        pos += 1
        return tokens[pos - 1]

    while pos < len(tokens):
        requirements.append(_requirement(take, lambda: tokens[pos] if pos < len(tokens) else None))
        if pos < len(tokens) and take() != ",":
            raise ValueError(f'expects "," after the requirement on {requirements[-1].key}, found "{tokens[pos - 1]}"')
        if pos == len(tokens) and tokens[-1] == ",":
            raise ValueError('ends with ","')
    return requirements


def _requirement(take: Callable[[], str], peek: Callable[[], str | None]) -> Requirement:
    negated = peek() == "!"
    if negated:
        take()
    key = take()
    if key in _SPECIAL or key in _OPERATORS:
        raise ValueError(f'expects a label key, found "{key}"')
    problem = check_label_key(key)
    if problem:
        raise ValueError(problem)
    if negated or peek() in (None, ","):
        return Requirement(key, "!" if negated else "exists")
    operator = take()
    if operator not in _OPERATORS:
        raise ValueError(f'expects an operator (=, ==, !=, in, notin) after "{key}", found "{operator}"')
    if operator in ("in", "notin"):
        if take() != "(":
            raise ValueError(f'expects "(" after {operator}')
        values: list[str] = []
        while True:
            value = take()
            if value == ")" and not values:
                raise ValueError(f'"{key} {operator} ()" has an empty value set')
            if value in (",", ")"):
                value, closing = "", value  # an empty value, as Kubernetes allows: in (a,)
            else:
                closing = take()
            _check_value(value)
            values.append(value)
            if closing == ")":
                break
            if closing != ",":
                raise ValueError(f'expects "," or ")" in the value set of "{key}", found "{closing}"')
        return Requirement(key, operator, tuple(values))
    value = "" if peek() in (None, ",") else take()
    if operator in ("<", ">") and not re.fullmatch(r"[0-9]+", value):
        raise ValueError(f'"{key}{operator}{value}" needs a whole number')
    _check_value(value)
    return Requirement(key, operator, (value,))


def _check_value(value: str) -> None:
    if value in _SPECIAL or value in ("in", "notin"):
        raise ValueError(f'expects a label value, found "{value}"')
    problem = check_label_value(value)
    if problem:
        raise ValueError(problem)


def parse_field_selector(selector: str, fields: tuple[str, ...] = POD_FIELDS) -> list[tuple[str, str, str]]:
    """(field, operator, value) terms of a field selector; ValueError naming what is wrong."""
    if len(selector) > SELECTOR_MAX:
        raise ValueError(f"is {len(selector)} characters long; at most {SELECTOR_MAX}")
    if not selector.isprintable():
        raise ValueError("contains a control character")
    terms = []
    for term in _split_terms(selector):
        if not term.strip():
            raise ValueError("has an empty term")
        match = re.fullmatch(r"\s*([^!=\s]+)\s*(!=|==|=)(.*)", term, re.S)
        if not match:
            raise ValueError(f'"{term}" is not field=value, field==value or field!=value')
        field, operator, value = match.groups()
        if field not in fields:
            raise ValueError(f'"{field}" is not a field the API server can select on ({", ".join(fields)})')
        terms.append((field, operator, _unescape(value.strip())))
    return terms


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not escaped with a backslash (fields.splitTerms)."""
    terms, current, escaped = [], "", False
    for ch in selector:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == ",":
            terms.append(current)
            current = ""
        else:
            current += ch
    return [*terms, current] if selector else []


def _unescape(value: str) -> str:
    out, i = "", 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise ValueError(f'"{value}" has an invalid escape (only \\\\, \\, and \\= are allowed)')
            out += value[i + 1]
            i += 2
            continue
        if ch in ",=":
            raise ValueError(f'"{value}" has an unescaped "{ch}"')
        out += ch
        i += 1
    return out
