"""chaos-kill's settings, declared once."""

from __future__ import annotations

from shared.settings import Declaration

DECLARATION = Declaration("chaos-kill", ())
