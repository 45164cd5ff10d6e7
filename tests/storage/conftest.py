"""Fixtures for the storage contract suites: one store per backend.

Every backend that runs under CPython is a parameter; Postgres tests use the
shared server fixtures of tests/postgres_server.py (a fresh schema per test).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from taskloom.storage import Store, open_store

BACKENDS = ["memory", "file", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
DURABLE_BACKENDS = ["file", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
if sys.platform == "emscripten":
    # Inside Pyodide in Chromium (tests/browser/test_in_pyodide.py): IndexedDB
    # joins; SQLite (no _sqlite3 in the site) and Postgres (no sockets) cannot run.
    import taskloom.browser  # noqa: F401  (registers the indexeddb:// scheme)

    BACKENDS = ["memory", "file", "indexeddb"]
    DURABLE_BACKENDS = ["file", "indexeddb"]


class FakeClock:
    """A clock the test moves by hand, so age-based deletes never race real time."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "file":
        return (tmp_path / "store").as_uri()
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if backend == "indexeddb":
        return f"indexeddb://taskloom-test-{uuid.uuid4().hex[:12]}"
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    return make_url(backend, tmp_path, request)


@pytest.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    async with open_store(store_url, clock=clock) as opened:
        yield opened


@pytest.fixture(params=DURABLE_BACKENDS)
def durable_url(request: pytest.FixtureRequest, tmp_path) -> str:
    return make_url(request.param, tmp_path, request)
