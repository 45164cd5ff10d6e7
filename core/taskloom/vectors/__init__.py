"""Vector stores: texts with their vectors and metadata, searched by cosine similarity.

One small protocol (``protocol.py``) and one module per backend, picked by URL:

    memory://name                  in this process; tasks naming the same URL share it
    file:///path/to/folder         JSON records in a folder (``keyvalue.py``)
    sqlite:///path/to/file.db      a SQLite file (vectors as float32 blobs)
    postgresql://user@host/db      Postgres: real[] with the cosine in SQL, or pgvector
                                   when the server has it (``?pgvector=off`` to keep real[])
    indexeddb://name               the browser's IndexedDB (``keyvalue.py`` on the page's
                                   key-value store; ``taskloom.browser`` registers it)

    store = open_vector_store("sqlite:///tmp/v.db")
    await store.upsert("docs", [VectorItem("a", [0.1, 0.9], "some text", {"lang": "en"})])
    hits = await store.search("docs", [0.2, 0.8], k=5, filter={"lang": "en"})
    await store.close()

Backends are imported when their URL is opened.
"""

from __future__ import annotations

from typing import Any

from ..storage.schemes import SchemeRegistry
from .protocol import Hit, VectorItem, VectorStore

__all__ = ["Hit", "VectorItem", "VectorStore", "open_vector_store", "vector_schemes"]

vector_schemes: SchemeRegistry[Any] = SchemeRegistry("vector store")
vector_schemes.reserve(
    "indexeddb", "indexeddb:// vector stores exist only in the browser (Pyodide)")


def open_vector_store(url: str) -> VectorStore:
    """The VectorStore for ``url``; it connects on first use. ``await store.close()`` after."""
    return vector_schemes.factory(url)(url)


def _memory(url: str) -> VectorStore:
    from .memory import shared_memory_store

    return shared_memory_store(url)


def _file(url: str) -> VectorStore:
    from ..storage import local_path
    from ..storage.filesystem import FileStore
    from .keyvalue import KeyValueVectorStore

    return KeyValueVectorStore(FileStore(local_path(url)))


def _sqlite(url: str) -> VectorStore:
    from ..storage import local_path
    from .sqlite import SqliteVectorStore

    return SqliteVectorStore(local_path(url))


def _postgres(url: str) -> VectorStore:
    from .postgres import PostgresVectorStore

    return PostgresVectorStore(url)


vector_schemes.register(_memory, "memory", example="memory://name")
vector_schemes.register(_file, "file", example="file:///folder")
vector_schemes.register(_sqlite, "sqlite", example="sqlite:///path.db")
vector_schemes.register(_postgres, "postgresql", "postgres", example="postgresql://…")
