"""Which CI runner started this step. Woodpecker first: it also sets Drone's compatibility variables
(`DRONE_BUILD_NUMBER`, `DRONE_COMMIT_SHA`, ...), so asking for Drone first would mistake it for Drone."""

from __future__ import annotations

from collections.abc import Mapping

NAMES = {"woodpecker": "Woodpecker", "drone": "Drone", "local": "the runner"}


def detect_runner(env: Mapping[str, str]) -> str:
    """`woodpecker`, `drone`, or `local` (no CI system)."""
    if env.get("CI") == "woodpecker" or env.get("CI_SYSTEM_NAME") == "woodpecker" or env.get("CI_PIPELINE_NUMBER"):
        return "woodpecker"
    if env.get("DRONE") == "true" or env.get("DRONE_BUILD_NUMBER"):
        return "drone"
    return "local"
