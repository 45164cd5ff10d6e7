"""Queue and rate-limit storage in this process's memory: fast, not durable.

Runs anywhere, Pyodide included. Every method does its work without an
``await`` in the middle, so each one is atomic for the event loop, and
announces the jobs it changed to this process's waiters (``JobWatchers``):
every change is announced, so a waiter never polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections import deque
from typing import Any

from ...errors import JobNotFoundError, JobStateError, StaleJobError
from ..job import ACTIVE_STATUSES, Job, JobFailure, JobStatus
from ..watch import JobWatchers
from .base import job_statuses_zeroed

_WORKING = (JobStatus.PROCESSING, JobStatus.ABORTING)


def _copied(value: Any) -> Any:
    """A copy of a job (or of an output) that shares nothing a caller may change.

    A job's input and output are JSON, as every durable backend stores them, so
    they are copied through JSON text: several times faster than ``copy.deepcopy``
    for the long item lists of an items job. Anything else is deep-copied.
    """
    if isinstance(value, Job):
        job = copy.copy(value)
        job.input = _json_copied(job.input)
        if job.output is not None:
            job.output = _json_copied(job.output)
        if job.error_data is not None:
            job.error_data = copy.deepcopy(job.error_data)
        return job
    return _json_copied(value)


def _json_copied(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):  # not JSON (a test's own object): copy it as it is
        return copy.deepcopy(value)


class MemoryQueueStorage(JobWatchers):
    #: Jobs go in and out as copies, so that no caller shares the stored objects.
    _copy = staticmethod(lambda value: _copied(value))

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_fingerprint: dict[tuple[str, str], str] = {}
        self._work: dict[str, asyncio.Event] = {}
        self._rate_events: dict[str, deque[float]] = {}
        self._rate_blocks: dict[str, float] = {}

    async def setup(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def now(self) -> float:
        return time.time()

    # -- producers ---------------------------------------------------------------

    async def add(self, job: Job, *, delay: float = 0.0, timeout: float | None = None) -> Job:
        key = (job.queue, job.fingerprint)
        existing_id = self._by_fingerprint.get(key)
        if existing_id is not None:
            existing = self._jobs[existing_id]
            if existing.status in ACTIVE_STATUSES:
                return self._copy(existing)
        now = time.time()
        stored = self._copy(job)
        stored.status = JobStatus.PENDING
        stored.created_at = stored.updated_at = now
        stored.run_after = now + delay
        stored.deadline = None if timeout is None else now + timeout
        self._jobs[stored.id] = stored
        self._by_fingerprint[key] = stored.id
        self._wake(stored.queue)
        self._announce(stored.id)
        return self._copy(stored)

    async def add_many(self, jobs: list[Job]) -> list[Job]:
        return [await self.add(job) for job in jobs]

    async def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        return None if job is None else self._copy(job)

    async def abort(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        if job.status.is_terminal:
            raise JobStateError(f"job {job_id!r} is already {job.status}; "
                                "there is nothing to abort")
        self._abort(job, time.time())
        self._announce(job_id)
        return self._copy(job)

    def _abort(self, job: Job, now: float) -> None:
        if job.status is JobStatus.PENDING:
            job.status, job.error = JobStatus.ABORTED, "aborted before it started"
            job.error_data = None
        elif job.status is JobStatus.PROCESSING:
            job.status = JobStatus.ABORTING
        job.updated_at = now

    async def abort_run(self, run_id: str, queue: str | None = None) -> int:
        now, count = time.time(), 0
        for job in self._jobs.values():
            if (job.run_id == run_id and (queue is None or job.queue == queue)
                    and job.status in (JobStatus.PENDING, JobStatus.PROCESSING)):
                self._abort(job, now)
                self._announce(job.id)
                count += 1
        return count

    async def list(self, queue: str, *, status: JobStatus | None = None,
                   run_id: str | None = None, limit: int = 100) -> list[Job]:
        jobs = [j for j in self._jobs.values() if j.queue == queue
                and (status is None or j.status == status)
                and (run_id is None or j.run_id == run_id)]
        jobs.sort(key=lambda j: (j.created_at, j.id))
        return [self._copy(j) for j in jobs[:limit]]

    async def stats(self, queue: str) -> dict[str, int]:
        counts = job_statuses_zeroed()
        for job in self._jobs.values():
            if job.queue == queue:
                counts[str(job.status)] += 1
        return counts

    async def clear(self, queue: str) -> int:
        doomed = [j for j in self._jobs.values() if j.queue == queue]
        for job in doomed:
            del self._jobs[job.id]
            if self._by_fingerprint.get((job.queue, job.fingerprint)) == job.id:
                del self._by_fingerprint[(job.queue, job.fingerprint)]
        self._announce(*(job.id for job in doomed))
        return len(doomed)

    async def output_for(self, queue: str, fingerprint: str) -> dict[str, Any] | None:
        job_id = self._by_fingerprint.get((queue, fingerprint))
        job = None if job_id is None else self._jobs[job_id]
        if job is None or job.status is not JobStatus.COMPLETED:
            return None
        return self._copy(job.output)

    # -- workers -----------------------------------------------------------------

    async def claim(self, queue: str, worker_id: str, lease: float, limit: int = 1) -> list[Job]:
        now = time.time()
        due = [j for j in self._jobs.values()
               if j.queue == queue and j.status is JobStatus.PENDING and j.run_after <= now]
        due.sort(key=lambda j: j.run_after)
        claimed = []
        for job in due[:limit]:
            job.status = JobStatus.PROCESSING
            job.deliveries += 1
            job.worker_id = worker_id
            job.lease_expires_at = now + lease
            job.updated_at = now
            claimed.append(self._copy(job))
        self._announce(*(job.id for job in claimed))
        return claimed

    def _fenced(self, job_id: str, delivery: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.deliveries != delivery or job.status not in _WORKING:
            raise StaleJobError(
                f"job {job_id!r}: delivery {delivery} is no longer current "
                "(its lease expired and the job was settled or claimed again)")
        return job

    async def heartbeat(self, job_id: str, delivery: int, lease: float) -> JobStatus:
        job = self._fenced(job_id, delivery)
        job.lease_expires_at = time.time() + lease
        return job.status

    async def set_progress(self, job_id: str, delivery: int, fraction: float,
                           message: str | None) -> None:
        job = self._fenced(job_id, delivery)
        job.progress, job.progress_message = fraction, message
        self._announce(job_id)

    def _finish(self, job: Job, status: JobStatus, error: str | JobFailure | None = None) -> None:
        job.status = status
        job.error = None if error is None else str(error)
        job.error_data = error if isinstance(error, JobFailure) else None
        job.lease_expires_at = None
        job.updated_at = time.time()
        self._announce(job.id)

    async def complete(self, job_id: str, delivery: int, output: dict[str, Any]) -> None:
        job = self._fenced(job_id, delivery)
        job.output = self._copy(output)
        job.progress = 1.0
        self._finish(job, JobStatus.COMPLETED)

    async def complete_many(self, items: list[tuple[str, int, dict[str, Any]]]) -> set[str]:
        stale = set()
        for job_id, delivery, output in items:
            try:
                await self.complete(job_id, delivery, output)
            except StaleJobError:
                stale.add(job_id)
        return stale

    async def complete_and_claim(self, items: list[tuple[str, int, dict[str, Any]]],
                                 queue: str, worker_id: str, lease: float,
                                 limit: int) -> tuple[set[str], list[Job]]:
        # Neither step suspends, so the two are atomic for the event loop.
        stale = await self.complete_many(items)
        return stale, await self.claim(queue, worker_id, lease, limit) if limit > 0 else []

    async def fail(self, job_id: str, delivery: int, error: str | JobFailure) -> None:
        job = self._fenced(job_id, delivery)
        job.attempts += 1
        self._finish(job, JobStatus.FAILED, error)

    async def retry(self, job_id: str, delivery: int, error: str | JobFailure,
                    delay: float) -> None:
        job = self._fenced(job_id, delivery)
        if job.status is JobStatus.ABORTING:
            self._finish(job, JobStatus.ABORTED, error)
            return
        job.attempts += 1
        job.run_after = time.time() + delay
        job.worker_id = None
        self._finish(job, JobStatus.PENDING, error)
        self._wake(job.queue)

    async def release(self, job_id: str, delivery: int) -> None:
        job = self._fenced(job_id, delivery)
        if job.status is JobStatus.ABORTING:
            self._finish(job, JobStatus.ABORTED, "aborted while its worker shut down")
            return
        job.worker_id = None
        self._finish(job, JobStatus.PENDING, job.error_data or job.error)
        self._wake(job.queue)

    async def mark_aborted(self, job_id: str, delivery: int, reason: str) -> None:
        job = self._fenced(job_id, delivery)
        self._finish(job, JobStatus.ABORTED, reason)

    async def reap_expired(self, queue: str) -> int:
        now, changed = time.time(), 0
        for job in self._jobs.values():
            if job.queue != queue:
                continue
            if job.status in _WORKING and job.lease_expires_at is not None \
                    and job.lease_expires_at < now:
                if job.status is JobStatus.ABORTING:
                    self._finish(job, JobStatus.ABORTED, "aborted; its worker stopped answering")
                else:
                    job.attempts += 1
                    status, error = expired_outcome(job)
                    job.worker_id = None
                    job.run_after = now
                    self._finish(job, status, error)
                changed += 1
            elif job.status is JobStatus.PENDING and job.deadline is not None \
                    and job.deadline <= now:
                self._finish(job, JobStatus.FAILED, DEADLINE_PASSED)
                changed += 1
        if changed:
            self._wake(queue)
        return changed

    async def seconds_until_due(self, queue: str) -> float | None:
        due = [j.run_after for j in self._jobs.values()
               if j.queue == queue and j.status is JobStatus.PENDING]
        return min(due) - time.time() if due else None

    async def wait_for_work(self, queue: str, timeout: float) -> None:
        event = self._work.setdefault(queue, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    def _wake(self, queue: str) -> None:
        event = self._work.get(queue)
        if event is not None:
            event.set()

    # -- rate limits ---------------------------------------------------------------

    async def rate_acquire(self, limiter: str, max_requests: int,
                           window: float) -> tuple[float, float]:
        now = time.time()
        blocked_until = self._rate_blocks.get(limiter, 0.0)
        if blocked_until > now:
            return blocked_until - now, now
        events = self._rate_events.setdefault(limiter, deque())
        while events and events[0] <= now - window:
            events.popleft()
        if len(events) < max_requests:
            events.append(now)
            return 0.0, now
        return max(events[0] + window - now, 1e-3), now

    async def rate_block(self, limiter: str, seconds: float) -> None:
        until = time.time() + seconds
        self._rate_blocks[limiter] = max(self._rate_blocks.get(limiter, 0.0), until)

    async def rate_clear(self, limiter: str) -> None:
        self._rate_events.pop(limiter, None)
        self._rate_blocks.pop(limiter, None)


DEADLINE_PASSED = "deadline passed before a worker could finish the job"
LEASE_EXPIRED = "lease expired: the worker stopped answering (crashed or was killed)"
DELIVERY_CAP = "delivery cap reached: every worker that took this job stopped answering"


def expired_outcome(job: Job) -> tuple[JobStatus, str]:
    """Where a job goes when its lease expires; ``job.attempts`` already counts this one."""
    if job.deliveries >= job.max_deliveries:
        return JobStatus.FAILED, f"{DELIVERY_CAP} ({job.deliveries} deliveries)"
    if job.attempts >= job.max_attempts:
        return JobStatus.FAILED, f"{LEASE_EXPIRED}; no attempts left"
    if job.deadline is not None and job.deadline <= time.time():
        return JobStatus.FAILED, DEADLINE_PASSED
    return JobStatus.PENDING, LEASE_EXPIRED

