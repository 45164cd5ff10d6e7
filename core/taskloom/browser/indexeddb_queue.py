"""``indexeddb://name`` queue and rate-limit storage (Pyodide only).

Jobs live in the ``jobs`` object store (keyed by id; indexed by queue, by
queue and status, by queue and fingerprint) and sliding-window state in
``rate_limits``, in the same database as the key-value store
(``indexeddb.py`` creates them all).

Each method is one atomic step, as the protocol asks, even with several
tabs on one database: it is one readwrite transaction that reads the
records the step needs, then — synchronously, inside the read's success
event, where the transaction is still active (``idb.transact``) — runs the
memory backend's logic for that step on those records and writes back what
changed. So the rules (fencing, leases, de-duplication, limits) are written
once, in ``queue/storage/memory.py``, and a rule's change reaches both.
A step reads only the records its rule looks at (a claim reads the queue's
pending jobs, not its history), through the indexes. The jobs a step wrote
are announced to this worker's waiters once its transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from js import Object  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from ..queue.job import ACTIVE_STATUSES, Job, JobFailure, JobStatus
from ..queue.storage.memory import MemoryQueueStorage
from ..queue.watch import JobWatchers
from . import idb
from .indexeddb import JOBS, RATE_LIMITS, open_taskloom_database

#: Which job records a step reads: ("id", job id), ("all", None), or (index, key)
#: on the ``queue``, ``queue_status`` or ``queue_fingerprint`` index.
Scope = list[tuple[str, Any]]


def _js(value: Any) -> Any:
    return to_js(value, dict_converter=Object.fromEntries)


def _run_now(step: Coroutine[Any, Any, Any]) -> Any:
    """Runs a memory-backend coroutine that never suspends, synchronously."""
    try:
        step.send(None)
    except StopIteration as finished:
        return finished.value
    step.close()
    raise RuntimeError("a memory queue step suspended inside an IndexedDB transaction")


def _same_fingerprint(job: Job) -> tuple[str, Any]:
    return ("queue_fingerprint", (job.queue, job.fingerprint))


def _with_status(queue: str, *statuses: JobStatus) -> Scope:
    return [("queue_status", (queue, str(status))) for status in statuses]


def _job_of(record: Any) -> Job:
    return Job(**json.loads(record.json))


class _StepMemory(MemoryQueueStorage):
    """The memory backend as one step runs it: its jobs were parsed from their records
    for this step alone and are dropped after it, so a shallow copy keeps callers apart
    (the nested input and output are never changed in place); a deep copy of a job with
    a long items list costs milliseconds."""

    _copy = staticmethod(copy.copy)


class IndexedDBQueueStorage(JobWatchers):
    """QueueStorage and RateLimitStorage in one IndexedDB database.

    Writes to a job wake this worker's own waiters at once (JobWatchers); a
    change made in another tab is seen when the waiter looks again, after
    ``change_poll`` seconds.
    """

    change_poll = 1.0

    def __init__(self, name: str) -> None:
        self.name = name
        self._database: Any = None
        # Wakes this worker's waiters when it adds work itself; other tabs'
        # work is found when ``wait_for_work``'s timeout runs out.
        self._work: dict[str, asyncio.Event] = {}

    async def setup(self) -> None:
        if self._database is None:
            self._database = await open_taskloom_database(self.name)

    async def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None

    async def now(self) -> float:
        return time.time()

    # -- the one way every step runs -------------------------------------------------

    async def _jobs_step(self, scope: Scope,
                         step: Callable[[MemoryQueueStorage], Coroutine[Any, Any, Any]]) -> Any:
        await self.setup()
        written: list[str] = []

        def reads(stores: dict[str, Any]) -> list[Any]:
            jobs = stores[JOBS]
            requests = []
            for where, key in scope:
                if where == "id":
                    requests.append(jobs.get(key))
                elif where == "all":
                    requests.append(jobs.getAll())
                else:
                    requests.append(jobs.index(where).getAll(_js(key)))
            return requests

        def then(results: list[Any], stores: dict[str, Any]) -> Any:
            found = {}
            for (where, _key), result in zip(scope, results, strict=True):
                for record in ([result] if where == "id" else result):
                    if record is not None:
                        found[record.id] = record
            memory = self._memory_with(_job_of(record) for record in found.values())
            before = {job_id: job.to_dict() for job_id, job in memory._jobs.items()}
            value = _run_now(step(memory))
            for job_id, job in memory._jobs.items():
                record = job.to_dict()
                if before.get(job_id) != record:
                    written.append(job_id)
                    stores[JOBS].put(_js({"id": job_id, "queue": job.queue,
                                          "status": str(job.status),
                                          "fingerprint": job.fingerprint,
                                          "json": json.dumps(record)}))
            for job_id in before.keys() - memory._jobs.keys():
                written.append(job_id)
                stores[JOBS].delete(job_id)
            return value

        value = await idb.transact(self._database, [JOBS], reads, then)
        self._announce(*written)
        return value

    def _memory_with(self, jobs: Iterable[Job]) -> MemoryQueueStorage:
        memory = _StepMemory()
        memory._work = self._work
        # The newest job of a fingerprint is the one de-duplication sees (an
        # active one wins a tie), as in the memory backend's own index.
        ordered = sorted(jobs, key=lambda j: (j.created_at, j.status in ACTIVE_STATUSES))
        for job in ordered:
            memory._jobs[job.id] = job
            memory._by_fingerprint[(job.queue, job.fingerprint)] = job.id
        return memory

    async def _rate_step(self, limiter: str,
                         step: Callable[[MemoryQueueStorage], Coroutine[Any, Any, Any]]) -> Any:
        await self.setup()

        def then(results: list[Any], stores: dict[str, Any]) -> Any:
            memory = MemoryQueueStorage()
            if results[0] is not None:
                state = results[0].to_py()
                memory._rate_events[limiter] = deque(state["events"])
                if state["blocked_until"] is not None:
                    memory._rate_blocks[limiter] = state["blocked_until"]
            value = _run_now(step(memory))
            events = memory._rate_events.get(limiter)
            blocked_until = memory._rate_blocks.get(limiter)
            if events is None and blocked_until is None:
                stores[RATE_LIMITS].delete(limiter)
            else:
                stores[RATE_LIMITS].put(_js({"limiter": limiter, "events": list(events or ()),
                                             "blocked_until": blocked_until}))
            return value

        return await idb.transact(self._database, [RATE_LIMITS],
                                  lambda stores: [stores[RATE_LIMITS].get(limiter)], then)

    # -- producers ---------------------------------------------------------------

    async def add(self, job: Job, *, delay: float = 0.0, timeout: float | None = None) -> Job:
        return await self._jobs_step([_same_fingerprint(job)],
                                     lambda m: m.add(job, delay=delay, timeout=timeout))

    async def add_many(self, jobs: list[Job]) -> list[Job]:
        scope = list(dict.fromkeys(_same_fingerprint(job) for job in jobs))
        return await self._jobs_step(scope, lambda m: m.add_many(jobs))

    async def get(self, job_id: str) -> Job | None:
        # A read alone: a readonly transaction, which need not wait for the writers
        # (every waiter looks at its job after each change it is told of).
        await self.setup()
        record = await idb.read(self._database, JOBS, lambda jobs: jobs.get(job_id))
        return None if record is None else _job_of(record)

    async def abort(self, job_id: str) -> Job:
        return await self._jobs_step([("id", job_id)], lambda m: m.abort(job_id))

    async def abort_run(self, run_id: str, queue: str | None = None) -> int:
        scope: Scope = [("all", None)] if queue is None else [("queue", queue)]
        return await self._jobs_step(scope, lambda m: m.abort_run(run_id, queue))

    async def list(self, queue: str, *, status: JobStatus | None = None,
                   run_id: str | None = None, limit: int = 100) -> list[Job]:
        return await self._jobs_step(
            [("queue", queue)], lambda m: m.list(queue, status=status, run_id=run_id, limit=limit))

    async def stats(self, queue: str) -> dict[str, int]:
        return await self._jobs_step([("queue", queue)], lambda m: m.stats(queue))

    async def clear(self, queue: str) -> int:
        return await self._jobs_step([("queue", queue)], lambda m: m.clear(queue))

    async def output_for(self, queue: str, fingerprint: str) -> dict[str, Any] | None:
        return await self._jobs_step([("queue_fingerprint", (queue, fingerprint))],
                                     lambda m: m.output_for(queue, fingerprint))

    # -- workers -----------------------------------------------------------------

    async def claim(self, queue: str, worker_id: str, lease: float, limit: int = 1) -> list[Job]:
        return await self._jobs_step(_with_status(queue, JobStatus.PENDING),
                                     lambda m: m.claim(queue, worker_id, lease, limit))

    async def heartbeat(self, job_id: str, delivery: int, lease: float) -> JobStatus:
        return await self._jobs_step([("id", job_id)],
                                     lambda m: m.heartbeat(job_id, delivery, lease))

    async def set_progress(self, job_id: str, delivery: int, fraction: float,
                           message: str | None) -> None:
        await self._jobs_step([("id", job_id)],
                              lambda m: m.set_progress(job_id, delivery, fraction, message))

    async def complete(self, job_id: str, delivery: int, output: dict[str, Any]) -> None:
        await self._jobs_step([("id", job_id)], lambda m: m.complete(job_id, delivery, output))

    async def complete_many(self, items: list[tuple[str, int, dict[str, Any]]]) -> set[str]:
        scope = [("id", job_id) for job_id in dict.fromkeys(job_id for job_id, _, _ in items)]
        return await self._jobs_step(scope, lambda m: m.complete_many(items))

    async def complete_and_claim(self, items: list[tuple[str, int, dict[str, Any]]],
                                 queue: str, worker_id: str, lease: float,
                                 limit: int) -> tuple[set[str], list[Job]]:
        # One transaction for both: a busy worker's one write per finished job.
        scope: Scope = [("id", job_id)
                        for job_id in dict.fromkeys(job_id for job_id, _, _ in items)]
        if limit > 0:
            scope += _with_status(queue, JobStatus.PENDING)
        return await self._jobs_step(
            scope, lambda m: m.complete_and_claim(items, queue, worker_id, lease, limit))

    async def fail(self, job_id: str, delivery: int, error: str | JobFailure) -> None:
        await self._jobs_step([("id", job_id)], lambda m: m.fail(job_id, delivery, error))

    async def retry(self, job_id: str, delivery: int, error: str | JobFailure,
                    delay: float) -> None:
        await self._jobs_step([("id", job_id)],
                              lambda m: m.retry(job_id, delivery, error, delay))

    async def release(self, job_id: str, delivery: int) -> None:
        await self._jobs_step([("id", job_id)], lambda m: m.release(job_id, delivery))

    async def mark_aborted(self, job_id: str, delivery: int, reason: str) -> None:
        await self._jobs_step([("id", job_id)],
                              lambda m: m.mark_aborted(job_id, delivery, reason))

    async def reap_expired(self, queue: str) -> int:
        scope = _with_status(queue, JobStatus.PROCESSING, JobStatus.ABORTING, JobStatus.PENDING)
        return await self._jobs_step(scope, lambda m: m.reap_expired(queue))

    async def seconds_until_due(self, queue: str) -> float | None:
        return await self._jobs_step(_with_status(queue, JobStatus.PENDING),
                                     lambda m: m.seconds_until_due(queue))

    async def wait_for_work(self, queue: str, timeout: float) -> None:
        event = self._work.setdefault(queue, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    # -- rate limits ---------------------------------------------------------------

    async def rate_acquire(self, limiter: str, max_requests: int,
                           window: float) -> tuple[float, float]:
        return await self._rate_step(limiter,
                                     lambda m: m.rate_acquire(limiter, max_requests, window))

    async def rate_block(self, limiter: str, seconds: float) -> None:
        await self._rate_step(limiter, lambda m: m.rate_block(limiter, seconds))

    async def rate_clear(self, limiter: str) -> None:
        await self._rate_step(limiter, lambda m: m.rate_clear(limiter))
