"""Vectors on any KeyValueStore: ``file:///folder`` here, ``indexeddb://name`` in the page.

Items are JSON records in one key-value collection, ``vectors``, keyed by
``<collection>/<id>`` (the collection percent-encoded, so a prefix scan reads
exactly one); each collection's dimension is a record of ``vector_collections``,
written in the same transaction as the items. A search scans the collection
and scores it in Python (numpy when present), which suits the page's sizes;
the server backends score in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ..errors import VectorStoreError
from ..storage.protocol import KeyValueStore
from .protocol import Hit, Scalar, VectorItem, check_filter, check_items, check_query, matches
from .scoring import as_matrix, top_k

ITEMS = "vectors"
COLLECTIONS = "vector_collections"


def _prefix(collection: str) -> str:
    if not isinstance(collection, str) or not collection:
        raise VectorStoreError(f"a collection name must be a non-empty string, not "
                               f"{collection!r}")
    return quote(collection, safe="") + "/"


class KeyValueVectorStore:
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    async def _dimension(self, collection: str) -> int | None:
        meta = await self.kv.get(COLLECTIONS, quote(collection, safe=""))
        return meta.get("dimension") if isinstance(meta, dict) else None

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> int:
        prefix = _prefix(collection)
        dimension = check_items(items, await self._dimension(collection))
        if not items:
            return 0
        records: list[tuple[str, str, Any]] = [
            (ITEMS, prefix + item.id, {"text": item.text, "metadata": dict(item.metadata),
                                       "vector": [float(x) for x in item.vector]})
            for item in items]
        records.append((COLLECTIONS, quote(collection, safe=""), {"dimension": dimension}))
        # Items and dimension together: all or none where the store has transactions.
        await self.kv.put_records(records)
        return len(items)

    async def search(self, collection: str, vector: Sequence[float], k: int = 10,
                     filter: dict[str, Scalar] | None = None) -> list[Hit]:
        prefix = _prefix(collection)
        check_query(vector, await self._dimension(collection), k)
        wanted = check_filter(filter)
        chosen = []
        for entry in await self.kv.scan(ITEMS, prefix):
            record = entry.value
            if matches(record["metadata"], wanted):
                chosen.append((entry.key[len(prefix):], record))
        if not chosen:
            return []
        rows = as_matrix([record["vector"] for _, record in chosen])
        return [Hit(chosen[i][0], score, chosen[i][1]["text"], chosen[i][1]["metadata"])
                for i, score in top_k(vector, rows, k)]

    async def delete(self, collection: str, ids: Sequence[str]) -> int:
        prefix = _prefix(collection)
        deleted = 0
        for item_id in ids:
            deleted += await self.kv.delete(ITEMS, prefix + item_id)
        return deleted

    async def count(self, collection: str) -> int:
        return len(await self.kv.keys(ITEMS, _prefix(collection)))

    async def close(self) -> None:
        await self.kv.close()
