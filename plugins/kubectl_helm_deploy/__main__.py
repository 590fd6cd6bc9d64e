"""kubectl-helm-deploy: apply manifests (server-side) or upgrade a Helm release — rolling, blue/green or
canary — and roll back on failure. Configured by PLUGIN_* settings; see README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from plugins.kubectl_helm_deploy.settings import DECLARATION
from shared.log import Log
from shared.runner import run_plugin
from shared.settings import Values

README = Path(__file__).with_name("README.md")


def execute(values: Values, log: Log) -> int:
    # The clients load only once the settings are valid: a settings error exits before they are imported.
    from plugins.kubectl_helm_deploy import steps

    return steps.execute(values, log)


def main(argv: list[str] | None = None) -> int:
    return run_plugin(DECLARATION, execute, argv, docs=README)


if __name__ == "__main__":
    sys.exit(main())
