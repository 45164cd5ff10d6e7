"""What every vector store does, and the checks they share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import VectorStoreError

#: Metadata filters compare one key with one JSON scalar.
Scalar = str | int | float | bool


@dataclass(frozen=True)
class VectorItem:
    id: str
    vector: Sequence[float]
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # cosine similarity, in [-1, 1]
    text: str
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "text": self.text,
                "metadata": self.metadata}


class VectorStore(Protocol):
    """Collections of items; an item's id is unique in its collection (upsert replaces)."""

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> int:
        """Insert or replace ``items``, all or none; returns how many."""
        ...

    async def search(self, collection: str, vector: Sequence[float], k: int = 10,
                     filter: dict[str, Scalar] | None = None) -> list[Hit]:
        """The ``k`` items most cosine-similar to ``vector`` whose metadata match ``filter``
        (every key equal), best first. An unknown collection has no hits."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> int: ...

    async def count(self, collection: str) -> int: ...

    async def close(self) -> None: ...


def check_items(items: Sequence[VectorItem], dimension: int | None) -> int | None:
    """The items' common dimension; VectorStoreError if they disagree with each other or
    with ``dimension`` (the collection's, None when it is empty)."""
    for item in items:
        if not isinstance(item.id, str) or not item.id:
            raise VectorStoreError(f"a vector item needs a non-empty string id, not {item.id!r}")
        n = len(item.vector)
        if n == 0:
            raise VectorStoreError(f"item {item.id!r} has an empty vector")
        if dimension is None:
            dimension = n
        elif n != dimension:
            raise VectorStoreError(
                f"item {item.id!r} has {n} dimensions but the collection holds {dimension}: "
                "embed every text with the same model, or use another collection")
        if not all(math.isfinite(x) for x in item.vector):
            raise VectorStoreError(f"item {item.id!r} has a NaN or infinite component")
    return dimension


def check_query(vector: Sequence[float], dimension: int | None, k: int) -> None:
    if k < 1:
        raise VectorStoreError(f"k must be at least 1, not {k}")
    if dimension is not None and len(vector) != dimension:
        raise VectorStoreError(
            f"the query vector has {len(vector)} dimensions but the collection holds "
            f"{dimension}: embed the query with the model that embedded the collection")


def check_filter(filter: dict[str, Any] | None) -> dict[str, Scalar]:
    if not filter:
        return {}
    for key, value in filter.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise VectorStoreError(
                f"filter {key!r}: a metadata filter compares a key with a string, number "
                "or boolean")
    return dict(filter)


def matches(metadata: dict[str, Any], filter: dict[str, Scalar]) -> bool:
    return all(key in metadata and _same(metadata[key], value) for key, value in filter.items())


def _same(a: Any, b: Any) -> bool:
    # JSON keeps true and 1 apart; Python's == does not.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) \
        else a == b
