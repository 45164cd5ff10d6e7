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

URL schemes are a registry (``store_schemes``, see ``schemes.py``). Backends
are imported only when their URL is opened, so ``import taskloom`` never needs
sqlite3, psycopg or a browser; ``taskloom.browser`` registers ``indexeddb://``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import StoreURLError
from .graphs import GraphChange, TaskGraphRepository
from .outputs import OutputRepository
from .protocol import Entry, KeyValueStore
from .runs import RunRecord, RunRepository, RunSummary, TaskRecord
from .schemes import SchemeRegistry
from .store import Store

__all__ = [
    "Entry",
    "GraphChange",
    "KeyValueStore",
    "OutputRepository",
    "RunRecord",
    "RunRepository",
    "RunSummary",
    "SchemeRegistry",
    "Store",
    "TaskGraphRepository",
    "TaskRecord",
    "local_path",
    "open_store",
    "sqlite_url",
    "store_schemes",
]

#: Store URL schemes. Each built-in factory imports its backend module when it
#: first runs; ``taskloom.browser`` registers ``indexeddb://`` when imported.
store_schemes: SchemeRegistry[Callable[..., Store]] = SchemeRegistry("storage")
store_schemes.reserve(
    "indexeddb", "indexeddb:// stores exist only in the browser (Pyodide), "
    "where `import taskloom.browser` provides them")


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """The Store for ``url``. Connects lazily; ``async with`` to connect up front.

    ``clock`` (epoch seconds) dates records for ``clear_older_than``; tests
    pass a fake one.
    """
    if not isinstance(url, str) or ("://" not in url and not url.startswith("sqlite:")):
        raise StoreURLError(
            f"not a storage URL: {url!r}; use one of {store_schemes.examples()}")
    return store_schemes.factory(url)(url, clock=clock)


def _memory(url: str, *, clock: Callable[[], float]) -> Store:
    from .memory import MemoryStore

    return Store(url, MemoryStore(clock=clock), clock=clock)


def _file(url: str, *, clock: Callable[[], float]) -> Store:
    from .filesystem import FileStore

    return Store(url, FileStore(local_path(url), clock=clock), clock=clock)


def _sqlite(url: str, *, clock: Callable[[], float]) -> Store:
    from .sqlite import SqliteStore

    return Store(url, SqliteStore(local_path(url), clock=clock), clock=clock)


def _postgres(url: str, *, clock: Callable[[], float]) -> Store:
    try:
        from .postgres import PostgresStore
    except ImportError as exc:
        raise StoreURLError(
            f"a Postgres store needs psycopg: pip install 'taskloom[postgres]' ({exc})"
        ) from exc
    return Store(url, PostgresStore(url, clock=clock), clock=clock)


store_schemes.register(_memory, "memory", example="memory://")
store_schemes.register(_file, "file", example="file:///path")
store_schemes.register(_sqlite, "sqlite", example="sqlite:///path.db")
store_schemes.register(_postgres, "postgresql", "postgres", example="postgresql://…")


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
