"""Throw-away certificates for tests (a CA the cluster does not know, a PEM to parse)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(directory: Path, common_name: str) -> Path:
    """A fresh self-signed certificate (PEM) in `directory`; its key lies beside it."""
    key, cert = directory / f"{common_name}.key", directory / f"{common_name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1"]
        + ["-subj", f"/CN={common_name}"],
        check=True,
        capture_output=True,
    )
    return cert
