"""Storage: one small key-value protocol, one module per backend, and the
repositories built on it. A storage URL picks the backend for everything:

    memory://                      dicts in this process (not durable)
    file:///path/to/folder         a folder of JSON files
    sqlite:///path/to/file.db      a SQLite file (``sqlite:relative.db`` is relative)
    postgresql://user@host/db      Postgres (``?schema=name`` to keep to one schema)
    indexeddb://name               the browser's IndexedDB (Pyodide only)

    async with open_store("sqlite:///home/me/taskloom.db") as store:
        await store.graphs.save("demo", graph)
        result = await TaskGraphRunner(graph, store=store).run()  # cached, resumable
        for run in await store.runs.list():
            print(run.run_id, run.status)

``store.graphs`` (TaskGraphRepository), ``store.outputs`` (the runner's
TaskOutputRepository) and ``store.runs`` (RunRepository) are written once,
on the small KeyValueStore protocol in ``protocol.py`` that each backend
module implements.

Backends are imported only when their URL is opened, so ``import taskloom``
never needs sqlite3, psycopg or a browser.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import StoreURLError
from .graphs import GraphChange, TaskGraphRepository
from .outputs import OutputRepository
from .protocol import Entry, KeyValueStore
from .runs import RunRecord, RunRepository, RunSummary, TaskRecord
from .store import Store

__all__ = [
    "Entry",
    "GraphChange",
    "KeyValueStore",
    "OutputRepository",
    "RunRecord",
    "RunRepository",
    "RunSummary",
    "Store",
    "TaskGraphRepository",
    "TaskRecord",
    "local_path",
    "open_store",
    "sqlite_url",
]

_SCHEMES = "memory://, file:///path, sqlite:///path.db, postgresql://…"


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """The Store for ``url``. Connects lazily; ``async with`` to connect up front.

    ``clock`` (epoch seconds) dates records for ``clear_older_than``; tests
    pass a fake one.
    """
    if not isinstance(url, str) or ("://" not in url and not url.startswith("sqlite:")):
        raise StoreURLError(f"not a storage URL: {url!r}; use one of {_SCHEMES}")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from .memory import MemoryStore

        return Store(url, MemoryStore(clock=clock), clock=clock)
    if scheme == "file":
        from .filesystem import FileStore

        return Store(url, FileStore(local_path(url), clock=clock), clock=clock)
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        return Store(url, SqliteStore(local_path(url), clock=clock), clock=clock)
    if scheme in ("postgresql", "postgres"):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise StoreURLError(
                f"a Postgres store needs psycopg: pip install 'taskloom[postgres]' ({exc})"
            ) from exc
        return Store(url, PostgresStore(url, clock=clock), clock=clock)
    if scheme == "indexeddb":
        if sys.platform != "emscripten":
            raise StoreURLError("indexeddb:// stores exist only in the browser (Pyodide)")
        from ..browser.indexeddb import IndexedDBStore, database_name

        return Store(url, IndexedDBStore(database_name(url), clock=clock), clock=clock)
    raise StoreURLError(f"unknown storage URL scheme {scheme!r} in {url!r}; use one of {_SCHEMES}")


def sqlite_url(path: str | Path) -> str:
    """The storage URL of a SQLite file at ``path``."""
    from urllib.parse import quote

    return "sqlite:///" + quote(str(Path(path).resolve()).lstrip("/"))


def local_path(url: str) -> Path:
    """The path in ``file:///abs``, ``sqlite:///abs``, ``sqlite:////abs`` or ``sqlite:rel``."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise StoreURLError(
            f"{url!r} names a host ({parts.netloc!r}); local stores take a path: "
            f"{parts.scheme}:///absolute/path"
        )
    path = unquote(parts.path)
    if not path:
        raise StoreURLError(f"{url!r} has no path; e.g. {parts.scheme}:///absolute/path")
    if path.startswith("//"):  # sqlite:////abs/path, as SQLAlchemy spells it
        path = path[1:]
    return Path(path)
