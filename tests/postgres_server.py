"""The test Postgres server: its URL, and a fresh schema per test (a pytest plugin).

Every suite that talks to Postgres uses these fixtures (tests/conftest.py
loads this module as a plugin). The server is TASKLOOM_TEST_POSTGRES, which
scripts/test sets to a real one; each test gets a schema of its own, created
by the store or queue storage that opens it and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from prerequisites import missing

POSTGRES_URL = os.environ.get("TASKLOOM_TEST_POSTGRES")
NO_POSTGRES = "TASKLOOM_TEST_POSTGRES is not set (scripts/test sets it to a real server)"


def with_query(url: str, **params: str) -> str:
    """``url`` with extra query parameters."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def postgres_admin_url() -> str:
    """The test server's own URL (its default schema): for admin work beside a test."""
    if not POSTGRES_URL:
        missing(NO_POSTGRES)
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_admin_url: str) -> Iterator[str]:
    """A fresh schema name; the schema is dropped afterwards."""
    import psycopg

    name = f"taskloom_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def postgres_url(postgres_admin_url: str, postgres_schema: str) -> str:
    """The test server's URL, pointing at a fresh schema of its own."""
    return with_query(postgres_admin_url, schema=postgres_schema)
