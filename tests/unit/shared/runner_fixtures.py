"""The environments the real runners gave a plugin step, captured into fixtures/runners/ by
tests/integration/runner_env.py (which test_runners.py also uses to check that they still match)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runners"


def captured(name: str) -> dict[str, str]:
    """fixtures/runners/<name>.env as a mapping (one NAME=value per line, `#` comments)."""
    lines = (FIXTURES / f"{name}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
