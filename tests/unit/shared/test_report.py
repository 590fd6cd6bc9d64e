from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shared.errors import SettingsError
from shared.handoff import Published, read_published, write_published
from shared.report import Check, write_json, write_junit

CHECKS = [Check("rollout", True, "3/3 ready", "3", seconds=1.5), Check("http /", False, "error rate 0.2", "0", "500s")]


def test_json_report(tmp_path: Path) -> None:
    write_json(tmp_path / "r.json", "deployment-verify", CHECKS, {"image": "x"})
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is False and data["image"] == "x" and len(data["checks"]) == 2


def test_junit_one_testcase_per_check(tmp_path: Path) -> None:
    write_junit(tmp_path / "j.xml", "deployment-verify", CHECKS)
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["rollout", "http /"]
    assert cases[1].find("failure") is not None and cases[0].find("failure") is None


def test_handoff_round_trip(tmp_path: Path) -> None:
    path = tmp_path / ".shipline" / "publish.json"
    p = Published("r:5000/a", ["abc-1"], "sha256:" + "0" * 64, "r:5000/a@sha256:" + "0" * 64, {"k": "v"}, "1", "abc")
    write_published(path, p)
    assert read_published(path, "PLUGIN_PUBLISH_FILE") == p


@pytest.mark.parametrize("content", [None, "not json", '{"nope": 1}'])
def test_handoff_missing_or_bad(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "publish.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError, match="PLUGIN_PUBLISH_FILE: "):
        read_published(path, "PLUGIN_PUBLISH_FILE")
