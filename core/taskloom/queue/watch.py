"""Waking a job's waiters when the job changes, instead of having them poll.

Every queue storage mixes in ``JobWatchers`` and announces the ids of the jobs
each of its writes changed (``_announce``), or that anything may have changed
when it cannot tell which (``_announce_all``: a notification channel that
dropped). ``JobQueue.wait`` watches the job it waits for and looks at it again
at each announcement.

What a storage cannot announce — another process's writes to a SQLite file,
another tab's to IndexedDB — a waiter finds by looking again every
``change_poll`` seconds; a storage that announces every change has None there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class JobWatchers:
    """The waiters of this process, by job id, and how a storage wakes them."""

    #: Seconds after which a waiter looks again without being told (changes this
    #: storage cannot announce); None when every change is announced.
    change_poll: float | None = None

    @property
    def _job_watchers(self) -> dict[str, set[asyncio.Event]]:
        # Created on first use: the storages that mix this in have their own __init__.
        return self.__dict__.setdefault("_job_watchers_by_id", {})

    async def listening(self) -> None:
        """Return once this storage's announcements flow. At once here; a storage that
        learns of changes over a connection (Postgres' LISTEN) returns once it listens."""

    @contextlib.asynccontextmanager
    async def watching(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set at each change of the job while the block runs. Clear it before
        reading the job, so that a change made after the read is never missed."""
        await self.listening()
        event = asyncio.Event()
        watchers = self._job_watchers.setdefault(job_id, set())
        watchers.add(event)
        try:
            yield event
        finally:
            watchers.discard(event)
            if not watchers:
                self._job_watchers.pop(job_id, None)

    def _announce(self, *job_ids: str) -> None:
        watchers = self._job_watchers
        for job_id in job_ids:
            for event in watchers.get(job_id, ()):
                event.set()

    def _announce_all(self) -> None:
        for events in self._job_watchers.values():
            for event in events:
                event.set()
