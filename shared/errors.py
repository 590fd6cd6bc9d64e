"""One error hierarchy for every plugin; `shared.runner` maps it to exit codes in one place."""

from __future__ import annotations

import re

# A quoted value in a message is cut past this many characters: a 100,000-character setting stays one short line.
QUOTE_MAX = 120

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class ShiplineError(Exception):
    """Base of every expected failure: its message is the one line the operator reads."""

    exit_code = EXIT_FAILED


class SettingsError(ShiplineError):
    """A setting or input is wrong. Raised before anything is changed."""

    exit_code = EXIT_INPUT

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = re.sub(rf'"([^"]{{{QUOTE_MAX}}})[^"]+"', r'"\1..."', problem)
        problem = self.problem
        super().__init__(f"{setting}: {problem}" if setting else problem)


class PluginError(ShiplineError):
    """The operation failed (push, rollout, steady state ...)."""


class AuthError(PluginError):
    """The cluster or registry refused our credentials or permissions."""


class RolloutFailed(PluginError):
    """A rollout did not complete (pods failing, timeout)."""


class CommandError(PluginError):
    """A child process failed; the message holds the command (secrets hidden), its code and its output."""
