"""External tools the tests need, and one policy for when they are missing.

Locally a missing tool skips the tests that need it, with the reason. In CI (the
environment variable ``CI`` is ``true``, as GitHub Actions, GitLab CI and most others
set it) a missing tool fails them instead: a CI run must not go green by skipping.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_tool(name: str, reason: str) -> NoReturn:
    """Skip (locally) or fail (in CI) because ``name`` is not available."""
    message = f"{name} is not available: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true, so a missing tool fails instead of skipping)")
    pytest.skip(message)


def require_tool(name: str, reason: str) -> str:
    """The path of the executable ``name`` on PATH, or skip/fail (see the module doc).

    ``reason`` says what it is needed for and how to get it, for the skip message.
    """
    path = shutil.which(name)
    if path is None:
        missing_tool(name, reason)
    return path


def require_module(name: str, reason: str) -> ModuleType:
    """Import the Python module ``name``, or skip/fail (see the module doc)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_tool(f"Python module {name!r}", reason)
