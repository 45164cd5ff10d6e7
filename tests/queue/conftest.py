"""Fixtures for the queue suites: one opened queue storage per backend.

Postgres runs against TASKLOOM_TEST_POSTGRES (scripts/test sets it), each
test in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from taskloom.queue import open_queue_storage

POSTGRES_URL = os.environ.get("TASKLOOM_TEST_POSTGRES")
NO_POSTGRES = "TASKLOOM_TEST_POSTGRES is not set (scripts/test sets it to a real server)"

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SHARED_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
if sys.platform == "emscripten":
    # Inside Pyodide in Chromium (tests/browser/test_in_pyodide.py): IndexedDB
    # joins; SQLite (no _sqlite3 in the site) and Postgres (no sockets) cannot run.
    BACKENDS = ["memory", "indexeddb"]
    SHARED_BACKENDS = ["indexeddb"]


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(parse_qsl(parts.query)
                                                     + list(params.items()))))


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema name; the schema (created by the storage) is dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    import psycopg

    name = f"taskloom_queue_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def make_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    if backend == "indexeddb":
        return f"indexeddb://taskloom-test-{uuid.uuid4().hex[:12]}"
    if backend == "postgres":
        return with_query(POSTGRES_URL, schema=request.getfixturevalue("postgres_schema"))
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


@pytest.fixture
def postgres_url(postgres_schema: str) -> str:
    """The test server's URL, pointing at a fresh schema."""
    return with_query(POSTGRES_URL, schema=postgres_schema)


@pytest.fixture
def postgres_admin_url() -> str:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    return POSTGRES_URL
