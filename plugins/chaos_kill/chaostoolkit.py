"""Chaos Toolkit experiments: the HTTP probes of `steady-state-hypothesis`, so a team coming from
`chaos run experiment.json` keeps its hypothesis. Pure except `read_experiment`, which reads the file.

Supported: probes whose provider has `type: http` and a `url` (`${name}` taken from the experiment's string
`configuration` values), and a tolerance that is a status code (or a list of just one), or
`{"type": "regex", "target": "body", "pattern": ...}`. Probes of other providers (python, process) cannot run
here: they are returned as skipped, and the caller warns about each one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import SettingsError

SETTING = "PLUGIN_CHAOSTOOLKIT_EXPERIMENT"
_VAR = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class ExperimentProbe:
    name: str
    url: str
    status: int = 200
    body_regex: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Hypothesis:
    title: str
    probes: tuple[ExperimentProbe, ...]
    skipped: tuple[str, ...]  # "name (provider type)" of probes that cannot run here


def read_experiment(path: Path) -> Hypothesis:
    """The HTTP hypothesis of the experiment file at `path`; SettingsError naming the setting for any problem."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(SETTING, f'cannot read "{path}": {getattr(e, "strerror", None) or e}') from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SettingsError(SETTING, f'"{path}" is not JSON ({e.msg} at line {e.lineno})') from None
    except (ValueError, RecursionError):  # a number past 4,300 digits, nesting past the parser's depth
        raise SettingsError(SETTING, f'"{path}" is JSON no experiment can be (too deep or too large)') from None
    return hypothesis_of(doc, str(path))


def hypothesis_of(doc: Any, where: str = "the experiment") -> Hypothesis:
    if not isinstance(doc, dict):
        raise SettingsError(SETTING, f"{where} is not a JSON object")
    ssh = doc.get("steady-state-hypothesis")
    if not isinstance(ssh, dict):
        raise SettingsError(SETTING, f"{where} has no steady-state-hypothesis object")
    config = {k: v for k, v in (doc.get("configuration") or {}).items() if isinstance(v, str)}
    probes, skipped = [], []
    for i, probe in enumerate(ssh.get("probes") or []):
        if not isinstance(probe, dict):
            skipped.append(f"probe #{i + 1} (a reference, not a probe)")
            continue
        name = str(probe.get("name") or f"probe #{i + 1}")
        provider = probe.get("provider") or {}
        kind = provider.get("type", "?") if isinstance(provider, dict) else "?"
        if kind != "http":
            skipped.append(f"{name} ({kind} provider)")
            continue
        probes.append(_http_probe(name, provider, probe.get("tolerance", 200), config, where))
    return Hypothesis(str(ssh.get("title") or ""), tuple(probes), tuple(skipped))


def _http_probe(
    name: str, provider: Mapping[str, Any], tolerance: Any, config: Mapping[str, str], where: str
) -> ExperimentProbe:
    url = provider.get("url")
    if not isinstance(url, str) or not url:
        raise SettingsError(SETTING, f'probe "{name}" in {where} has no url')
    url = _substitute(url, config, name, where)
    if not url.startswith(("http://", "https://")):
        raise SettingsError(SETTING, f'probe "{name}" in {where}: "{url}" is not an http(s) URL')
    method = str(provider.get("method") or "GET").upper()
    if method != "GET":
        raise SettingsError(SETTING, f'probe "{name}" in {where}: method {method} is not supported (GET only)')
    status, body = _tolerance(name, tolerance, where)
    timeout = provider.get("timeout")
    if isinstance(timeout, list) and timeout:  # Chaos Toolkit allows [connect, read]
        timeout = sum(float(t) for t in timeout)
    return ExperimentProbe(
        name=name,
        url=url,
        status=status,
        body_regex=body,
        timeout=float(timeout) if isinstance(timeout, (int, float)) else None,
    )


def _tolerance(name: str, tolerance: Any, where: str) -> tuple[int, str | None]:
    if isinstance(tolerance, bool):
        # Chaos Toolkit compares a bool with the probe's whole result; an HTTP status never equals it.
        raise SettingsError(SETTING, f'probe "{name}" in {where}: a boolean tolerance cannot hold for HTTP')
    if isinstance(tolerance, list) and len(tolerance) == 1:
        tolerance = tolerance[0]
    if isinstance(tolerance, int) and not isinstance(tolerance, bool):
        return tolerance, None
    if isinstance(tolerance, dict) and tolerance.get("type") == "regex" and tolerance.get("target") == "body":
        pattern = str(tolerance.get("pattern") or "")
        try:
            re.compile(pattern)
        except re.error as e:
            raise SettingsError(SETTING, f'probe "{name}" in {where}: bad body pattern ({e})') from None
        return 200, pattern
    raise SettingsError(
        SETTING,
        f'probe "{name}" in {where}: tolerance {json.dumps(tolerance)} is not supported '
        "(a status code, or a body regex)",
    )


def _substitute(url: str, config: Mapping[str, str], name: str, where: str) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in config:
            raise SettingsError(SETTING, f'probe "{name}" in {where}: ${{{key}}} is not a string in configuration')
        return config[key]

    return _VAR.sub(value, url)
