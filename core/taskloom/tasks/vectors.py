"""Vector tasks: VectorUpsert (also named SaveToDatabase, as the design says) and VectorSearch.

    VectorUpsert  texts, vectors (+ metadata, ids, store, collection)  → ids, count, store,
                                                                         collection
    VectorSearch  vector (+ k, filter, store, collection)              → hits, text, score

``store`` is a vector-store URL (``taskloom.vectors``): ``memory://name``,
``sqlite:relative.db`` or ``file:///folder`` (under the run's file root),
``postgresql://…``, or ``indexeddb://name`` in the page. VectorUpsert passes
``store`` and ``collection`` on, so connecting them into VectorSearch also
orders the search after the upsert.
An item's id defaults to a hash of its text and metadata: upserting the
same text again replaces it instead of adding a copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from ..errors import TaskInputError
from ..ports import Format
from ..storage.schemes import scheme_of
from ..task import Task, TaskContext
from ..vectors import VectorItem, VectorStore, open_vector_store
from .file_root import file_root, inside_root, written


def _flatten(value: Any, is_leaf: Callable[[Any], bool]) -> Any:
    """A list of leaves, from one leaf or lists of them (what expanded upstream tasks send)."""
    if not isinstance(value, list):
        return value
    if is_leaf(value):
        return [value]
    out: list[Any] = []
    stack = list(reversed(value))
    while stack:
        item = stack.pop()
        if isinstance(item, list) and not is_leaf(item):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def _is_vector(value: Any) -> bool:
    return bool(value) and all(isinstance(x, int | float) and not isinstance(x, bool)
                               for x in value)


def _never(value: Any) -> bool:
    return False


Vector = Annotated[list[float], Format("vector")]
Vectors = Annotated[list[list[float]],
                    BeforeValidator(lambda v: _flatten(v, _is_vector)), Format("vector")]
Texts = Annotated[list[str], BeforeValidator(lambda v: _flatten(v, _never))]
Metadata = Annotated[list[dict[str, Any]], BeforeValidator(lambda v: _flatten(v, _never))]
StoreURL = Annotated[str, Format("vector-store")]


class VectorUpsert(Task):
    """Saves texts with their vectors and metadata in a vector store (replacing equal ids)."""

    category = "vectors"
    cacheable = False

    class Input(BaseModel):
        # Fed by tasks that ran once per item, these arrive as lists of lists: flattened.
        texts: Texts
        vectors: Vectors
        metadata: Metadata | None = None
        ids: Texts | None = None
        store: StoreURL = "memory://default"
        collection: str = "default"

    class Output(BaseModel):
        ids: list[str]
        count: int
        store: StoreURL
        collection: str

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        n = len(input.texts)
        for name in ("vectors", "metadata", "ids"):
            value = getattr(input, name)
            if value is not None and len(value) != n:
                raise TaskInputError(f"{name} has {len(value)} items but texts has {n}: "
                                     "give one per text")
        metadata = input.metadata or [{} for _ in input.texts]
        ids = input.ids or [item_id(t, m) for t, m in zip(input.texts, metadata, strict=True)]
        items = [VectorItem(i, v, t, m) for i, v, t, m in
                 zip(ids, input.vectors, input.texts, metadata, strict=True)]
        store = open_task_store(input.store, ctx)
        try:
            count = await store.upsert(input.collection, items)
        finally:
            await store.close()
        local = _under_root(input.store, ctx)
        if local is not None:  # in the page: the file (or folder) on OPFS now
            await written(local)
        return {"ids": ids, "count": count, "store": input.store,
                "collection": input.collection}


class SaveToDatabase(VectorUpsert):
    """VectorUpsert under the design's name: saves texts with their vectors."""


class VectorSearch(Task):
    """The stored texts nearest a vector by cosine similarity, with filters on metadata."""

    category = "vectors"
    cacheable = False

    class Input(BaseModel):
        vector: Vector
        k: int = Field(10, ge=1)
        filter: dict[str, str | int | float | bool] = Field(default_factory=dict)
        store: StoreURL = "memory://default"
        collection: str = "default"

    class Output(BaseModel):
        hits: list[dict[str, Any]]
        text: list[str]
        score: list[float]

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        store = open_task_store(input.store, ctx)
        try:
            hits = await store.search(input.collection, input.vector, input.k, input.filter)
        finally:
            await store.close()
        return {"hits": [h.to_dict() for h in hits], "text": [h.text for h in hits],
                "score": [h.score for h in hits]}


def item_id(text: str, metadata: dict[str, Any]) -> str:
    payload = json.dumps([text, metadata], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def _under_root(url: str, ctx: TaskContext) -> Path | None:
    """Where a ``sqlite:`` or ``file:`` store lies under the run's file root (None for others)."""
    if scheme_of(url) not in ("sqlite", "file"):
        return None
    from ..storage import local_path

    return inside_root(file_root(ctx.services), str(local_path(url)))


def open_task_store(url: str, ctx: TaskContext) -> VectorStore:
    """The store at ``url``; a SQLite file or a folder must lie under the run's file root."""
    real = _under_root(url, ctx)
    if real is not None:
        from ..storage import sqlite_url

        url = sqlite_url(real) if scheme_of(url) == "sqlite" else real.as_uri()
    elif "://" not in url:
        raise TaskInputError(f"not a vector store URL: {url!r}; use memory://name, "
                             "sqlite:///path.db or postgresql://…")
    return open_vector_store(url)
