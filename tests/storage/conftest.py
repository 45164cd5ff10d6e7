"""Fixtures for the storage contract suites: one store per backend.

Every backend that runs under CPython is a parameter; Postgres tests use the
server in TASKLOOM_TEST_POSTGRES (scripts/test sets it), each test in a
fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from taskloom.storage import Store, open_store

POSTGRES_URL = os.environ.get("TASKLOOM_TEST_POSTGRES")
NO_POSTGRES = "TASKLOOM_TEST_POSTGRES is not set (scripts/test sets it to a real server)"

BACKENDS = ["memory", "file", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
DURABLE_BACKENDS = ["file", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
if sys.platform == "emscripten":
    # Inside Pyodide in Chromium (tests/browser/test_in_pyodide.py): IndexedDB
    # joins; SQLite (no _sqlite3 in the site) and Postgres (no sockets) cannot run.
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


def with_query(url: str, **params: str) -> str:
    """``url`` with extra query parameters."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema name; the schema (created by the store) is dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    import psycopg

    name = f"taskloom_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


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
        schema = request.getfixturevalue("postgres_schema")
        return with_query(POSTGRES_URL, schema=schema)
    raise AssertionError(backend)


@pytest.fixture
def postgres_url(postgres_schema: str) -> str:
    """The test server's URL with a fresh schema of its own."""
    return with_query(POSTGRES_URL, schema=postgres_schema)


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
