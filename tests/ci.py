"""CI mode, one rule for the whole suite: `CI=true`, exactly (what .ci/run sets and the Makefile
tests). In CI nothing may be skipped for want of a tool or a service: a check that would skip
locally fails there instead. And the Node.js tools the tests run, found the same way everywhere.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACORN = ROOT / "node_modules" / "acorn" / "bin" / "acorn"


def in_ci() -> bool:
    """True when the suite runs as CI: `CI=true`, and no other value."""
    return os.environ.get("CI") == "true"


def unavailable(reason: str):
    """Skip the test locally; in CI, fail it, so a missing tool can never pass unnoticed."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this check may not be skipped)", pytrace=False)
    pytest.skip(reason)


def node() -> str:
    """The `node` executable (Debian's nodejs, which `make test` installs when it is missing)."""
    found = shutil.which("node")
    if not found:
        unavailable("Node.js is missing (`make test` installs Debian's nodejs)")
    return found


def acorn() -> list[str]:
    """The command that runs the acorn pinned in package-lock.json, from node_modules: never a
    download at test time."""
    command = [node(), str(ACORN)]
    if not ACORN.is_file():
        unavailable(f"{ACORN.relative_to(ROOT)} is missing (`make test` runs `npm ci`)")
    return command
