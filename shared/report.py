"""Check results, reported three ways: a table in the log, a JSON file, and JUnit XML for CI test views."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.log import Log


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    measured: str = ""
    threshold: str = ""
    detail: str = ""
    seconds: float = 0.0


def log_checks(log: Log, checks: list[Check]) -> None:
    log.table(
        ("check", "result", "measured", "threshold"),
        [(c.name, "pass" if c.passed else "FAIL", c.measured, c.threshold) for c in checks],
    )


def write_json(path: Path, plugin: str, checks: list[Check], extra: dict[str, object] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"plugin": plugin, "passed": all(c.passed for c in checks), "checks": [asdict(c) for c in checks]}
    path.write_text(json.dumps({**body, **(extra or {})}, indent=2) + "\n")


def write_junit(path: Path, plugin: str, checks: list[Check]) -> None:
    """One testcase per check; a failed check carries a <failure> with its detail."""
    failures = sum(not c.passed for c in checks)
    suite = ET.Element(
        "testsuite",
        name=plugin,
        tests=str(len(checks)),
        failures=str(failures),
        errors="0",
        time=f"{sum(c.seconds for c in checks):.3f}",
    )
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=plugin, name=c.name, time=f"{c.seconds:.3f}")
        if not c.passed:
            failure = ET.SubElement(case, "failure", message=f"{c.measured} (threshold {c.threshold})")
            failure.text = c.detail
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="unicode", xml_declaration=True)
