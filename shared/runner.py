"""The one place where errors become exit codes: every plugin's `main` goes through `run_plugin`."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.errors import EXIT_FAILED, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, ShiplineError
from shared.failures import describe_failure
from shared.log import Log, MaskingFilter
from shared.preflight import check_outputs
from shared.settings import Declaration, Values

Execute = Callable[[Values, Log], int | None]


def run_plugin(
    declaration: Declaration,
    execute: Execute,
    argv: Sequence[str] | None = None,
    docs: Path | None = None,
    log: Log | None = None,
) -> int:
    """Load settings, run `execute(values, log)`, and map whatever happens to an exit code.

    0 success, 1 operation failed (a PluginError, or what Docker, the cluster, a registry, helm or the file system
    raised: shared.failures), 2 bad input (nothing changed), 3 a shipline bug (with a masked traceback),
    130 interrupted. `--help` prints the plugin's docs (its settings table included).
    """
    log = log or Log()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(docs.read_text() if docs and docs.exists() else declaration.markdown_table())
        return EXIT_OK
    if args:
        log.error(f"{declaration.plugin} takes no arguments; configure it with PLUGIN_* settings (see --help)")
        return EXIT_INPUT
    masking = MaskingFilter(log.masker)
    root = logging.getLogger()
    root.addFilter(masking)
    for handler in root.handlers:
        handler.addFilter(masking)
    try:
        values = declaration.load()
        log.mask(*values.secret_values())
        for warning in values.warnings:
            log.warn(warning)
        check_outputs(declaration.outputs(values))
        code = execute(values, log)
        return EXIT_OK if code is None else code
    except ShiplineError as e:
        log.error(f"{declaration.plugin}: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        log.error(f"{declaration.plugin}: interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the last resort: an operation failure (1), else a bug (3)
        cause = describe_failure(e)
        if cause is not None:
            log.error(f"{declaration.plugin}: {cause}")
            return EXIT_FAILED
        for line in traceback.format_exc().splitlines():
            log.error(line)
        log.error(f"{declaration.plugin}: internal error: {type(e).__name__}: {e}")
        return EXIT_INTERNAL
    finally:
        root.removeFilter(masking)
        for handler in root.handlers:
            handler.removeFilter(masking)
