"""One readable CI log style for every plugin, with every secret masked in every line.

Headings per phase, progress lines for long work, a final summary table. Secrets registered with `Log.mask`
are replaced by `******` in everything written here, in exception text that passes through, and (through
`MaskingFilter`) in records of libraries that use `logging` (pyhelm3 logs helm's command lines).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TextIO

MASK = "******"


class Masker:
    """Replaces known secret values in text. Multi-line secrets (kubeconfigs, PEM keys) are masked line by line
    too, so a fragment that reaches a log is still hidden."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, *values: str | None) -> None:
        for value in values:
            if not value:
                continue
            parts = [value, value.strip()]
            if "\n" in value:
                parts += [line.strip() for line in value.splitlines() if len(line.strip()) >= 8]
            for part in parts:
                if len(part) >= 3 and part not in self._secrets:
                    self._secrets.append(part)
        self._secrets.sort(key=len, reverse=True)  # longest first, so a secret containing another is whole

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class MaskingFilter(logging.Filter):
    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self._masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._masker(record.getMessage())
        record.args = ()
        return True


class Log:
    """The plugin's log. Every line goes through the masker."""

    def __init__(self, stream: TextIO | None = None, masker: Masker | None = None) -> None:
        self.stream = stream or sys.stdout
        self.masker = masker or Masker()
        self._started = time.monotonic()

    def mask(self, *secrets: str | None) -> None:
        self.masker.add(*secrets)

    def _write(self, line: str) -> None:
        self.stream.write(self.masker(line) + "\n")
        self.stream.flush()

    def heading(self, text: str) -> None:
        self._write(f"\n== {text}")

    def info(self, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            self._write(f"   {line}")

    def progress(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        self._write(f"   [{elapsed:6.1f}s] {text}")

    def warn(self, text: str) -> None:
        self._write(f"!! warning: {text}")

    def error(self, text: str) -> None:
        self._write(f"xx {text}")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        body = [[self.masker(str(c)) for c in row] for row in rows]  # masked first: widths must not hint
        widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
        fmt = "   " + "  ".join(f"{{:<{w}}}" for w in widths)
        self._write(fmt.format(*headers))
        self._write(fmt.format(*("-" * w for w in widths)))
        for row in body:
            self._write(fmt.format(*row))
