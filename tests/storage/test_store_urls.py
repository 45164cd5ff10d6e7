"""open_store: a storage URL picks the backend."""

from __future__ import annotations

import pytest

from taskloom.errors import StoreURLError
from taskloom.storage import open_store, sqlite_url
from taskloom.storage.filesystem import FileStore
from taskloom.storage.memory import MemoryStore
from taskloom.storage.sqlite import SqliteStore


def test_memory_url():
    store = open_store("memory://")
    assert isinstance(store.backend, MemoryStore)
    assert store.sqlite_path is None and store.postgres_pool is None


def test_file_url_is_an_absolute_folder(tmp_path):
    store = open_store((tmp_path / "s p a c e").as_uri())
    assert isinstance(store.backend, FileStore)
    assert store.backend.path == tmp_path / "s p a c e"


@pytest.mark.parametrize("slashes", ["///", "////"])
def test_sqlite_url_with_three_or_four_slashes_is_absolute(tmp_path, slashes):
    url = f"sqlite:{slashes}{str(tmp_path / 'x.db').lstrip('/')}"
    store = open_store(url)
    assert isinstance(store.backend, SqliteStore)
    assert store.sqlite_path == tmp_path / "x.db"


def test_sqlite_url_without_slashes_is_relative():
    assert str(open_store("sqlite:data/x.db").sqlite_path) == "data/x.db"


def test_sqlite_url_helper_round_trips_odd_paths(tmp_path):
    path = tmp_path / "dir with space" / "100%.db"
    assert open_store(sqlite_url(path)).sqlite_path == path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost", "unknown storage URL scheme 'redis'"),
        ("/tmp/x.db", "not a storage URL"),
        ("sqlite://somehost/x.db", "names a host"),
        ("file://", "has no path"),
        ("indexeddb://taskloom", "only in the browser"),
    ],
)
def test_bad_urls_say_what_is_wrong(url, message):
    with pytest.raises(StoreURLError, match=message):
        open_store(url)


def test_a_store_url_error_is_a_value_error():
    with pytest.raises(ValueError):
        open_store("nonsense")


def test_postgres_schema_must_be_a_plain_identifier():
    with pytest.raises(StoreURLError, match="schema"):
        open_store("postgresql://u@h/db?schema=x;drop")


def test_repr_hides_the_password():
    assert "hunter2" not in repr(open_store("postgresql://u:hunter2@h/db"))


@pytest.mark.postgres
async def test_postgres_store_exposes_its_pool_for_other_subsystems(postgres_url, postgres_schema):
    async with open_store(postgres_url) as store, store.postgres_pool.connection() as connection:
        cursor = await connection.execute("SELECT current_schema()")
        assert (await cursor.fetchone())[0] == postgres_schema
