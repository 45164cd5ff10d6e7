"""Fixtures for the queue suites: one opened queue storage per backend.

Postgres tests use the shared server fixtures of tests/postgres_server.py
(a fresh schema per test).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from taskloom.queue import open_queue_storage

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SHARED_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
if sys.platform == "emscripten":
    # Inside Pyodide in Chromium (tests/browser/test_in_pyodide.py): IndexedDB
    # joins; SQLite (no _sqlite3 in the site) and Postgres (no sockets) cannot run.
    import taskloom.browser  # noqa: F401  (registers the indexeddb:// scheme)

    BACKENDS = ["memory", "indexeddb"]
    SHARED_BACKENDS = ["indexeddb"]


def make_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    if backend == "indexeddb":
        return f"indexeddb://taskloom-test-{uuid.uuid4().hex[:12]}"
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    return make_url(backend, tmp_path, request)


@pytest.fixture
async def storage(url: str) -> AsyncIterator:
    opened = await open_queue_storage(url)
    try:
        yield opened
    finally:
        await opened.close()
