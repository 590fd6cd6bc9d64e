"""`python -m demo` (what `make demo` runs after `make up` and `make images`): see demo/__init__.py."""

from __future__ import annotations

import argparse
import sys

from shared.log import Log

from .environment import read_stack
from .plugins import ImageRunner, PluginRunner, ScriptRunner, images_built
from .scenario import Demo, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--namespace", default="shipline-demo", help="namespace to (re)create for the demo")
    parser.add_argument("--scripts", action="store_true", help="run the console scripts even if images are built")
    args = parser.parse_args(argv)
    log = Log()
    try:
        stack = read_stack()
    except (FileNotFoundError, KeyError) as e:
        log.error(str(e))
        return 1
    runner: PluginRunner
    if not args.scripts and images_built(stack.docker_host):
        runner = ImageRunner(stack.docker_host)
    else:
        if not args.scripts:
            log.warn("the plugin images are not built (make images): running the console scripts instead")
        runner = ScriptRunner(stack.docker_host)
    demo = Demo(stack, runner, log, namespace=args.namespace)
    demo.run()
    summary(demo, log)
    return 0 if demo.passed else 1


if __name__ == "__main__":
    sys.exit(main())
