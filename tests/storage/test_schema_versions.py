"""Schemas are versioned: applied once, and a newer one is refused, not overwritten."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from taskloom.errors import StorageError
from taskloom.storage import open_store


async def test_sqlite_schema_version_is_recorded_and_a_newer_one_is_refused(tmp_path):
    path = tmp_path / "s.db"
    async with open_store(f"sqlite:///{path}") as store:
        await store.outputs.put_output("k", {"y": 1})
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.execute("PRAGMA user_version = 99")
    store = open_store(f"sqlite:///{path}")
    with pytest.raises(StorageError, match="newer taskloom"):
        await store.open()
    await store.close()
    with sqlite3.connect(path) as connection:  # the data is untouched
        assert connection.execute("SELECT count(*) FROM taskloom_records").fetchone()[0] == 1


@pytest.mark.postgres
async def test_postgres_migrations_apply_once_even_when_opened_concurrently(postgres_url):
    stores = [open_store(postgres_url) for _ in range(3)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        await stores[0].outputs.put_output("k", {"y": 1})
        assert await stores[2].outputs.get_output("k") == {"y": 1}
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    async with open_store(postgres_url) as store, store.postgres_pool.connection() as connection:
        cursor = await connection.execute("SELECT version, name FROM taskloom_schema_version")
        assert await cursor.fetchall() == [(1, "0001_records.sql")]


@pytest.mark.postgres
async def test_postgres_schema_from_a_newer_taskloom_is_refused(postgres_url):
    async with open_store(postgres_url) as store:
        await store.outputs.put_output("k", {"y": 1})
        async with store.postgres_pool.connection() as connection:
            await connection.execute(
                "INSERT INTO taskloom_schema_version (version, name) VALUES (99, 'future.sql')"
            )
    store = open_store(postgres_url)
    with pytest.raises(StorageError, match="newer taskloom"):
        await store.open()
    await store.close()


@pytest.mark.postgres
async def test_first_use_from_many_coroutines_opens_one_pool(postgres_url, monkeypatch):
    from psycopg_pool import AsyncConnectionPool

    from taskloom.storage import postgres

    opened = []

    class CountedPool(AsyncConnectionPool):  # the real pool, counted
        async def open(self, *args, **kwargs):
            opened.append(self)
            await super().open(*args, **kwargs)

    monkeypatch.setattr(postgres, "AsyncConnectionPool", CountedPool)
    store = open_store(postgres_url)
    try:
        results = await asyncio.gather(*(store.outputs.get_output(f"k{i}") for i in range(10)))
        assert results == [None] * 10
        assert len(opened) == 1 and store.postgres_pool is opened[0]
    finally:
        await store.close()
    assert opened[0].closed


async def test_a_key_too_long_for_a_file_name_is_refused_clearly(tmp_path):
    async with open_store(tmp_path.as_uri()) as store:
        with pytest.raises(StorageError, match="too long for the filesystem store"):
            await store.graphs.save("g" * 300, {"tasks": []})
        assert await store.graphs.list() == []
