"""Fixtures every test may use."""

from __future__ import annotations

import pytest

from tests.harness import Harness


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Harness:
    """Runs a plugin's main() as a pipeline step would (see tests/harness.py)."""
    return Harness(monkeypatch, capsys)
