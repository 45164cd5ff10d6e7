"""SQL on SQLite and Postgres: SqlQuery reads rows, SqlWrite changes them.

    SqlQuery  database, query, params (+ max_rows)   → rows, columns, truncated
    SqlWrite  database, statement, params | rows     → rowcount

``database`` is a URL: ``sqlite:///abs/path.db`` or ``sqlite:relative.db``
(a file under the run's file root, as every file task keeps to) or
``postgresql://user@host/db``. Values travel only as parameters, never
pasted into the SQL: SQLite writes them ``?`` or ``:name``, Postgres ``%s``
or ``%(name)s``. Each task runs exactly one statement (both drivers refuse
``a; b``). A query runs read-only and stops after ``max_rows``; a write is one
transaction, rolled back on any error, so a failing ``rows`` batch writes
nothing.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import decimal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from ..errors import SqlError, StoreURLError
from ..storage import local_path
from ..storage.schemes import scheme_of
from ..task import Task, TaskContext
from .file_root import file_root, inside_root, written

Params = list[Any] | dict[str, Any]
_T = TypeVar("_T")


async def _blocking(work: Callable[..., _T], *args: Any) -> _T:
    """``work(*args)`` off the event loop; inline in Pyodide, which has no threads."""
    if sys.platform == "emscripten":
        return work(*args)
    return await asyncio.to_thread(work, *args)


class SqlQuery(Task):
    """Runs one read-only SQL query with parameters and returns at most max_rows rows."""

    category = "databases"
    cacheable = False  # the database changes under the same input

    class Input(BaseModel):
        database: str = Field(description="sqlite:///file.db or postgresql://…")
        query: str
        params: Params = Field(default_factory=list)
        max_rows: int = Field(1000, ge=1)

    class Output(BaseModel):
        rows: list[dict[str, Any]]
        columns: list[str]
        truncated: bool

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        if _is_postgres(input.database):
            columns, rows, more = await _pg_query(input.database, input.query, input.params,
                                                  input.max_rows)
        else:
            path = _sqlite_file(input.database, ctx, must_exist=True)
            columns, rows, more = await _blocking(
                _sqlite_query, path, input.query, input.params, input.max_rows)
        return {"columns": columns, "truncated": more,
                "rows": [dict(zip(columns, map(_jsonable, row), strict=True)) for row in rows]}


class SqlWrite(Task):
    """Runs one SQL statement with parameters, once or once per item of rows, atomically."""

    category = "databases"
    cacheable = False

    class Input(BaseModel):
        database: str = Field(description="sqlite:///file.db or postgresql://…")
        statement: str
        params: Params = Field(default_factory=list)
        rows: list[Params] | None = Field(
            None, description="one parameter set per execution; all or none are written")

    class Output(BaseModel):
        rowcount: int

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        batches = input.rows if input.rows is not None else [input.params]
        if _is_postgres(input.database):
            count = await _pg_write(input.database, input.statement, batches)
        else:
            path = _sqlite_file(input.database, ctx, must_exist=False)
            count = await _blocking(_sqlite_write, path, input.statement, batches)
            await written(path)  # in the page: the committed file on OPFS now
        return {"rowcount": count}


def _is_postgres(url: str) -> bool:
    scheme = scheme_of(url)
    if scheme in ("postgresql", "postgres"):
        return True
    if scheme == "sqlite":
        return False
    raise StoreURLError(f"not a database URL: {url!r}; use sqlite:///path.db or "
                        "postgresql://user@host/db")


def _sqlite_file(url: str, ctx: TaskContext, *, must_exist: bool) -> Path:
    root = file_root(ctx.services)
    real = inside_root(root, str(local_path(url)))
    if must_exist and not real.is_file():
        from ..errors import FileAccessError

        raise FileAccessError(f"no SQLite file at {url!r} under the file root", path=str(real))
    return real


def _sqlite_query(path: Path, query: str, params: Params,
                  max_rows: int) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    sqlite3 = _sqlite3()
    # mode=ro: a query cannot write, whatever its text says.
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SqlError(f"cannot open the SQLite file {str(path)!r}: {exc}") from exc
    try:
        cursor = connection.execute(query, params)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchmany(max_rows + 1)
    except sqlite3.Error as exc:
        raise SqlError(f"SQLite refused the query: {exc}") from exc
    finally:
        connection.close()
    return columns, rows[:max_rows], len(rows) > max_rows


def _sqlite_write(path: Path, statement: str, batches: list[Params]) -> int:
    sqlite3 = _sqlite3()
    try:
        connection = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise SqlError(f"cannot open the SQLite file {str(path)!r}: {exc}") from exc
    try:
        connection.execute("BEGIN IMMEDIATE")
        count = 0
        for params in batches:
            count += max(connection.execute(statement, params).rowcount, 0)
        connection.execute("COMMIT")
        return count
    except sqlite3.Error as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise SqlError(f"SQLite refused the statement, nothing was written: {exc}") from exc
    finally:
        connection.close()


def _sqlite3() -> Any:
    try:
        import sqlite3
    except ImportError as exc:  # Pyodide ships it as a package to load
        raise SqlError("SQLite is not available here: in Pyodide, load the sqlite3 package "
                       "(pyodide.loadPackage('sqlite3'))") from exc
    return sqlite3


async def _pg_connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise SqlError("Postgres needs psycopg: pip install 'taskloom[postgres]'") from exc
    from ..storage.postgres import _split_url

    conninfo, _ = _split_url(url)  # ?schema=NAME sets the search_path, as for the store
    try:
        return await psycopg.AsyncConnection.connect(conninfo)
    except psycopg.Error as exc:
        raise SqlError(f"cannot connect to Postgres: {exc}") from exc


async def _pg_query(url: str, query: str, params: Params,
                    max_rows: int) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    import psycopg

    connection = await _pg_connect(url)
    try:
        await connection.set_read_only(True)
        # A server-side cursor: rows past max_rows are never sent.
        async with connection.transaction(), \
                connection.cursor(name="taskloom_sql_query") as cursor:
            await cursor.execute(query, params or None)
            columns = [d.name for d in cursor.description or ()]
            rows = await cursor.fetchmany(max_rows + 1)
    except psycopg.Error as exc:
        raise SqlError(f"Postgres refused the query: {exc}") from exc
    finally:
        await connection.close()
    return columns, rows[:max_rows], len(rows) > max_rows


async def _pg_write(url: str, statement: str, batches: list[Params]) -> int:
    import psycopg

    connection = await _pg_connect(url)
    try:
        count = 0
        async with connection.transaction(), connection.cursor() as cursor:
            for params in batches:
                await cursor.execute(statement, params or None)
                count += max(cursor.rowcount, 0)
        return count
    except psycopg.Error as exc:
        raise SqlError(f"Postgres refused the statement, nothing was written: {exc}") from exc
    finally:
        await connection.close()


def _jsonable(value: Any) -> Any:
    """A column value as JSON can hold it: bytes as base64, times as ISO 8601."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | datetime.timedelta):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
