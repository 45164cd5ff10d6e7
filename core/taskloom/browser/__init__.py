"""Browser-only code (Pyodide). Nothing here is imported by `import taskloom`.

Importing this package in Pyodide registers ``indexeddb://`` for stores and
queue storages: the layers below never import the browser, the browser plugs
in. The backend modules (which need Pyodide's ``js``) load on the first open.
Under CPython (the page's engine is tested there too) nothing is registered, so
``indexeddb://`` keeps its "only in the browser" error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .. import optional
from ..queue.storage import queue_schemes
from ..storage import Store, store_schemes
from ..vectors import vector_schemes


def _indexeddb_store(url: str, *, clock: Callable[[], float]) -> Store:
    from .indexeddb import IndexedDBStore, database_name

    return Store(url, IndexedDBStore(database_name(url), clock=clock), clock=clock)


def _indexeddb_queue_storage(url: str, **options: Any) -> Any:
    from .indexeddb import database_name
    from .indexeddb_queue import IndexedDBQueueStorage

    return IndexedDBQueueStorage(database_name(url), **options)


def _indexeddb_vector_store(url: str) -> Any:
    from ..vectors.keyvalue import KeyValueVectorStore
    from .indexeddb import IndexedDBStore, database_name

    return KeyValueVectorStore(IndexedDBStore(database_name(url)))


async def _load_wheel(distribution: str) -> None:
    from .cloud import load_packages

    await load_packages((distribution,))


if sys.platform == "emscripten":
    optional.use_loader(_load_wheel)
    store_schemes.register(_indexeddb_store, "indexeddb", example="indexeddb://name")
    queue_schemes.register(_indexeddb_queue_storage, "indexeddb", example="indexeddb://name")
    vector_schemes.register(_indexeddb_vector_store, "indexeddb", example="indexeddb://name")
