"""chaos-kill: kill pods inside a blast radius, check the steady state before and after, measure recovery."""

from __future__ import annotations

import sys
from pathlib import Path

from plugins.chaos_kill.settings import DECLARATION
from shared.log import Log
from shared.runner import run_plugin
from shared.settings import Values

README = Path(__file__).with_name("README.md")


def execute(values: Values, log: Log) -> int:
    # The clients load only once the settings are valid: a settings error exits before they are imported.
    from plugins.chaos_kill.chaostoolkit import read_experiment
    from plugins.chaos_kill.experiment import run_experiment
    from plugins.chaos_kill.plan import build_plan
    from plugins.chaos_kill.probes import HttpProber
    from shared.auth import SecretDir, kube_access
    from shared.kube import Cluster

    log.mask(*values.probe_headers.values())
    # Everything is validated (settings, experiment file, cluster access) before the first API call.
    hypothesis = read_experiment(values.chaostoolkit_experiment) if values.chaostoolkit_experiment else None
    plan = build_plan(values, hypothesis)
    with SecretDir() as secrets, HttpProber() as prober:
        access = kube_access(values, secrets, log)
        with Cluster.connect(access) as cluster:
            return run_experiment(plan, cluster, prober, log)


def main(argv: list[str] | None = None) -> int:
    return run_plugin(DECLARATION, execute, argv, docs=README)


if __name__ == "__main__":
    sys.exit(main())
