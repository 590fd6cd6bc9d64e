"""docker-publish-tagger's settings, declared once."""

from __future__ import annotations

from shared.settings import Declaration

DECLARATION = Declaration("docker-publish-tagger", ())
