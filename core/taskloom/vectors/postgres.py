"""``postgresql://…``: vectors in Postgres, scored in SQL.

With the pgvector extension installed (or installable) on the server, items
live in a ``vector`` column and ``<=>`` ranks them. Without it — Debian's
Postgres here has no pgvector package — they live in ``real[]`` and the
cosine is computed in SQL over the zipped arrays. ``?pgvector=off`` on the
URL keeps to ``real[]``; ``?schema=NAME`` keeps the table in that schema.
Both paths share the protocol's checks; queries live in ``postgres.sql``,
one ``_plain`` and one ``_pgvector`` per operation.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import VectorStoreError
from ..storage.sql import parse_queries
from .protocol import Hit, Scalar, VectorItem, check_filter, check_items, check_query

_QUERIES = parse_queries(
    resources.files(__package__).joinpath("postgres.sql").read_text("utf-8"))
_LOAD_TYPES = ["int8", "text", "text", "jsonb", "float4[]", "float8"]


class PostgresVectorStore:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        self._allow_pgvector = options.pop("pgvector", "auto").lower() not in ("off", "0", "no")
        self.url = urlunsplit(parts._replace(query=urlencode(options)))
        try:
            from ..storage.postgres import _split_url
        except ImportError as exc:
            raise VectorStoreError("a Postgres vector store needs psycopg: "
                                   "pip install 'taskloom[postgres]'") from exc
        # ?schema=NAME works as for taskloom's Postgres store.
        self._conninfo, self.schema = _split_url(self.url)
        self._connection: Any = None
        self._lock = asyncio.Lock()  # one connection: one statement at a time
        #: "pgvector" or "plain", known once connected.
        self.kind: str | None = None

    async def _connect(self) -> Any:
        if self._connection is not None:
            return self._connection
        import psycopg
        import psycopg.sql

        try:
            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            if self.schema:
                await connection.execute(psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}")
                                         .format(psycopg.sql.Identifier(self.schema)))
            self.kind = await self._choose_kind(connection) if self._allow_pgvector else "plain"
            await connection.execute(_QUERIES[f"create_{self.kind}"])
        except psycopg.Error as exc:
            raise VectorStoreError(f"cannot open the Postgres vector store: {exc}") from exc
        self._connection = connection
        return connection

    async def _choose_kind(self, connection: Any) -> str:
        import psycopg

        installed, available = await (await connection.execute(
            _QUERIES["has_pgvector"])).fetchone()
        if not installed and available:
            try:
                await connection.execute(_QUERIES["create_pgvector_extension"])
                installed = True
            except psycopg.Error:  # no privilege to create it: the plain path still works
                installed = False
        return "pgvector" if installed else "plain"

    async def _call(self, work: Any) -> Any:
        import psycopg

        async with self._lock:
            connection = await self._connect()
            try:
                return await work(connection)
            except psycopg.Error as exc:
                raise VectorStoreError(f"the Postgres vector store failed: {exc}") from exc

    async def _dimension(self, connection: Any, collection: str) -> int | None:
        row = await (await connection.execute(_QUERIES[f"dimension_{self.kind}"],
                                              (collection,))).fetchone()
        return row[0] if row else None

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> int:
        items = list(items)

        async def work(connection: Any) -> int:
            async with connection.transaction():
                check_items(items, await self._dimension(connection, collection))
                from psycopg.types.json import Jsonb

                await connection.execute(_QUERIES["create_load"])
                # Binary COPY: formatting floats as text is most of the cost otherwise.
                async with connection.cursor() as cursor, \
                        cursor.copy(_QUERIES["copy_load"]) as copy:
                    copy.set_types(_LOAD_TYPES)
                    for ord, item in enumerate(items):
                        vector = [float(x) for x in item.vector]
                        await copy.write_row((ord, item.id, item.text,
                                              Jsonb(item.metadata), vector,
                                              math.sqrt(sum(x * x for x in vector))))
                await connection.execute(_QUERIES[f"upsert_{self.kind}"], (collection,))
            return len(items)
        return await self._call(work)

    async def search(self, collection: str, vector: Sequence[float], k: int = 10,
                     filter: dict[str, Scalar] | None = None) -> list[Hit]:
        wanted = check_filter(filter)
        query = [float(x) for x in vector]

        async def work(connection: Any) -> list[Hit]:
            check_query(query, await self._dimension(connection, collection), k)
            cursor = await connection.execute(_QUERIES[f"search_{self.kind}"], {
                "collection": collection, "query": query, "k": k,
                "query_norm": math.sqrt(sum(x * x for x in query)),
                "filter": json.dumps(wanted)})
            return [Hit(id, float(score), text, metadata)
                    for id, text, metadata, score in await cursor.fetchall()]
        return await self._call(work)

    async def delete(self, collection: str, ids: Sequence[str]) -> int:
        async def work(connection: Any) -> int:
            cursor = await connection.execute(_QUERIES[f"delete_{self.kind}"],
                                              (collection, list(ids)))
            return cursor.rowcount
        return await self._call(work)

    async def count(self, collection: str) -> int:
        async def work(connection: Any) -> int:
            cursor = await connection.execute(_QUERIES[f"count_{self.kind}"], (collection,))
            return (await cursor.fetchone())[0]
        return await self._call(work)

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None
