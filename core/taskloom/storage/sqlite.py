"""``sqlite:///path.db``: every collection in one table of one SQLite file.

The file runs in WAL mode (readers never wait for the writer) with a busy
timeout, so several processes can share it; multi-row writes take the write
lock up front (``BEGIN IMMEDIATE``) so that two writers queue instead of
deadlocking. Schema and queries live in ``sqlite.sql``.

The stdlib ``sqlite3`` driver blocks and there is no async driver in the
standard library, so every call runs on one dedicated thread that owns the
connection (this module is CPython-only; Pyodide uses IndexedDB). One
thread means one connection, no lock, and calls that run in the order made.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StorageError, StoreUnavailableError
from .protocol import Entry, JSONValue, check_key, decode_value, encode_value, prefix_end
from .sql import compare_and_set_statement, load_queries

SCHEMA_VERSION = 1
_QUERIES = load_queries("sqlite.sql")
_T = TypeVar("_T")


class SqliteStore:
    """A KeyValueStore in a SQLite file.

    ``path`` is public so that other subsystems (the job queue, rate limits)
    can keep their tables in the same file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taskloom-sqlite")

    # -- plumbing -------------------------------------------------------------

    async def _run(self, work: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise StorageError(f"the SQLite store {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._on_thread, work, args)

    def _on_thread(self, work: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        try:
            if self._connection is None:
                self._connection = self._connect()
            return work(self._connection, *args)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create {self.path.parent}: {exc}") from exc
        # isolation_level=None: autocommit; transactions are explicit below.
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} was written by a newer taskloom (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade taskloom"
                )
            if version < SCHEMA_VERSION:
                connection.executescript(f"BEGIN IMMEDIATE;\n{_QUERIES['schema']}\nCOMMIT;")
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _transaction(connection: sqlite3.Connection, work: Callable[[], _T]) -> _T:
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = work()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    # -- the protocol -----------------------------------------------------------

    async def open(self) -> None:
        await self._run(lambda connection: None)

    async def close(self) -> None:
        if self._closed:
            return

        def close(connection: sqlite3.Connection) -> None:
            connection.close()
            self._connection = None

        if self._connection is not None:
            await self._run(close)
        self._closed = True
        self._thread.shutdown(wait=False)

    async def get(self, collection: str, key: str) -> JSONValue | None:
        row = await self._run(_fetch_one, _QUERIES["get"], (collection, key))
        return None if row is None else decode_value(collection, key, row[0])

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[JSONValue | None]:
        if not keys:
            return []
        rows = await self._run(_fetch_all, _QUERIES["get_many"], (collection, json.dumps(keys)))
        found = dict(rows)
        return [None if (text := found.get(key)) is None else decode_value(collection, key, text)
                for key in keys]

    async def put(self, collection: str, key: str, value: JSONValue) -> None:
        params = (collection, check_key(key), encode_value(value), self._clock())
        await self._run(_execute, _QUERIES["put"], params)

    async def put_many(self, collection: str, items: Mapping[str, JSONValue]) -> None:
        await self.put_records((collection, key, value) for key, value in items.items())

    async def put_records(self, records: Iterable[tuple[str, str, JSONValue]]) -> None:
        now = self._clock()
        rows = [(c, check_key(k), encode_value(v), now) for c, k, v in records]

        def put_all(connection: sqlite3.Connection) -> None:
            self._transaction(connection, lambda: connection.executemany(_QUERIES["put"], rows))

        await self._run(put_all)

    async def compare_and_set(
        self, collection: str, key: str, expected: JSONValue | None, value: JSONValue | None
    ) -> bool:
        statement = compare_and_set_statement(collection, key, expected, value, self._clock())
        if statement is None:
            return await self.get(collection, key) is None
        name, params = statement
        return await self._run(_execute, _QUERIES[name], params) == 1

    async def delete(self, collection: str, key: str) -> bool:
        return await self._run(_execute, _QUERIES["delete"], (collection, key)) > 0

    async def keys(self, collection: str, prefix: str = "") -> list[str]:
        query, params = _range("keys", collection, prefix)
        return [row[0] for row in await self._run(_fetch_all, query, params)]

    async def scan(self, collection: str, prefix: str = "") -> list[Entry]:
        query, params = _range("scan", collection, prefix)
        rows = await self._run(_fetch_all, query, params)
        return [Entry(collection, key, value, at) for key, value, at in rows]

    async def count(self, collection: str) -> int:
        return (await self._run(_fetch_one, _QUERIES["count"], (collection,)))[0]

    async def size(self, collection: str) -> int:
        return (await self._run(_fetch_one, _QUERIES["size"], (collection,)))[0]

    async def clear(self, collection: str, prefix: str = "") -> int:
        query, params = _range("clear", collection, prefix)
        return await self._run(_execute, query, params)

    async def delete_older_than(self, collection: str, cutoff: float) -> int:
        return await self._run(_execute, _QUERIES["delete_older_than"], (collection, cutoff))


# -- helpers run on the store's thread ---------------------------------------------


def _fetch_one(connection: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> Any:
    return connection.execute(query, params).fetchone()


def _fetch_all(connection: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> list[Any]:
    return connection.execute(query, params).fetchall()


def _execute(connection: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> int:
    return connection.execute(query, params).rowcount


def _range(kind: str, collection: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
    end = prefix_end(prefix)
    if end is None:
        return _QUERIES[f"{kind}_from"], (collection, prefix)
    return _QUERIES[f"{kind}_between"], (collection, prefix, end)


def _translate(exc: sqlite3.Error, path: Path) -> StorageError:
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and (
        "unable to open" in message or "locked" in message or "busy" in message
    ):
        return StoreUnavailableError(f"SQLite store {path} is unavailable: {message}")
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in message:
        return StorageError(f"{path} is not a SQLite database ({message}); is the path right?")
    return StorageError(f"SQLite store {path}: {message}")
