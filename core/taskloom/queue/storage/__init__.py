"""Queue storage backends, one module per technology, chosen by URL.

    memory://                         this process only (tests, the browser until IndexedDB)
    sqlite:///path/to/queue.db        one machine, many processes
    postgresql://user@host/db         many machines; ``?schema=NAME`` picks a schema
    indexeddb://name                  the browser's IndexedDB (Pyodide only)

Each backend implements both QueueStorage and RateLimitStorage (see base.py).
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .base import QueueStorage, RateLimitStorage
from .memory import MemoryQueueStorage

__all__ = ["MemoryQueueStorage", "QueueStorage", "RateLimitStorage", "open_queue_storage"]


def create_queue_storage(url: str, **options: Any) -> Any:
    """The backend named by ``url``, not yet set up (no I/O happens here)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryQueueStorage()
    if scheme == "sqlite":
        from ...storage import local_path
        from .sqlite import SQLiteQueueStorage

        # One spelling for every store: sqlite:///abs/path.db, sqlite:rel.db.
        return SQLiteQueueStorage(str(local_path(url)), **options)
    if scheme in ("postgres", "postgresql"):
        from .postgres import PostgresQueueStorage

        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        schema = next((v for k, v in query if k == "schema"), None)
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment))
        return PostgresQueueStorage(conninfo, schema=schema, **options)
    if scheme == "indexeddb":
        if sys.platform != "emscripten":
            raise ValueError(f"{url!r}: IndexedDB queue storage exists only in the browser "
                             "(Pyodide); use sqlite:///path.db here")
        from ...browser.indexeddb import database_name
        from ...browser.indexeddb_queue import IndexedDBQueueStorage

        return IndexedDBQueueStorage(database_name(url), **options)
    raise ValueError(
        f"unknown queue storage URL {url!r}: use memory://, sqlite:///path.db "
        "or postgresql://user@host/db")


async def open_queue_storage(url: str, **options: Any) -> Any:
    """Open the backend named by ``url`` and create its tables if missing."""
    storage = create_queue_storage(url, **options)
    await storage.setup()
    return storage
