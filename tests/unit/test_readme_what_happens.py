"""Each plugin README's "What happens when…" table names the tests that back it: those tests must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = sorted((ROOT / "plugins").glob("*/README.md"))


def section(text: str) -> str:
    start = text.index("## What happens when")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


@pytest.mark.parametrize("readme", READMES, ids=[p.parent.name for p in READMES])
def test_every_named_test_exists(readme: Path) -> None:
    named = re.findall(r"::(test_\w+)", section(readme.read_text()))
    assert named, f"{readme}: no test named in 'What happens when…'"
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [name for name in named if not re.search(rf"^def {name}\(", sources, re.M)]
    assert not missing, f"{readme} names tests that do not exist: {missing}"
