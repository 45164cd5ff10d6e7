"""Store: one backend and the repositories that sit on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .graphs import TaskGraphRepository
from .models import ModelRepository
from .outputs import OutputRepository
from .protocol import KeyValueStore
from .runs import RunRepository


class Store:
    """Everything persistent, in one backend picked by a storage URL.

    ``graphs``, ``outputs`` (the runner's TaskOutputRepository) and ``runs``
    share ``backend``. The backend connects on first use; ``async with`` or
    ``await store.open()`` connects up front (and surfaces a bad URL early).

    Other subsystems that keep their own tables in the same place read
    ``sqlite_path`` or ``postgres_pool`` (after ``open()``).
    """

    def __init__(
        self, url: str, backend: KeyValueStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.url = url
        self.backend = backend
        self.graphs = TaskGraphRepository(backend)
        self.outputs = OutputRepository(backend, clock=clock)
        self.runs = RunRepository(backend, clock=clock)
        self.models = ModelRepository(backend)

    @property
    def sqlite_path(self) -> Any:
        """The SQLite file, for a SQLite store; else None."""
        return getattr(self.backend, "path", None) if self.url.startswith("sqlite:") else None

    @property
    def postgres_pool(self) -> Any:
        """The psycopg AsyncConnectionPool, for an opened Postgres store; else None."""
        return getattr(self.backend, "pool", None)

    async def open(self) -> Store:
        await self.backend.open()
        return self

    async def close(self) -> None:
        await self.backend.close()

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Store({type(self.backend).__name__}, {_redact(self.url)!r})"


def _redact(url: str) -> str:
    """The URL without a password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
