"""The page's queue storage: IndexedDB jobs whose leases are judged by Web Locks.

A lease measured in seconds asks the worker to renew it on time. In the
page that worker shares one event loop with everything else in the engine,
and a local model call holds that loop for seconds at a time, so renewals
came late: the reaper expired jobs that were running fine, their finished
work was refused as stale, and each expiry used up one of the job's
attempts. A reload did the same to every job in flight, so a resumed AI
run could fail with "no attempts left" through no fault of its jobs.

Here a worker first takes a Web Lock named after its worker id
(``web_locks.WORKER_LOCK``), which the browser holds for as long as that
worker's tab lives. Reaping then asks the browser, not the clock:

- a job whose worker's lock is held is alive, however late its heartbeat;
- a job whose worker's lock is free lost its tab (reload, closed tab, the
  engine restarted after an abort): it goes back to pending at once and its
  attempts are not touched — that is not the job's fault. The delivery cap
  still stops a job that keeps killing its tab.

Browser only (through ``indexeddb_queue`` and ``web_locks``).
"""

from __future__ import annotations

import time
from typing import Any

from ..queue.job import Job, JobStatus
from ..queue.storage.memory import DELIVERY_CAP, MemoryQueueStorage
from . import web_locks
from .indexeddb_queue import IndexedDBQueueStorage, _with_status

_WORKING = (JobStatus.PROCESSING, JobStatus.ABORTING)
#: Why a job went back to pending when its tab went away.
TAB_GONE = "its tab was reloaded or closed while the job ran; it runs again"


class PageQueueStorage(IndexedDBQueueStorage):
    """IndexedDBQueueStorage whose workers' liveness is a Web Lock each."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._locks: dict[str, Any] = {}

    async def _hold_worker_lock(self, worker_id: str) -> None:
        if worker_id not in self._locks:
            self._locks[worker_id] = await web_locks.hold(web_locks.WORKER_LOCK + worker_id)

    async def claim(self, queue: str, worker_id: str, lease: float, limit: int = 1) -> list[Job]:
        # Held before the first claim, so no job is ever owned by a lockless worker.
        await self._hold_worker_lock(worker_id)
        return await super().claim(queue, worker_id, lease, limit)

    async def complete_and_claim(self, items: list[tuple[str, int, dict[str, Any]]],
                                 queue: str, worker_id: str, lease: float,
                                 limit: int) -> tuple[set[str], list[Job]]:
        await self._hold_worker_lock(worker_id)  # as for claim: no lockless owner
        return await super().complete_and_claim(items, queue, worker_id, lease, limit)

    async def reap_expired(self, queue: str) -> int:
        # A worker takes its lock before it claims, so a job claimed before this
        # instant has its worker in the snapshot if that worker lives; a job
        # claimed after it is left for the next reap.
        asked_at = time.time()
        live = {name.removeprefix(web_locks.WORKER_LOCK)
                for name in await web_locks.held_names(web_locks.WORKER_LOCK)}

        async def reap(memory: MemoryQueueStorage) -> int:
            spared = {job_id: job for job_id, job in memory._jobs.items()
                      if job.status in _WORKING and job.worker_id in live}
            for job_id in spared:  # alive, however late its heartbeat
                del memory._jobs[job_id]
            released, now = 0, time.time()
            for job in memory._jobs.values():
                if job.queue != queue or job.status not in _WORKING \
                        or job.updated_at >= asked_at:
                    continue
                released += 1
                if job.status is JobStatus.ABORTING:
                    memory._finish(job, JobStatus.ABORTED, "aborted; its tab went away")
                elif job.deliveries >= job.max_deliveries:
                    memory._finish(job, JobStatus.FAILED,
                                   f"{DELIVERY_CAP} ({job.deliveries} deliveries)")
                else:
                    job.worker_id, job.run_after = None, now
                    memory._finish(job, JobStatus.PENDING, TAB_GONE)
            if released:
                memory._wake(queue)
            # Deadlines of pending jobs: the memory backend's own rule.
            changed = await memory.reap_expired(queue)
            memory._jobs.update(spared)
            return released + changed

        # A step announces the jobs it wrote: their waiters look again at once.
        scope = _with_status(queue, JobStatus.PROCESSING, JobStatus.ABORTING, JobStatus.PENDING)
        return await self._jobs_step(scope, reap)
