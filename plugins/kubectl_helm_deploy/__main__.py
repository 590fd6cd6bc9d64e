"""kubectl-helm-deploy entry point (not implemented yet: exits 1, never pretends success)."""

from __future__ import annotations

import sys

from shared.runner import not_implemented


def main() -> int:
    return not_implemented("kubectl-helm-deploy")


if __name__ == "__main__":
    sys.exit(main())
