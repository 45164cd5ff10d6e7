"""Queue storage backends, one module per technology, chosen by URL.

    memory://                         this process only (tests, the browser until IndexedDB)
    sqlite:///path/to/queue.db        one machine, many processes
    postgresql://user@host/db         many machines; ``?schema=NAME`` picks a schema
    indexeddb://name                  the browser's IndexedDB (Pyodide only)

Each backend implements both QueueStorage and RateLimitStorage (see base.py).
The schemes are a registry (``queue_schemes``); ``taskloom.browser`` registers
``indexeddb://`` when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...storage.schemes import SchemeRegistry
from .base import QueueStorage, RateLimitStorage
from .memory import MemoryQueueStorage

__all__ = [
    "MemoryQueueStorage",
    "QueueStorage",
    "RateLimitStorage",
    "create_queue_storage",
    "open_queue_storage",
    "queue_schemes",
]


#: Queue storage URL schemes. Each built-in factory imports its backend module
#: when it first runs; ``taskloom.browser`` registers ``indexeddb://`` when imported.
queue_schemes: SchemeRegistry[Callable[..., Any]] = SchemeRegistry("queue storage")
queue_schemes.reserve(
    "indexeddb", "IndexedDB queue storage exists only in the browser (Pyodide), "
    "where `import taskloom.browser` provides it; use sqlite:///path.db here")


def create_queue_storage(url: str, **options: Any) -> Any:
    """The backend named by ``url``, not yet set up (no I/O happens here)."""
    return queue_schemes.factory(url)(url, **options)


def _memory(url: str, **_options: Any) -> MemoryQueueStorage:
    # Connection options (timeouts, application_name) mean nothing in-process.
    return MemoryQueueStorage()


def _sqlite(url: str, **options: Any) -> Any:
    from ...storage import local_path
    from .sqlite import SQLiteQueueStorage

    # One spelling for every store: sqlite:///abs/path.db, sqlite:rel.db.
    return SQLiteQueueStorage(str(local_path(url)), **options)


def _postgres(url: str, **options: Any) -> Any:
    from .postgres import PostgresQueueStorage

    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment))
    return PostgresQueueStorage(conninfo, schema=schema, **options)


queue_schemes.register(_memory, "memory", example="memory://")
queue_schemes.register(_sqlite, "sqlite", example="sqlite:///path.db")
queue_schemes.register(_postgres, "postgresql", "postgres", example="postgresql://user@host/db")


async def open_queue_storage(url: str, **options: Any) -> Any:
    """Open the backend named by ``url`` and create its tables if missing."""
    storage = create_queue_storage(url, **options)
    await storage.setup()
    return storage
