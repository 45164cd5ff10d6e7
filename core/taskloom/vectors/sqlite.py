"""``sqlite:///path.db``: vectors as float32 blobs in one table; cosine in Python (numpy).

SQLite has no vector arithmetic, so a search reads the candidate blobs (the
metadata filter applied in SQL, through ``json_extract``) and scores them
at once. Every call runs on one thread that owns the connection, as in
``taskloom.storage.sqlite`` (inline in Pyodide, which has no threads and
ships ``sqlite3`` as a package to load). Queries live in ``sqlite.sql``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ..errors import VectorStoreError
from ..storage.sql import parse_queries
from .protocol import Hit, Scalar, VectorItem, check_filter, check_items, check_query
from .scoring import as_matrix, top_k

_QUERIES = parse_queries(resources.files(__package__).joinpath("sqlite.sql").read_text("utf-8"))
_T = TypeVar("_T")


class SqliteVectorStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taskloom-vectors")

    async def _run(self, work: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise VectorStoreError(f"the SQLite vector store {self.path} is closed")
        if sys.platform == "emscripten":  # Pyodide has no threads: run inline
            return self._guarded(work, args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._guarded, work, args)

    def _guarded(self, work: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        try:
            return work(self._connect(), *args)
        except sqlite3.Error as exc:
            raise VectorStoreError(f"the SQLite vector store {self.path} failed: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute(_QUERIES["create"])
            self._connection = connection
        return self._connection

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> int:
        return await self._run(_upsert, collection, list(items))

    async def search(self, collection: str, vector: Sequence[float], k: int = 10,
                     filter: dict[str, Scalar] | None = None) -> list[Hit]:
        return await self._run(_search, collection, list(vector), k, check_filter(filter))

    async def delete(self, collection: str, ids: Sequence[str]) -> int:
        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                return sum(db.execute(_QUERIES["delete"], (collection, i)).rowcount for i in ids)
        return await self._run(work)

    async def count(self, collection: str) -> int:
        return await self._run(lambda db: db.execute(_QUERIES["count"], (collection,))
                               .fetchone()[0])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def work() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        if sys.platform == "emscripten":
            work()
        else:
            await asyncio.get_running_loop().run_in_executor(self._thread, work)
        self._thread.shutdown(wait=False)


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, *rest: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _dimension(db: sqlite3.Connection, collection: str) -> int | None:
    row = db.execute(_QUERIES["dimension"], (collection,)).fetchone()
    return row[0] if row else None


def _upsert(db: sqlite3.Connection, collection: str, items: list[VectorItem]) -> int:
    with _transaction(db):
        dimension = check_items(items, _dimension(db, collection))
        db.executemany(_QUERIES["upsert"], [
            (collection, item.id, item.text, json.dumps(item.metadata), dimension,
             array("f", item.vector).tobytes()) for item in items])
    return len(items)


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _search(db: sqlite3.Connection, collection: str, vector: list[float], k: int,
            filter: dict[str, Scalar]) -> list[Hit]:
    check_query(vector, _dimension(db, collection), k)
    sql = _QUERIES["candidates"]
    params: list[Any] = [collection]
    for key, value in filter.items():
        sql += "\n" + _QUERIES["filter_clause"]
        # json_extract gives JSON true/false as 1/0, and strings unquoted.
        params += [_json_path(key), int(value) if isinstance(value, bool) else value]
    rows = db.execute(sql, params).fetchall()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    matrix = as_matrix([row[1] for row in rows])
    hits = []
    for index, score in top_k(vector, matrix, k):
        text, metadata = db.execute(_QUERIES["fetch"], (collection, ids[index])).fetchone()
        hits.append(Hit(ids[index], score, text, json.loads(metadata)))
    return hits
