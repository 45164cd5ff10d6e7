"""``memory://name``: vectors in this process, shared by every store opened on the same URL.

Vectors are kept as float32 arrays (a tenth of the memory of float lists), and
each collection keeps its search matrix until the next change.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from .protocol import Hit, Scalar, VectorItem, check_filter, check_items, check_query, matches
from .scoring import as_matrix, select_rows, top_k

_shared: dict[str, MemoryVectorStore] = {}


def shared_memory_store(url: str) -> MemoryVectorStore:
    """One store per URL, so a VectorUpsert and a later VectorSearch see the same items."""
    store = _shared.get(url)
    if store is None:
        store = _shared[url] = MemoryVectorStore()
    return store


class _Collection:
    __slots__ = ("items", "matrix")

    def __init__(self) -> None:
        self.items: dict[str, VectorItem] = {}
        self.matrix: tuple[list[str], Any] | None = None  # (ids, rows), None when stale

    @property
    def dimension(self) -> int | None:
        return len(next(iter(self.items.values())).vector) if self.items else None


class MemoryVectorStore:
    def __init__(self) -> None:
        self._collections: dict[str, _Collection] = {}

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> int:
        target = self._collections.get(collection) or _Collection()
        check_items(items, target.dimension)
        self._collections[collection] = target
        for item in items:  # checked first, so this cannot stop half-way
            target.items[item.id] = VectorItem(item.id, array("f", item.vector), item.text,
                                               dict(item.metadata))
        target.matrix = None
        return len(items)

    async def search(self, collection: str, vector: Sequence[float], k: int = 10,
                     filter: dict[str, Scalar] | None = None) -> list[Hit]:
        target = self._collections.get(collection) or _Collection()
        check_query(vector, target.dimension, k)
        wanted = check_filter(filter)
        if not target.items:
            return []
        if target.matrix is None:
            ids = list(target.items)
            target.matrix = (ids, as_matrix([target.items[i].vector for i in ids]))
        ids, rows = target.matrix
        if wanted:
            chosen = [n for n, i in enumerate(ids) if matches(target.items[i].metadata, wanted)]
            ids, rows = [ids[n] for n in chosen], select_rows(rows, chosen)
        hits = []
        for index, score in top_k(vector, rows, k):
            item = target.items[ids[index]]
            hits.append(Hit(item.id, score, item.text, dict(item.metadata)))
        return hits

    async def delete(self, collection: str, ids: Sequence[str]) -> int:
        target = self._collections.get(collection)
        if target is None:
            return 0
        target.matrix = None
        return sum(target.items.pop(i, None) is not None for i in ids)

    async def count(self, collection: str) -> int:
        target = self._collections.get(collection)
        return len(target.items) if target else 0

    async def close(self) -> None:
        """Nothing to release; the items stay for the next store on this URL."""
