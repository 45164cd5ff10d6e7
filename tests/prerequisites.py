"""What a test needs from the machine: a skip on a bare machine, a failure under scripts/test.

A plain ``pytest`` where Postgres, the ONNX stack or Chromium is absent skips
those tests with the reason and the fix. ``scripts/test`` sets
``TASKLOOM_TEST_REQUIRE_ALL=1``: it sets up the whole stack, so anything
still missing there is a broken set-up, and a skip would hide it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

REQUIRE_ALL = "TASKLOOM_TEST_REQUIRE_ALL"


def required() -> bool:
    """Whether this run must have every prerequisite (``scripts/test`` says so)."""
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def missing(reason: str) -> NoReturn:
    """Skips the current test (or module, at import time), or fails it under scripts/test."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ALL} is set: scripts/test needs the whole stack, "
                    "so this cannot be skipped)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def need_module(name: str, reason: str) -> ModuleType:
    """``name`` imported; when it cannot be, ``missing(reason)``."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        error = exc
    missing(f"{reason} ({error})")  # outside the except: no chained traceback in the report
