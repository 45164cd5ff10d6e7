"""``postgresql://…``: every collection in one table, through a connection pool.

psycopg 3's async connections from a ``psycopg_pool.AsyncConnectionPool``:
nothing blocks the event loop. The schema is a numbered series of files in
``migrations/postgres/``, applied once each under an advisory lock and
recorded in ``taskloom_schema_version``; queries live in ``postgres.sql``.

``?schema=NAME`` in the URL keeps taskloom's tables in that schema (created
if missing), e.g. ``postgresql://user@host/db?schema=taskloom``.

A lost connection or an unreachable server surfaces as
StoreUnavailableError; the pool replaces broken connections, so the next
call works again once the server is back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from ..errors import StorageError, StoreUnavailableError, StoreURLError
from .protocol import Entry, JSONValue, check_key, decode_value, encode_value, prefix_end
from .sql import compare_and_set_statement, load_migrations, load_queries

_QUERIES = load_queries("postgres.sql")
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class PostgresStore:
    """A KeyValueStore in Postgres.

    ``pool`` (after ``open()``) is public so that other subsystems (the job
    queue, rate limits) can share the connections; ``schema`` names the
    schema the tables live in (None: the server's search_path). The pool's
    connections run with ``synchronous_commit = off`` (see ``_configure``):
    a sharer that needs each commit flushed before it returns says
    ``SET LOCAL synchronous_commit = on`` in its transaction.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 10.0,
    ) -> None:
        self.conninfo, self.schema = _split_url(url)
        self.where = _describe(self.conninfo)
        self.pool: AsyncConnectionPool | None = None
        self._clock = clock
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._opening = asyncio.Lock()
        self._closed = False

    # -- plumbing -------------------------------------------------------------

    async def open(self) -> None:
        await self._ready()

    async def _ready(self) -> AsyncConnectionPool:
        if self.pool is not None:
            return self.pool
        if self._closed:
            raise StorageError(f"the Postgres store at {self.where} is closed")
        async with self._opening:
            if self.pool is None:
                await self._migrate()
                pool = AsyncConnectionPool(
                    self.conninfo,
                    kwargs=self._connect_options(),
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._timeout,
                    # A connection that died while idle (server restart) is
                    # replaced at checkout instead of failing the caller.
                    check=AsyncConnectionPool.check_connection,
                    configure=_configure,
                    name="taskloom-store",
                    open=False,
                )
                await pool.open(wait=False)
                self.pool = pool
        return self.pool

    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in psycopg.conninfo.conninfo_to_dict(self.conninfo):
            options["connect_timeout"] = max(1, round(self._timeout))
        return options

    async def _migrate(self) -> None:
        migrations = load_migrations("postgres")
        try:
            async with (
                await psycopg.AsyncConnection.connect(
                    self.conninfo, **self._connect_options()
                ) as connection,
                connection.transaction(),
            ):
                await connection.execute(_QUERIES["lock_migrations"])
                if self.schema:
                    await connection.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self.schema)
                        )
                    )
                await connection.execute(_QUERIES["create_version_table"])
                cursor = await connection.execute(_QUERIES["applied_versions"])
                applied = {row[0] for row in await cursor.fetchall()}
                known = {version for version, _, _ in migrations}
                if applied - known:
                    raise StorageError(
                        f"the Postgres schema at {self.where} was migrated by a newer taskloom "
                        f"(versions {sorted(applied - known)}); upgrade taskloom"
                    )
                for version, name, text in migrations:
                    if version not in applied:
                        await connection.execute(text)
                        await connection.execute(_QUERIES["record_version"], (version, name))
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: psycopg.Error) -> StorageError:
        if _transient(exc):
            return StoreUnavailableError(
                f"Postgres at {self.where} is unavailable ({str(exc).strip()}); "
                "the operation may not have been applied. Retry once the server is reachable."
            )
        return StorageError(
            f"Postgres at {self.where} refused the write: {str(exc).strip()}. "
            "Retrying cannot succeed; nothing of this operation was stored "
            "(e.g. shorten the key, or remove NUL characters from it)."
            if isinstance(exc, psycopg.DataError | psycopg.errors.ProgramLimitExceeded)
            else f"Postgres at {self.where}: {str(exc).strip()}"
        )

    async def _fetch_one(self, query: str, params: tuple[Any, ...]) -> Any:
        pool = self.pool or await self._ready()
        try:
            async with pool.connection() as connection:
                cursor = await connection.execute(query, params)
                return await cursor.fetchone()
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    async def _fetch_all(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        pool = self.pool or await self._ready()
        try:
            async with pool.connection() as connection:
                cursor = await connection.execute(query, params)
                return await cursor.fetchall()
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    async def _execute(self, query: str, params: tuple[Any, ...]) -> int:
        pool = self.pool or await self._ready()
        try:
            async with pool.connection() as connection:
                cursor = await connection.execute(query, params)
                return cursor.rowcount
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    # -- the protocol -----------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.close()

    async def get(self, collection: str, key: str) -> JSONValue | None:
        row = await self._fetch_one(_QUERIES["get"], (collection, key))
        return None if row is None else decode_value(collection, key, row[0])

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[JSONValue | None]:
        if not keys:
            return []
        found = dict(await self._fetch_all(_QUERIES["get_many"], (collection, list(keys))))
        return [None if (text := found.get(key)) is None else decode_value(collection, key, text)
                for key in keys]

    async def put(self, collection: str, key: str, value: JSONValue) -> None:
        params = (collection, check_key(key), encode_value(value), self._clock())
        await self._execute(_QUERIES["put"], params)

    async def put_many(self, collection: str, items: Mapping[str, JSONValue]) -> None:
        await self.put_records((collection, key, value) for key, value in items.items())

    async def put_records(self, records: Iterable[tuple[str, str, JSONValue]]) -> None:
        now = self._clock()
        rows = [(c, check_key(k), encode_value(v), now) for c, k, v in records]
        if not rows:
            return
        pool = self.pool or await self._ready()
        try:
            async with (
                pool.connection() as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                await cursor.executemany(_QUERIES["put"], rows)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    async def compare_and_set(
        self, collection: str, key: str, expected: JSONValue | None, value: JSONValue | None
    ) -> bool:
        statement = compare_and_set_statement(collection, key, expected, value, self._clock())
        if statement is None:
            return await self.get(collection, key) is None
        name, params = statement
        return await self._execute(_QUERIES[name], params) == 1

    async def delete(self, collection: str, key: str) -> bool:
        return await self._execute(_QUERIES["delete"], (collection, key)) > 0

    async def keys(self, collection: str, prefix: str = "") -> list[str]:
        query, params = _range("keys", collection, prefix)
        return [row[0] for row in await self._fetch_all(query, params)]

    async def scan(self, collection: str, prefix: str = "") -> list[Entry]:
        query, params = _range("scan", collection, prefix)
        rows = await self._fetch_all(query, params)
        return [Entry(collection, key, value, at) for key, value, at in rows]

    async def count(self, collection: str) -> int:
        return (await self._fetch_one(_QUERIES["count"], (collection,)))[0]

    async def size(self, collection: str) -> int:
        return int((await self._fetch_one(_QUERIES["size"], (collection,)))[0])

    async def clear(self, collection: str, prefix: str = "") -> int:
        query, params = _range("clear", collection, prefix)
        return await self._execute(query, params)

    async def delete_older_than(self, collection: str, cutoff: float) -> int:
        return await self._execute(_QUERIES["delete_older_than"], (collection, cutoff))


#: SQLSTATE classes of errors that may pass: connection trouble (08), a server
#: short of resources (53), an operator or a restart stopping it (57), a lost race (40).
_TRANSIENT_CLASSES = ("08", "53", "57", "40")


def _transient(exc: psycopg.Error) -> bool:
    """Whether trying again later can succeed.

    psycopg files some permanent errors under OperationalError (an index row
    over the size limit is ProgramLimitExceeded, SQLSTATE 54000), so the class
    alone does not say; the SQLSTATE does. A client-side failure has none.
    """
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(_TRANSIENT_CLASSES)


async def _configure(connection: psycopg.AsyncConnection) -> None:
    # Run records and cached outputs tolerate losing the last few hundred ms of
    # commits if the *server* crashes (a task recorded as running runs again on
    # resume; a lost cache entry is recomputed), and not waiting for the WAL
    # flush makes each write ~10x cheaper. A killed client loses nothing; data
    # is never corrupted. As SQLite's synchronous=NORMAL in WAL mode.
    await connection.execute("SET synchronous_commit = off")


def _range(kind: str, collection: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
    end = prefix_end(prefix)
    if end is None:
        return _QUERIES[f"{kind}_from"], (collection, prefix)
    return _QUERIES[f"{kind}_between"], (collection, prefix, end)


def _split_url(url: str) -> tuple[str, str | None]:
    """libpq conninfo for ``url`` without taskloom's own ``schema`` parameter."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    schema = schemas[-1] if schemas else None
    url = urlunsplit(parts._replace(query=urlencode([(n, v) for n, v in query if n != "schema"])))
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreURLError(f"malformed Postgres URL: {exc}") from exc
    if schema is not None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreURLError(
                f"schema={schema!r} in the Postgres URL is not a plain identifier "
                "(letters, digits, underscores)"
            )
        search_path = f"-c search_path={schema}"
        params["options"] = (
            f"{params['options']} {search_path}" if params.get("options") else (search_path)
        )
    return psycopg.conninfo.make_conninfo(**params), schema


def _describe(conninfo: str) -> str:
    """host:port/dbname, never the password."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    return f"{host}:{port}/{params.get('dbname', params.get('user', ''))}"
